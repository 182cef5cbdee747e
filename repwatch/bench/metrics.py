"""Metric marts at scale (issue 5): recomputing years of a large warehouse, and a daily run.

A warehouse of 1,000,000 items (reviews, mentions, complaints, survey answers) over three years
is generated once with `repwatch.demo_data` for the demo config's brands and sources (not
timed). Then, each in a fresh process that reports its own time and peak memory:
- the full recompute: one `transform_period` over the whole range, every period model;
- its peer, the same runner looped day by day: a week of days is timed and scaled up to the
  whole range (a full loop would take the better part of an hour); every day of the loop
  recomputes the week and month around it, as a daily run does;
- the daily incremental run (yesterday of the generated range) on this history and on a
  history a tenth its size, to show how the daily cost grows with history.
The marts are computed once before timing, so every timed run replaces existing rows as a
backfill does.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from repwatch.bench import Context, Row

ITEMS = 1_000_000
SMALL_ITEMS = 100_000
DAYS = 3 * 365
LAST_DAY = date(2026, 11, 20)
SEED = 0
LOOP_SAMPLE_DAYS = 7

FULL_RECOMPUTE_TARGET_SECONDS = 60
PEAK_MEMORY_TARGET_MB = 2048
DAILY_RUN_TARGET_SECONDS = 5
DAILY_RUN_GROWTH_TARGET = 1.5


def _generated_config(work_dir: Path, items: int) -> Path:
    """A config file whose warehouse holds `items` generated items; generated once per run."""
    from repwatch.config import PROJECT_DIR, Paths, load_config
    from repwatch.demo_data import generate, save_config

    folder = work_dir / f"metrics-{items}"
    config = load_config(PROJECT_DIR / "demo" / "repwatch.yaml")
    config = config.model_copy(update={"paths": Paths(data_dir=folder / "data")})
    generate(config, items=items, days=DAYS, last_day=LAST_DAY, seed=SEED, replace=True)
    path = folder / "repwatch.yaml"
    save_config(config, path)
    return path


def worker(mode: str, config_path: str, start: str, end: str) -> dict[str, float]:
    """Runs in the measured process: `range` recomputes start..end in one call, `days` calls
    the runner once per day of start..end. Returns seconds and peak resident memory."""
    from repwatch.config import load_config
    from repwatch.warehouse import transform_period

    config = load_config(config_path)
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    started = time.perf_counter()
    if mode == "range":
        transform_period(config, first, last)
    elif mode == "days":
        day = first
        while day <= last:
            transform_period(config, day, day)
            day += timedelta(days=1)
    else:
        raise ValueError(f"unknown mode {mode!r}")
    seconds = time.perf_counter() - started
    # Imported after the work: it brings scikit-learn, whose memory is not the runner's.
    from repwatch.bench.sentiment import peak_resident_mb

    return {"seconds": seconds, "peak_mb": peak_resident_mb()}


def _measure(mode: str, config_path: Path, start: date, end: date) -> dict[str, float]:
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "repwatch.bench.metrics",
            mode,
            str(config_path),
            start.isoformat(),
            end.isoformat(),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.splitlines()[-1])


def _median(mode: str, config_path: Path, start: date, end: date, runs: int) -> dict[str, float]:
    results = [_measure(mode, config_path, start, end) for _ in range(runs)]
    return {key: statistics.median(result[key] for result in results) for key in results[0]}


def benchmarks(context: Context) -> list[Row]:
    first_day = LAST_DAY - timedelta(days=DAYS - 1)
    large = _generated_config(context.work_dir, ITEMS)
    small = _generated_config(context.work_dir, SMALL_ITEMS)
    for config_path in (large, small):
        _measure("range", config_path, first_day, LAST_DAY)  # the marts exist before timing

    full = _median("range", large, first_day, LAST_DAY, context.runs)
    # A week in the middle of the range, scaled to all its days.
    sample_start = first_day + timedelta(days=DAYS // 2)
    sample_end = sample_start + timedelta(days=LOOP_SAMPLE_DAYS - 1)
    loop = _median("days", large, sample_start, sample_end, context.runs)
    daily = _median("range", large, LAST_DAY, LAST_DAY, context.runs)
    daily_small = _median("range", small, LAST_DAY, LAST_DAY, context.runs)

    scale = f"{ITEMS / 1e6:g}M items over {DAYS:,} days"
    loop_peer = f"day-by-day loop ({LOOP_SAMPLE_DAYS} days timed, x {DAYS:,}/{LOOP_SAMPLE_DAYS})"
    return [
        Row(
            f"full recompute of the marts, {scale}",
            full["seconds"],
            "s",
            FULL_RECOMPUTE_TARGET_SECONDS,
            "<=",
            loop_peer,
            loop["seconds"] * DAYS / LOOP_SAMPLE_DAYS,
        ),
        Row(
            f"full recompute peak memory, {scale}",
            full["peak_mb"],
            "MB",
            PEAK_MEMORY_TARGET_MB,
            "<=",
            f"day-by-day loop, {LOOP_SAMPLE_DAYS} days",
            loop["peak_mb"],
        ),
        Row(
            f"daily incremental run, {ITEMS / 1e6:g}M-item history",
            daily["seconds"],
            "s",
            DAILY_RUN_TARGET_SECONDS,
            "<=",
            f"same run, {SMALL_ITEMS / 1e3:g}k-item history",
            daily_small["seconds"],
        ),
        Row(
            f"daily run time, {ITEMS / 1e6:g}M vs {SMALL_ITEMS / 1e3:g}k-item history",
            daily["seconds"] / daily_small["seconds"],
            "x",
            DAILY_RUN_GROWTH_TARGET,
            "<=",
            "-",
            None,
        ),
    ]


if __name__ == "__main__":
    print(json.dumps(worker(*sys.argv[1:5])))
