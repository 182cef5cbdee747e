"""Validating raw reviews (issue 6): 1,000,000 landed records through the raw quality gate
(`check_raw_batch`: parse, type, per-source GX suites, quarantine split), target <= 20 s.
The peer is the per-row validation a data engineer would write first — json.loads and a
pydantic model per line — over the same file in the same run.

The batch mixes four sources (App Store, JD, Reddit, Hacker News) as a daily crawl does, with
about 1 % of rows broken in the ways crawlers break (missing rating, bad date, duplicate id).
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from repwatch.bench import Context, Row

ROWS = 1_000_000
TARGET_SECONDS = 20.0
# A ceiling, not a goal: the gate holds the batch's lines and a few frames of it in memory.
TARGET_PEAK_RSS_MB = 4096.0
NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
_SOURCES = (
    ("appstore", "app_id=1&country=us", "review"),
    ("jd", "product_id=100012043978", "review"),
    ("reddit", "query=Acme Shop", "mention"),
    ("hackernews", "query=Acme Shop", "mention"),
)
_WORDS = [
    "fast",
    "delivery",
    "good",
    "app",
    "crashes",
    "on",
    "login",
    "refund",
    "slow",
    "support",
    "great",
    "price",
    "很好",
    "物流",
    "慢",
]


def write_batch(path: Path, rows: int, *, seed: int = 6) -> Path:
    """`rows` JSON lines of raw records, about 1 % of them broken."""
    rng = random.Random(seed)
    start = NOW - timedelta(days=30)
    crawled = "2026-11-21T06:00:00Z"
    with path.open("w", encoding="utf-8") as out:
        for number in range(rows):
            source, target_id, kind = _SOURCES[number % len(_SOURCES)]
            published = start + timedelta(seconds=rng.randrange(30 * 86400))
            rating = rng.randint(1, 5) if kind == "review" else None
            review_id = str(number)
            published_at = published.strftime("%Y-%m-%dT%H:%M:%SZ")
            fault = rng.random()
            if fault < 0.004 and kind == "review":
                rating = None
            elif fault < 0.007:
                published_at = "yesterday"
            elif fault < 0.01:
                review_id = str(number - 4)  # same source, an id seen before
            text = " ".join(rng.choices(_WORDS, k=12))
            record = {
                "source": source,
                "target_id": target_id,
                "review_id": review_id,
                "kind": kind,
                "author": f"user{number % 5000}",
                "rating": rating,
                "title": None,
                "text": text,
                "language": "en",
                "published_at": published_at,
                "date_precision": "exact",
                "reply_text": None,
                "reply_at": None,
                "url": f"https://example.com/{source}/{number}",
                "likes": number % 7,
                "extra": None,
                "crawled_at": crawled,
                "raw": {"id": review_id, "body": text},
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


class _PeerRecord(BaseModel):
    source: str = Field(min_length=1)
    target_id: str = Field(min_length=1)
    review_id: str = Field(min_length=1)
    kind: Literal["review", "mention"]
    rating: int | None = Field(default=None, ge=1, le=5)
    text: str | None = None
    title: str | None = None
    language: Literal["zh", "en", "other"]
    published_at: datetime | None = None
    date_precision: Literal["exact", "day", "unknown"]
    likes: int = Field(default=0, ge=0)


def peer_validate(path: Path) -> tuple[int, int]:
    """(valid, rejected): json.loads and a pydantic model per line, ids checked with a set."""
    seen: set[tuple[str, str, str]] = set()
    valid = rejected = 0
    latest = NOW + timedelta(minutes=5)
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                record = _PeerRecord.model_validate(json.loads(line))
            except (ValueError, ValidationError):
                rejected += 1
                continue
            key = (record.source, record.target_id, record.review_id)
            bad_date = record.published_at is not None and record.published_at > latest
            if key in seen or bad_date or not (record.text or record.title):
                rejected += 1
                continue
            seen.add(key)
            valid += 1
    return valid, rejected


def _timed(action: Callable[[], object]) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds of this process) of one call. CPU time says less about
    other work sharing the two cores."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def _median_timings(action: Callable[[], object], runs: int) -> tuple[float, float]:
    timings = [_timed(action) for _ in range(runs)]
    return (
        statistics.median(wall for wall, _ in timings),
        statistics.median(cpu for _, cpu in timings),
    )


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def benchmarks(context: Context) -> list[Row]:
    from repwatch.quality import check_raw_batch
    from repwatch.suites import _import_gx

    path = write_batch(context.work_dir / "raw-1m.jsonl", ROWS)
    _import_gx()  # once per process, as in a pipeline run: not part of validating a batch

    # One run each beyond the first: a run takes tens of seconds on two cores.
    runs = max(1, min(context.runs, 3))
    ours_wall, ours_cpu = _median_timings(lambda: check_raw_batch([path], now=NOW), runs)
    # The peer runs after ours, so this peak is that of the quality gate.
    ours_rss = _peak_rss_mb()
    peer_wall, peer_cpu = _median_timings(lambda: peer_validate(path), runs)
    figure = f"validate {ROWS:,} raw reviews (parse, type, per-source GX suites, quarantine)"
    peer = "json.loads + pydantic per row"
    return [
        Row(
            figure=figure,
            value=ours_wall,
            unit="s",
            target=TARGET_SECONDS,
            comparator="<=",
            peer=peer,
            peer_value=peer_wall,
        ),
        Row(
            figure=f"{figure}, process CPU time",
            value=ours_cpu,
            unit="s",
            target=TARGET_SECONDS,
            comparator="<=",
            peer=peer,
            peer_value=peer_cpu,
        ),
        Row(
            figure=f"peak resident memory validating {ROWS:,} raw reviews",
            value=ours_rss,
            unit="MB",
            target=TARGET_PEAK_RSS_MB,
            comparator="<=",
            peer="-",
            peer_value=None,
        ),
    ]
