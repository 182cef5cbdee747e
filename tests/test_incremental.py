"""Incremental crawling: watermarks from complete crawls, the overlap, backfills that page
deeper, and a target whose crawl process fails being recorded while the others go on."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest
import yaml

from repwatch.config import load_config
from repwatch.pipeline import backfill, crawl_targets, run_day


def _runs(config):
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        return con.execute(
            "select source, target_id, since, requests, items, stopped_because, complete, "
            "newest_published_at from crawl_runs order by started_at, target_id"
        ).fetchall()


def test_second_run_starts_from_the_watermark_less_the_overlap(demo_env):
    config, day = demo_env.config, demo_env.day
    run_day(config, day, send=False)
    first = {row[1]: row for row in _runs(config) if row[0] == "appstore"}
    assert all(row[6] for row in first.values()), "first crawls completed"
    assert all(row[2] == day - timedelta(days=config.crawl.lookback_days) for row in first.values())

    run_day(config, day, send=False)
    second = [row for row in _runs(config) if row[0] == "appstore"][len(first) :]
    overlap = timedelta(hours=config.crawl.overlap_hours)
    for _, target_id, since, requests, *_ in second:
        newest = first[target_id][7]
        assert since == (newest - overlap).date()
        assert requests < first[target_id][3], f"{target_id} paged less deeply"


def test_backfill_ignores_watermarks_and_pages_back_to_its_start(demo_env):
    config, day = demo_env.config, demo_env.day
    run_day(config, day, send=False)
    start = day - timedelta(days=30)
    backfill(config, start, start + timedelta(days=1))
    appstore_targets = [t for _, s, t in config.targets() if s.source == "appstore"]
    latest = [row for row in _runs(config) if row[0] == "appstore"][-len(appstore_targets) :]
    assert {row[2] for row in latest} == {start}


@pytest.mark.reliability(
    row="A crawl process that fails (a target the site cannot serve)",
    expected="Recorded as a crawl stopped by an error, with nothing loaded for it; the other "
    "targets are crawled and loaded",
)
def test_a_failing_target_is_recorded_and_the_others_are_crawled(demo_env, tmp_path):
    settings = yaml.safe_load(demo_env.config_path.read_text(encoding="utf-8"))
    settings["brands"][1]["sources"][0]["targets"].append(
        {"app_id": "not-a-number", "country": "us"}
    )
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    config = load_config(path)

    result = run_day(config, demo_env.day, send=False)

    assert len(result.landed_files) == len(config.targets())
    runs = {row[1]: row for row in _runs(config)}
    broken = runs["app_id=not-a-number&country=us"]
    assert (broken[5], broken[6], broken[4]) == ("error", False, 0)
    assert all(row[4] > 0 for target, row in runs.items() if target != broken[1])


@pytest.mark.reliability(
    row="A crawl interrupted before it reached the start of its window (page limit)",
    expected="Not counted as complete, so its watermark does not advance and the next crawl "
    "reaches back to the window again",
)
def test_an_interrupted_crawl_does_not_advance_the_watermark(demo_env):
    config = demo_env.config.model_copy(
        update={"crawl": demo_env.config.crawl.model_copy(update={"max_pages": 1})}
    )
    run_day(config, demo_env.day, send=False)
    runs = [row for row in _runs(config) if row[0] == "appstore"]
    assert {row[5] for row in runs} == {"max pages"}
    assert not any(row[6] for row in runs)
    # Nothing complete, so the next crawl still reaches back to the lookback window.
    landed = crawl_targets(config, since=demo_env.day - timedelta(days=3))
    assert len(landed) == len(config.targets())


@pytest.mark.reliability(
    row="A run that died after crawling, before its load",
    expected="The next run loads the files it landed too: nothing read once (a drop) is lost",
)
def test_files_landed_by_a_run_that_crashed_before_loading_are_loaded_next_time(demo_env):
    from repwatch.pipeline import pending_landings

    config, day = demo_env.config, demo_env.day
    # A run that crawled and then died: its files are landed, nothing is loaded.
    landed = crawl_targets(config, since=day - timedelta(days=3))
    assert sorted(pending_landings(config)) == sorted(landed)

    run_day(config, day, send=False)

    assert pending_landings(config) == []
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        loaded = {name for (name,) in con.execute("select file from load_log").fetchall()}
    assert {str(path) for path in landed} <= loaded
