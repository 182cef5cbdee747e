"""The daily job cut finer for a scheduler: one crawl per target, crawl plans that re-derive
backfilled days from the raw archive, and the logical dates that a period's daily runs carry.

The Airflow DAGs in dags/ call these between the steps of repwatch.pipeline; `repwatch run`
and `repwatch backfill` reach the same results through repwatch.pipeline alone. Nothing here
imports Airflow, and importing this module is cheap (the DAG files read the config with it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from repwatch.config import Config, Recipient, default_config_path, load_config
from repwatch.periods import Period

log = logging.getLogger(__name__)
Progress = Callable[[str], None]

# What a crawl ended with when it saw everything back to its `since` (as crawl_runs.complete).
_COMPLETE_STOPS = ("empty page", "last page", "older than since")
# Sources of mentions, where a story spreads first (repwatch.suites.MENTION_SOURCES, spelled
# out so that the DAG files can read it without numpy).
MENTION_SOURCES = ("reddit", "hackernews")


def _quiet(_: str) -> None:
    pass


def current_config() -> Config:
    """The config named by REPWATCH_CONFIG (else ./repwatch.yaml), as every task reads it."""
    return load_config(default_config_path())


@dataclass(frozen=True)
class CrawlJob:
    """One target to crawl, back to `since`; travels between tasks as a plain dict."""

    brand: str
    source: str
    target_id: str
    since: date

    def as_dict(self) -> dict[str, str]:
        return {**asdict(self), "since": self.since.isoformat()}

    @classmethod
    def from_dict(cls, values: dict[str, str]) -> CrawlJob:
        return cls(
            brand=values["brand"],
            source=values["source"],
            target_id=values["target_id"],
            since=date.fromisoformat(values["since"]),
        )

    @property
    def label(self) -> str:
        return f"{self.source} {self.target_id} ({self.brand}) since {self.since}"


def configured_sources(config: Config) -> list[str]:
    """Every source some brand crawls, in config order."""
    return list(dict.fromkeys(source.source for _, source, _ in config.targets()))


def configured_targets(config: Config, source: str) -> list[str]:
    """The target ids of one source, over every brand, in config order."""
    return list(
        dict.fromkeys(
            target.target_id
            for _, configured, target in config.targets()
            if configured.source == source
        )
    )


def mention_sources(config: Config) -> list[str]:
    """The configured sources of mentions, in config order."""
    return [source for source in configured_sources(config) if source in MENTION_SOURCES]


def first_utc_day(day: date, timezone: str) -> date:
    """The UTC date on which `day` (in the report time zone) begins: spiders compare `since`
    with UTC publication dates, so a day east of UTC starts on the UTC day before."""
    return datetime.combine(day, time(), ZoneInfo(timezone)).astimezone(UTC).date()


def archive_coverage(config: Config, day: date) -> set[tuple[str, str]]:
    """(source, target_id) pairs whose raw archive already holds everything published on `day`:
    a crawl that finished cleanly after the day was over and reached back to its start."""
    zone = ZoneInfo(config.timezone)
    day_over = datetime.combine(day + timedelta(days=1), time(), zone)
    reaches = first_utc_day(day, config.timezone)
    covered = set()
    for stats_file in sorted(config.paths.raw_dir.glob("*/crawl_date=*/*.stats.json")):
        try:
            stats = json.loads(stats_file.read_text(encoding="utf-8"))
            finished = datetime.fromisoformat(stats["finished_at"].replace("Z", "+00:00"))
            since = date.fromisoformat(stats["since"]) if stats.get("since") else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("unreadable crawl statistics %s: %s", stats_file, error)
            continue
        if (
            stats.get("stopped_because") in _COMPLETE_STOPS
            and finished >= day_over
            and (since is None or since <= reaches)
        ):
            covered.add((stats["source"], stats["target_id"]))
    return covered


def plan_crawls(
    config: Config,
    day: date,
    *,
    backfill: bool = False,
    sources: Iterable[str] | None = None,
) -> dict[str, list[CrawlJob]]:
    """What a run for `day` crawls, by source; every configured source (or each of `sources`)
    has a key, with an empty list when it has nothing to crawl.

    A scheduled run crawls every target from `crawl.lookback_days` before the day, or from
    its watermark less `crawl.overlap_hours` when that is later (as `repwatch run`). A backfill
    run re-derives the day from the raw archive where that holds the whole day (see
    archive_coverage) and crawls only the other targets, from the day's start and without
    the watermark, so the crawl pages back far enough.
    """
    from repwatch.warehouse import read_watermarks

    wanted = list(sources) if sources is not None else configured_sources(config)
    plan: dict[str, list[CrawlJob]] = {source: [] for source in wanted}
    day_start = first_utc_day(day, config.timezone)
    covered = archive_coverage(config, day) if backfill else set()
    watermarks = {} if backfill else read_watermarks(config)
    overlap = timedelta(hours=config.crawl.overlap_hours)
    for brand, source, target in config.targets():
        key = (source.source, target.target_id)
        if source.source not in plan or key in covered:
            continue
        since = day_start if backfill else day_start - timedelta(days=config.crawl.lookback_days)
        if key in watermarks:
            since = max(since, (watermarks[key] - overlap).date())
        plan[source.source].append(CrawlJob(brand.name, source.source, target.target_id, since))
    return plan


def crawl_job(config: Config, job: CrawlJob, *, run_id: str, progress: Progress = _quiet) -> Path:
    """Crawl one planned target in its own process into the raw landing; returns the landed
    records file. A failed crawl lands an empty file whose statistics say why (the run goes
    on, and the volume checks of the load flag the target)."""
    from repwatch.pipeline import _crawl_one

    for brand, source, target in config.targets():
        if (brand.name, source.source, target.target_id) == (job.brand, job.source, job.target_id):
            return _crawl_one(config, run_id, brand, source, target, job.since, progress=progress)
    raise LookupError(f"{job.label}: no such target in {config.config_file}")


def refresh_mentions(config: Config, day: date, *, progress: Progress = _quiet) -> int:
    """What the hourly alerts DAG does before evaluating, in one process: crawl the mention
    sources incrementally, load, enrich and recompute `day`'s marts. Returns the rows loaded."""
    from repwatch.landing import new_run_id
    from repwatch.pipeline import check_and_load, enrich_reviews, transform_for_day

    run_id = new_run_id()
    plan = plan_crawls(config, day, sources=mention_sources(config))
    landed = [
        crawl_job(config, job, run_id=run_id, progress=progress)
        for jobs in plan.values()
        for job in jobs
    ]
    loaded = check_and_load(config, landed)
    enrich_reviews(config, progress=progress)
    transform_for_day(config, day, loaded.days, progress=progress)
    return loaded.valid_rows


def data_engineers(config: Config) -> list[Recipient]:
    """Who hears of a failed task: the recipients of the data-quality e-mail (`quality.notify`,
    else the daily report's data_engineering recipients), as repwatch.quality does."""
    if config.quality.notify:
        return list(config.quality.notify)
    return [r for r in config.reports.daily.recipients if r.department == "data_engineering"]


def daily_run_dates(period: Period, timezone: str) -> list[datetime]:
    """The logical dates of the daily runs that report each day of `period`: midnight of the
    day in the report time zone, as the daily DAG's timetable gives them."""
    zone = ZoneInfo(timezone)
    return [
        datetime.combine(period.start + timedelta(days=offset), time(), zone)
        for offset in range(period.days)
    ]
