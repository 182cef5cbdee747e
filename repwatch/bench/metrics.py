"""Metric marts at scale (issue 5): a full recompute of two years, the same core metrics in
pandas, and a daily run whose cost does not grow with the history behind it.

Warehouses are generated with `repwatch.demo_data` for the demo config's brands and sources
(not timed; once per bench run, under its work folder), all ending on the same day:
- 1,000,000 items (reviews, mentions, complaints, survey answers) over 730 days;
- the same daily volume (about 1,370 items a day) over ten years (5,000,000 items) and over one
  year (500,000 items): a long and a short history behind the same daily run.

Each figure comes from a fresh process that reports its own time and peak resident memory:
- `full`: `transform_period` over the 730 days, every period model;
- `core`: the same range, only the models behind the core metrics: mart_brand_kpis, which
  computes them per day, week and month among many other KPIs, and the facts it reads (a temp
  model, inlined into it as the runner does when a single model of a run reads it);
- `pandas`: the core metrics (daily counts, average rating, CSAT, NSS, response rate per brand
  and source) by a straightforward pandas implementation: the tables read whole via DuckDB into
  DataFrames, then merged, filtered, deduplicated and grouped. Before it is timed, its figures
  are checked against the mart's, so both sides compute the same thing;
- `daily`: what `repwatch run` recomputes for its day (`transform_for_day`: the crawl window of
  crawl.lookback_days, widened to whole weeks and months), for the last generated day; the
  median of three runs in a row, the long and the short history measured in turn.
The marts are computed once before timing (untimed; a year at a time for the long histories),
so every timed run replaces rows, as runs do.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from repwatch.bench import Context, Row
from repwatch.config import Config

LAST_DAY = date(2026, 11, 20)
SEED = 0
FULL_ITEMS, FULL_DAYS = 1_000_000, 730
LONG_HISTORY_ITEMS, LONG_HISTORY_DAYS = 5_000_000, 3650
SHORT_HISTORY_ITEMS, SHORT_HISTORY_DAYS = 500_000, 365

FULL_RECOMPUTE_TARGET_SECONDS = 15
SPEED_UP_TARGET = 5
DAILY_RUN_TARGET_SECONDS = 5
DAILY_RUN_GROWTH_TARGET = 1.5
PEAK_MEMORY_TARGET_MB = 2048
# Untimed: long histories get their marts a year at a time.
HISTORY_STEP_DAYS = 365
# A daily run takes a couple of seconds, which a shared machine's load easily skews: each
# measurement is the median of this many runs, one after the other as days would run them.
DAILY_REPEATS = 3

# The mart of the core metrics; the runner adds the facts it reads.
CORE_MODELS = ("mart_brand_kpis",)
CORE_COLUMNS = ("reviews", "mentions", "avg_rating", "csat", "nss", "response_rate")
PEER = "straightforward pandas (tables read via DuckDB, groupby)"


def pandas_core_metrics(config: Config) -> pd.DataFrame:
    """Per day, brand and source: counts of reviews and mentions, average rating, CSAT, NSS
    and response rate, as mart_brand_kpis defines them (docs/metrics.md), in plain pandas."""
    from repwatch.enrich import ENRICHED_TABLE
    from repwatch.warehouse import connect

    with connect(config, read_only=True) as con:
        con.execute("set enable_progress_bar = false")
        reviews = con.execute(
            "select brand, source, target_id, review_id, record_type, published_day, rating, "
            "sentiment, reply_at, crawled_at from int_reviews"
        ).df()
        enriched = con.execute(
            f"select source, target_id, review_id, sentiment, flags from {ENRICHED_TABLE}"
        ).df()

    items = reviews[
        reviews["brand"].notna()
        & reviews["published_day"].notna()
        & reviews["record_type"].isin(["review", "mention"])
    ]
    # An item two targets of one brand found counts once for the brand: the newest crawl wins.
    items = items.sort_values(["crawled_at", "target_id"], ascending=[False, True])
    items = items.drop_duplicates(["brand", "source", "review_id"])
    items = items.merge(
        enriched,
        on=["source", "target_id", "review_id"],
        how="left",
        suffixes=("_of_stars", "_of_text"),
    )
    sentiment = items["sentiment_of_text"].fillna(items["sentiment_of_stars"])
    # A flag counts by its kind, the part before a colon ("ad_or_contact:url").
    flag_kinds = items["flags"].explode().dropna().str.split(":").str[0]
    excluded_kind = flag_kinds.isin(config.metrics.excluded_flags)
    excluded = excluded_kind.groupby(level=0).any().reindex(items.index, fill_value=False)

    review = (items["record_type"] == "review") & ~excluded
    rated = review & items["rating"].notna()
    counts = pd.DataFrame(
        {
            "day": items["published_day"],
            "brand": items["brand"],
            "source": items["source"],
            "reviews": review,
            "mentions": (items["record_type"] == "mention") & ~excluded,
            "rated": rated,
            "rating_sum": items["rating"].where(rated, 0),
            "satisfied": rated & (items["rating"] >= 4),
            "positive": review & (sentiment == "positive"),
            "neutral": review & (sentiment == "neutral"),
            "negative": review & (sentiment == "negative"),
            "replied": review & items["reply_at"].notna(),
        }
    )
    sums = counts.groupby(["day", "brand", "source"]).sum()
    # rates have no value without anything to count (null in the mart)
    rated_reviews = sums["rated"].where(sums["rated"] > 0)
    with_sentiment = sums["positive"] + sums["neutral"] + sums["negative"]
    with_sentiment = with_sentiment.where(with_sentiment > 0)
    metrics = pd.DataFrame(
        {
            "reviews": sums["reviews"],
            "mentions": sums["mentions"],
            "avg_rating": sums["rating_sum"] / rated_reviews,
            "csat": 100 * sums["satisfied"] / rated_reviews,
            "nss": 100 * (sums["positive"] - sums["negative"]) / with_sentiment,
            "response_rate": sums["replied"] / sums["reviews"].where(sums["reviews"] > 0),
        }
    )
    return metrics.reset_index()


def mart_core_metrics(config: Config) -> pd.DataFrame:
    """The same figures as stored in mart_brand_kpis (day rows per source)."""
    from repwatch.warehouse import connect

    with connect(config, read_only=True) as con:
        con.execute("set enable_progress_bar = false")
        return con.execute(
            f"""
            select period_start as day, brand, source, {", ".join(CORE_COLUMNS)}
            from mart_brand_kpis
            where grain = 'day' and source <> 'all'
            """
        ).df()


def core_metrics_differences(config: Config) -> list[str]:
    """Where the pandas figures and the mart's differ (empty when they agree)."""
    keys = ["day", "brand", "source"]
    ours, theirs = mart_core_metrics(config), pandas_core_metrics(config)
    joined = ours.merge(theirs, on=keys, how="outer", suffixes=("_mart", "_pandas"))
    problems = []
    for column in CORE_COLUMNS:
        mart = joined[f"{column}_mart"].astype(float)
        peer = joined[f"{column}_pandas"].astype(float)
        same = ((mart - peer).abs() <= 1e-9 * (1 + mart.abs())) | (mart.isna() & peer.isna())
        for _, row in joined[~same].head(3).iterrows():
            problems.append(
                f"{column} on {row['day']} {row['brand']}/{row['source']}: "
                f"mart {row[f'{column}_mart']}, pandas {row[f'{column}_pandas']}"
            )
    return problems


