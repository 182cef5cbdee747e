"""`make bench`: every performance figure the issues ask for, next to its target and a peer
measured in the same run, printed as one table and written to data/bench/results.json.

Benchmarks are not tests: a missed target is reported, never failed. Times are medians of
several runs; each benchmark module exposes `benchmarks(context) -> list[Row]`.
"""

from __future__ import annotations

import importlib
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

# Modules under repwatch.bench that contribute rows, in table order.
MODULES = ("crawling", "sentiment", "metrics", "alerts", "quality", "reports")


@dataclass
class Row:
    figure: str
    value: float
    unit: str
    target: float
    comparator: str  # ">=" or "<="
    peer: str
    peer_value: float | None
    ok: bool = False

    def __post_init__(self) -> None:
        if self.comparator not in (">=", "<="):
            raise ValueError(f"comparator must be >= or <=, not {self.comparator!r}")
        # Plain numbers (not numpy scalars), so the row serialises as JSON.
        self.value, self.target = float(self.value), float(self.target)
        self.peer_value = None if self.peer_value is None else float(self.peer_value)
        self.ok = (
            self.value >= self.target if self.comparator == ">=" else self.value <= self.target
        )


@dataclass(frozen=True)
class Context:
    runs: int  # repetitions behind each median
    work_dir: Path


def median_seconds(action: Callable[[], object], runs: int) -> float:
    """Median wall-clock seconds of `runs` calls."""
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def median_value(measure: Callable[[], float], runs: int) -> float:
    return statistics.median(measure() for _ in range(runs))


def run(context: Context, only: tuple[str, ...] = ()) -> list[Row]:
    rows: list[Row] = []
    for name in MODULES:
        if only and name not in only:
            continue
        module = importlib.import_module(f"repwatch.bench.{name}")
        rows += module.benchmarks(context)
    return rows


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def format_table(rows: list[Row]) -> str:
    header = ("figure", "value", "unit", "target", "peer", "peer value", "ok")
    lines = [
        (
            row.figure,
            _number(row.value),
            row.unit,
            f"{row.comparator} {_number(row.target)}",
            row.peer,
            _number(row.peer_value),
            "yes" if row.ok else "NO",
        )
        for row in rows
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in (header, *lines)
    )


def write_results(rows: list[Row], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(row) for row in rows], indent=2) + "\n", encoding="utf-8")
