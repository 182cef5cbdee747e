"""repwatch.orchestration: which targets a DAG run crawls (backfills re-derive days the raw
archive already holds), and the logical dates of the daily runs a weekly or monthly report
waits for."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from repwatch.config import Config, Recipient
from repwatch.orchestration import (
    MENTION_SOURCES,
    CrawlJob,
    archive_coverage,
    configured_sources,
    configured_targets,
    crawl_job,
    daily_run_dates,
    data_engineers,
    first_utc_day,
    mention_sources,
    plan_crawls,
)
from repwatch.periods import parse_period

DAY = date(2026, 11, 19)


def _land(config: Config, source: str, target_id: str, *, since, finished: str, stop: str) -> Path:
    """Crawl statistics as a crawl writes them beside its records file."""
    folder = config.paths.raw_dir / source / f"crawl_date={finished[:10]}"
    folder.mkdir(parents=True, exist_ok=True)
    stats = folder / f"{finished.replace(':', '')}-{len(list(folder.iterdir()))}.x.stats.json"
    stats.write_text(
        json.dumps(
            {
                "source": source,
                "target_id": target_id,
                "since": since.isoformat() if since else None,
                "finished_at": finished,
                "stopped_because": stop,
            }
        ),
        encoding="utf-8",
    )
    return stats


def _first_target(config: Config, source: str) -> str:
    return configured_targets(config, source)[0]


def test_a_clean_crawl_after_the_day_reaching_back_to_it_covers_the_day(config):
    target = _first_target(config, "jd")
    _land(config, "jd", target, since=DAY, finished="2026-11-21T01:00:00Z", stop="older than since")
    assert ("jd", target) in archive_coverage(config, DAY)
    assert ("jd", target) in archive_coverage(config, DAY + timedelta(days=1))
    # Not the day it had not reached back to, nor the day it finished on (not over yet).
    assert ("jd", target) not in archive_coverage(config, DAY - timedelta(days=1))
    assert ("jd", target) not in archive_coverage(config, DAY + timedelta(days=2))


@pytest.mark.parametrize("stop", ["error", "max pages"])
def test_a_crawl_that_stopped_early_covers_nothing(config, stop):
    target = _first_target(config, "jd")
    _land(config, "jd", target, since=DAY, finished="2026-11-21T01:00:00Z", stop=stop)
    assert archive_coverage(config, DAY) == set()


def test_a_drop_read_after_the_day_covers_it_whatever_its_dates(config):
    target = _first_target(config, "files")
    _land(config, "files", target, since=None, finished="2026-11-20T00:00:00Z", stop="last page")
    assert ("files", target) in archive_coverage(config, DAY)
    assert ("files", target) not in archive_coverage(config, DAY + timedelta(days=1))


def test_days_east_of_utc_begin_on_the_utc_day_before(config):
    shanghai = config.model_copy(update={"timezone": "Asia/Shanghai"})
    assert first_utc_day(DAY, "Asia/Shanghai") == DAY - timedelta(days=1)
    assert first_utc_day(DAY, "America/New_York") == DAY
    target = _first_target(config, "jd")
    _land(config, "jd", target, since=DAY, finished="2026-11-21T01:00:00Z", stop="last page")
    # A crawl back to the UTC day misses the first eight hours of the Shanghai day.
    assert archive_coverage(shanghai, DAY) == set()
    assert ("jd", target) in archive_coverage(shanghai, DAY + timedelta(days=1))


def test_a_backfill_run_crawls_only_what_the_archive_lacks_from_the_days_start(config):
    covered = _first_target(config, "jd")
    _land(config, "jd", covered, since=DAY, finished="2026-11-21T01:00:00Z", stop="last page")
    plan = plan_crawls(config, DAY, backfill=True)

    assert list(plan) == configured_sources(config)
    planned = {(job.source, job.target_id) for jobs in plan.values() for job in jobs}
    every = {(source.source, target.target_id) for _, source, target in config.targets()}
    assert planned == every - {("jd", covered)}
    assert {job.since for jobs in plan.values() for job in jobs} == {DAY}


def test_a_scheduled_run_crawls_every_target_back_over_the_lookback_window(config):
    target = _first_target(config, "jd")
    _land(config, "jd", target, since=DAY, finished="2026-11-21T01:00:00Z", stop="last page")
    plan = plan_crawls(config, DAY, sources=["jd", "reddit"])

    assert list(plan) == ["jd", "reddit"]
    assert [job.target_id for job in plan["jd"]] == configured_targets(config, "jd")
    assert [job.target_id for job in plan["reddit"]] == configured_targets(config, "reddit")
    since = DAY - timedelta(days=config.crawl.lookback_days)
    assert {job.since for jobs in plan.values() for job in jobs} == {since}


def test_a_crawl_job_travels_as_a_plain_dict_and_names_a_configured_target(config):
    job = plan_crawls(config, DAY, backfill=True)["appstore"][0]
    assert CrawlJob.from_dict(json.loads(json.dumps(job.as_dict()))) == job
    stranger = CrawlJob(job.brand, job.source, "app_id=0&country=zz", job.since)
    with pytest.raises(LookupError, match="app_id=0"):
        crawl_job(config, stranger, run_id="test")


def test_the_daily_runs_of_a_week_and_of_a_month(config):
    week = parse_period("weekly", "2026-W47")
    dates = daily_run_dates(week, "UTC")
    assert [moment.date() for moment in dates] == [
        date(2026, 11, 16) + timedelta(days=n) for n in range(7)
    ]
    assert all(moment.timetz().replace(tzinfo=None).isoformat() == "00:00:00" for moment in dates)
    # Midnight in the report time zone: 16:00 UTC the day before in Shanghai.
    shanghai = daily_run_dates(week, "Asia/Shanghai")
    assert shanghai[0].astimezone(UTC) == datetime(2026, 11, 15, 16, tzinfo=UTC)
    assert shanghai[0].tzinfo == ZoneInfo("Asia/Shanghai")
    assert len(daily_run_dates(parse_period("monthly", "2026-02"), "UTC")) == 28


def test_mention_sources_and_data_engineers_come_from_the_config(config):
    from repwatch import suites

    assert MENTION_SOURCES == suites.MENTION_SOURCES
    assert mention_sources(config) == [
        s for s in configured_sources(config) if s in MENTION_SOURCES
    ]
    assert [r.email for r in data_engineers(config)] == [r.email for r in config.quality.notify]
    engineer = Recipient(email="oncall@acme.example", department="data_engineering")
    fallback = config.model_copy(
        update={
            "quality": config.quality.model_copy(update={"notify": []}),
            "reports": config.reports.model_copy(
                update={
                    "daily": config.reports.daily.model_copy(
                        update={"recipients": [*config.reports.daily.recipients, engineer]}
                    )
                }
            ),
        }
    )
    assert data_engineers(fallback) == [engineer]


def test_alerts_check_can_first_refresh_the_mention_sources_alone(demo_env):
    """`repwatch alerts check --crawl-mentions`: the hourly DAG's work without Airflow."""
    import duckdb
    from click.testing import CliRunner

    from repwatch.cli import main

    result = CliRunner().invoke(
        main,
        [
            "--config",
            str(demo_env.config_path),
            "alerts",
            "check",
            "--crawl-mentions",
            "--no-send",
            "--date",
            demo_env.day.isoformat(),
        ],
    )
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(demo_env.config.paths.warehouse), read_only=True) as con:
        loaded = dict(con.execute("select source, count(*) from int_reviews group by 1").fetchall())
        marts = con.execute(
            "select count(*) from mart_brand_kpis where period_start = ?", [demo_env.day]
        ).fetchone()[0]
    assert set(loaded) == set(mention_sources(demo_env.config)) and all(loaded.values())
    assert marts > 0, "the day's marts were recomputed"
    assert "alerts fired" in result.output
    assert demo_env.sink.received == []