def _generated_config(work_dir: Path, items: int, days: int) -> Path:
    """A config whose warehouse holds `items` generated items over `days` days."""
    from repwatch.config import PROJECT_DIR, Paths, load_config
    from repwatch.demo_data import generate, save_config

    folder = work_dir / f"metrics-{items}-{days}"
    config = load_config(PROJECT_DIR / "demo" / "repwatch.yaml")
    config = config.model_copy(update={"paths": Paths(data_dir=folder / "data")})
    generate(config, items=items, days=days, last_day=LAST_DAY, seed=SEED, replace=True)
    path = folder / "repwatch.yaml"
    save_config(config, path)
    return path


def worker(mode: str, config_path: str, days: str) -> dict[str, float]:
    """Runs in the measured process; returns its seconds and peak resident memory."""
    from repwatch.config import load_config
    from repwatch.pipeline import transform_for_day
    from repwatch.warehouse import transform_period

    config = load_config(config_path)
    first_day = LAST_DAY - timedelta(days=int(days) - 1)
    actions = {
        "history": lambda: _compute_history(config, first_day),
        "full": lambda: transform_period(config, first_day, LAST_DAY),
        "core": lambda: transform_period(config, first_day, LAST_DAY, models=CORE_MODELS),
        "pandas": lambda: pandas_core_metrics(config),
        "daily": lambda: transform_for_day(config, LAST_DAY, []),
    }
    timings = []
    for _ in range(DAILY_REPEATS if mode == "daily" else 1):
        started = time.perf_counter()
        actions[mode]()
        timings.append(time.perf_counter() - started)
    seconds = statistics.median(timings)
    # Imported after the work: it brings scikit-learn, whose memory is not the work's.
    from repwatch.bench.sentiment import peak_resident_mb

    return {"seconds": seconds, "peak_mb": peak_resident_mb()}


