"""The "how complete is this report" figures per source and target, from a warehouse loaded
from landing files: pages, kept and quarantined items with reasons, exact-time share, the
newest item's age, the last clean crawl, a clear note for a failing source, and quality
warnings when the quality step stored some."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
from test_quarantine import (
    APPSTORE_TARGET,
    JD_FIXTURES,
    JD_TARGET,
    _jd_page,
    _land,
    _load,
    _record,
)

from repwatch.coverage import STATUS_FAILING, STATUS_OK, build_coverage
from repwatch.report import build_daily_context, render_daily
from repwatch.warehouse import connect, transform_period

DAY = date(2026, 11, 20)
JD_ERROR_PAGE = (JD_FIXTURES / "malformed.html").read_text(encoding="utf-8")


def _warehouse(config):
    raw_dir = config.paths.raw_dir
    appstore = _land(
        raw_dir,
        "appstore",
        APPSTORE_TARGET,
        {"app_id": "1000001", "country": "us"},
        "run1.appstore",
        [
            _record("a1", published_at="2026-11-20T09:00:00Z"),
            _record("a2", published_at="2026-11-20T21:30:00Z"),
            {**_record("a3", published_at="2026-11-20T00:00:00Z"), "date_precision": "day"},
            _record("a4", published_at="2026-11-19T08:00:00Z"),
            # After the report day: not the newest item of the report.
            _record("a5", published_at="2026-11-21T00:30:00Z"),
            _record("bad", rating=0),
        ],
        [],
    )
    jd = _land(
        raw_dir,
        "jd",
        JD_TARGET,
        {"product_id": "100012043978"},
        "run1.jd",
        [],
        [_jd_page(JD_ERROR_PAGE, "not JSON")] * 2,
    )
    _load(config, [appstore, jd], now=datetime(2026, 11, 21, 2, 0, tzinfo=UTC))


def _coverage(config):
    with connect(config, read_only=True) as con:
        return build_coverage(con, config, DAY, DAY)


def _source(coverage, name):
    return next(source for source in coverage["sources"] if source["source"] == name)


def test_coverage_per_source_and_target(config):
    _warehouse(config)
    coverage = _coverage(config)

    appstore = _source(coverage, "appstore")
    us = next(t for t in appstore["targets"] if t["target_id"] == APPSTORE_TARGET)
    assert us["status"] == STATUS_OK
    assert (us["pages_fetched"], us["items_kept"], us["items_quarantined"]) == (6, 5, 1)
    assert us["reasons"] == [{"reason": "rating not in 1–5", "rows": 1}]
    assert (us["period_items"], us["exact_dates"]) == (3, 2)
    assert us["newest_item_at"] == datetime(2026, 11, 20, 21, 30, tzinfo=UTC)
    assert us["newest_item_age"] == "2 h"  # to the end of the day, UTC in the demo config
    assert us["last_successful_crawl"] == datetime(2026, 11, 21, 1, 0, 5, tzinfo=UTC)
    assert us["note"] is None
    # The other App Store targets of the config were not crawled: the source says so.
    assert appstore["items_kept"] == 5 and appstore["exact_date_share"] == 2 / 3
    assert any("not crawled yet" in note for note in appstore["notes"])

    jd = _source(coverage, "jd")
    acme_jd = next(t for t in jd["targets"] if t["target_id"] == JD_TARGET)
    assert acme_jd["status"] == STATUS_FAILING == jd["status"]
    assert acme_jd["items_kept"] == 0 and acme_jd["items_quarantined"] == 2
    assert acme_jd["last_successful_crawl"] is None
    assert acme_jd["last_error"].startswith("page failed to parse: not JSON")
    assert acme_jd["note"].startswith(f"jd {JD_TARGET}: no items since the first crawl")
    assert any(note.startswith("jd") and "last error" in note for note in coverage["problems"])
    assert coverage["quality_warnings"] == []


def test_quality_warnings_of_the_latest_run_are_listed_when_stored(config):
    from repwatch.suites import RESULTS_DDL

    _warehouse(config)
    columns = (
        "run_id, stage, checked_at, table_name, suite, source, target_id, expectation, "
        "severity, success, observed, reason"
    )
    at = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    with duckdb.connect(str(config.paths.warehouse)) as con:
        con.execute(RESULTS_DDL)
        con.executemany(
            f"insert into quality_results ({columns}) values ({', '.join('?' * 12)})",
            [
                (
                    "r1",
                    "raw",
                    at,
                    "raw",
                    "raw_jd",
                    "jd",
                    JD_TARGET,
                    "mean",
                    "warning",
                    False,
                    "0.5",
                    "fewer than 90% of rows have a date",
                ),
                (
                    "r2",
                    "raw",
                    at,
                    "raw",
                    "raw_jd",
                    "jd",
                    JD_TARGET,
                    "mean",
                    "warning",
                    False,
                    "0.8",
                    "fewer than 90% of rows have a date",
                ),
                (
                    "r2",
                    "raw",
                    at,
                    "raw",
                    "raw_jd",
                    "jd",
                    None,
                    "unique",
                    "error",
                    False,
                    "3",
                    "duplicate ids",
                ),
                (
                    "r2",
                    "raw",
                    at,
                    "raw",
                    "raw_appstore",
                    "appstore",
                    None,
                    "mean",
                    "warning",
                    True,
                    "0.99",
                    "fewer than 90% of rows have a date",
                ),
            ],
        )
    warnings = _coverage(config)["quality_warnings"]
    assert warnings == [
        {"text": f"raw · jd · {JD_TARGET} — fewer than 90% of rows have a date (observed 0.8)"}
    ]


def test_the_report_shows_the_coverage_section_and_the_failing_source(config):
    _warehouse(config)
    transform_period(config, DAY, DAY)
    with connect(config, read_only=True) as con:
        context = build_daily_context(con, config, DAY)
    rendered = render_daily(config, DAY, context)
    for body in (rendered.html, rendered.text):
        assert "How complete is this report" in body
        assert f"JD.com {JD_TARGET}: no items since the first crawl, last error: page failed" in (
            body
        )
    assert "- App Store (not crawled): 6 pages fetched, 5 items kept, 1 quarantined" in (
        rendered.text
    )