def _compute_history(config: Config, first_day: date) -> None:
    """The marts of every day up to LAST_DAY, a year at a time (as a backfill might, to keep
    memory low), so that a daily run finds its history."""
    from repwatch.warehouse import transform_period

    start = first_day
    while start <= LAST_DAY:
        end = min(start + timedelta(days=HISTORY_STEP_DAYS - 1), LAST_DAY)
        transform_period(config, start, end)
        start = end + timedelta(days=1)


def _measure(mode: str, config_path: Path, days: int) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-m", "repwatch.bench.metrics", mode, str(config_path), str(days)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # the last JSON line: DuckDB may have drawn progress bars before it
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])


def _medians_in_turn(
    measurements: dict[str, tuple[str, Path, int]], runs: int
) -> dict[str, dict[str, float]]:
    """Each measurement `runs` times, all of them in turn (so that a change in the shared
    machine's load hits them alike, as their ratios compare them); the medians."""
    results: dict[str, list[dict[str, float]]] = {name: [] for name in measurements}
    for _ in range(runs):
        for name, (mode, config_path, days) in measurements.items():
            results[name].append(_measure(mode, config_path, days))
    return {
        name: {key: statistics.median(run[key] for run in found) for key in found[0]}
        for name, found in results.items()
    }


def benchmarks(context: Context) -> list[Row]:
    from repwatch.config import load_config

    full_config = _generated_config(context.work_dir, FULL_ITEMS, FULL_DAYS)
    _measure("full", full_config, FULL_DAYS)  # the marts exist before timing
    differences = core_metrics_differences(load_config(full_config))
    if differences:
        raise RuntimeError("the pandas peer computes other figures: " + "; ".join(differences))
    measured = _medians_in_turn(
        {
            "full": ("full", full_config, FULL_DAYS),
            "core": ("core", full_config, FULL_DAYS),
            "pandas": ("pandas", full_config, FULL_DAYS),
        },
        context.runs,
    )
    long_config = _generated_config(context.work_dir, LONG_HISTORY_ITEMS, LONG_HISTORY_DAYS)
    short_config = _generated_config(context.work_dir, SHORT_HISTORY_ITEMS, SHORT_HISTORY_DAYS)
    _measure("history", long_config, LONG_HISTORY_DAYS)
    _measure("history", short_config, SHORT_HISTORY_DAYS)
    measured |= _medians_in_turn(
        {
            "long": ("daily", long_config, LONG_HISTORY_DAYS),
            "short": ("daily", short_config, SHORT_HISTORY_DAYS),
        },
        context.runs,
    )
    full, core, peer = measured["full"], measured["core"], measured["pandas"]
    long, short = measured["long"], measured["short"]

    scale = f"{FULL_ITEMS / 1e6:g}M items over {FULL_DAYS} days"
    core_peer = f"{PEER}, core metrics"
    long_label = f"{LONG_HISTORY_ITEMS / 1e6:g}M items over {LONG_HISTORY_DAYS / 365:g} years"
    short_label = f"{SHORT_HISTORY_ITEMS / 1e3:g}k items over {SHORT_HISTORY_DAYS / 365:g} year"
    return [
        Row(
            f"full recompute of all marts, {scale}",
            full["seconds"],
            "s",
            FULL_RECOMPUTE_TARGET_SECONDS,
            "<=",
            core_peer,
            peer["seconds"],
        ),
        Row(
            f"full recompute peak memory, {scale}",
            full["peak_mb"],
            "MB",
            PEAK_MEMORY_TARGET_MB,
            "<=",
            core_peer,
            peer["peak_mb"],
        ),
        Row(
            "core metrics (daily counts, avg rating, CSAT, NSS, response rate per brand and "
            f"source), {scale}: time (target: 1/{SPEED_UP_TARGET} of the peer's)",
            core["seconds"],
            "s",
            peer["seconds"] / SPEED_UP_TARGET,
            "<=",
            PEER,
            peer["seconds"],
        ),
        Row(
            "core metrics: repwatch's speed-up over pandas",
            peer["seconds"] / core["seconds"],
            "x",
            SPEED_UP_TARGET,
            ">=",
            "-",
            None,
        ),
        Row(
            f"daily incremental run, {long_label} of history",
            long["seconds"],
            "s",
            DAILY_RUN_TARGET_SECONDS,
            "<=",
            f"same run, {short_label}",
            short["seconds"],
        ),
        Row(
            f"daily run time, {long_label} vs {short_label} of history",
            long["seconds"] / short["seconds"],
            "x",
            DAILY_RUN_GROWTH_TARGET,
            "<=",
            "-",
            None,
        ),
        Row(
            f"daily run peak memory, {long_label} of history",
            long["peak_mb"],
            "MB",
            PEAK_MEMORY_TARGET_MB,
            "<=",
            f"same run, {short_label}",
            short["peak_mb"],
        ),
    ]


if __name__ == "__main__":
    print(json.dumps(worker(*sys.argv[1:4])))
