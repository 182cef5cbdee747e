"""The GX suites of every validated table, volume checks, severity routing and Data Docs."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from repwatch.config import Config, VolumeChecks
from repwatch.pipeline import QualitySummary, check_and_load
from repwatch.quality import check_raw_batch
from repwatch.smtp_sink import SmtpSink
from repwatch.suites import (
    ERROR,
    KPI_RANGES,
    MISSING_DAYS,
    SENTIMENT_GAP,
    WARNING,
    QualityRun,
    fetch_mart,
    mart_suite,
    staging_suite,
)
from repwatch.volume import ITEMS_NOT_ZERO, ITEMS_VS_BASELINE, PARSE_FAILURE_RATE, judge_run
from repwatch.warehouse import ensure_schema

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
US = "app_id=1&country=us"


def _record(review_id: str, **changes) -> dict:
    record = {
        "source": "appstore",
        "target_id": US,
        "review_id": review_id,
        "kind": "review",
        "author": "Dana",
        "rating": 4,
        "title": "Works well",
        "text": f"Good app ({review_id})",
        "language": "en",
        "published_at": "2026-11-20T08:15:00Z",
        "date_precision": "exact",
        "likes": 0,
        "crawled_at": "2026-11-21T06:00:00Z",
        "raw": {"id": review_id},
    }
    record.update(changes)
    return record


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _reasons(result) -> dict[str, str]:
    return dict(zip(result.quarantined["review_id"], result.quarantined["reason"], strict=True))


# --- raw, per source -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (_record("norating", rating=None), "appstore review without a rating"),
        (
            _record("post", source="reddit", target_id="query=Acme", kind="review", rating=None),
            "reddit yields mentions only",
        ),
        (
            _record("rated", source="reddit", target_id="query=Acme", kind="mention", rating=3),
            "a mention has a rating",
        ),
    ],
)
def test_each_source_rule_quarantines_the_row_breaking_it(tmp_path, record, reason):
    landed = _write(tmp_path / "batch.jsonl", [_record("ok1"), record])

    result = check_raw_batch([landed], now=NOW)

    assert list(result.valid["review_id"]) == ["ok1"]
    assert _reasons(result) == {record["review_id"]: reason}


def test_source_rules_do_not_apply_to_other_sources(tmp_path):
    # A JSON-LD review may lack stars; a Reddit mention without a rating is as it should be.
    landed = _write(
        tmp_path / "batch.jsonl",
        [
            _record("hotel", source="jsonld", target_id="url=x", rating=None),
            _record("post", source="reddit", target_id="query=Acme", kind="mention", rating=None),
        ],
    )

    result = check_raw_batch([landed], now=NOW)

    assert len(result.quarantined) == 0
    assert set(result.gx_results) == {"raw_jsonld", "raw_reddit"}
    assert all(gx.success for gx in result.gx_results.values())


# --- staging ---------------------------------------------------------------------------------


def _int_reviews(count: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": ["appstore"] * count,
            "target_id": [US] * count,
            "review_id": [f"r{n}" for n in range(count)],
            "brand": ["Acme"] * count,
            "is_competitor": [False] * count,
            "kind": ["review"] * count,
            "record_type": ["review"] * count,
            "rating": [5, 1, 3][:count],
            "language": ["en"] * count,
            "published_at": pd.Timestamp("2026-11-20", tz="UTC"),
            "published_day": date(2026, 11, 20),
            "date_precision": ["exact"] * count,
            "likes": [0] * count,
            "sentiment": ["positive", "negative", "neutral"][:count],
        }
    )


def _failed(outcomes) -> set[str]:
    return {outcome.reason for outcome in outcomes if not outcome.success}


def test_clean_staging_passes():
    _, outcomes = QualityRun("t").validate("int_reviews", _int_reviews(), _stage())
    assert _failed(outcomes) == set()


def _stage():
    return staging_suite("int_reviews")


@pytest.mark.parametrize(
    ("column", "value", "reason", "severity"),
    [
        ("review_id", "r0", "duplicate source, target_id, review_id", ERROR),
        ("review_id", None, "missing review_id", ERROR),
        ("kind", "post", "kind not in review, mention", ERROR),
        ("record_type", "ticket", "record_type not in review, mention, complaint, survey", ERROR),
        ("sentiment", "angry", "sentiment not in positive, neutral, negative", ERROR),
        ("language", "fr", "language not in zh, en, other", ERROR),
        ("rating", 6, "rating not in 1–5", ERROR),
        ("brand", None, "rows of a target no brand configures", WARNING),
    ],
)
def test_each_staging_rule_catches_its_violation(column, value, reason, severity):
    frame = _int_reviews()
    frame.loc[2, column] = value

    _, outcomes = QualityRun("t").validate("int_reviews", frame, _stage())

    [failed] = [outcome for outcome in outcomes if not outcome.success]
    assert (failed.reason, failed.severity) == (reason, severity)


def test_staging_without_a_key_column_fails_the_schema_check():
    _, outcomes = QualityRun("t").validate(
        "int_reviews", _int_reviews().drop(columns="brand"), _stage()
    )
    assert "int_reviews lacks columns" in _failed(outcomes)


# --- marts -----------------------------------------------------------------------------------

KPI_KEY = ("grain", "period_start", "brand", "source")
# Monday 2026-11-16 .. Sunday 2026-11-22: one ISO week.
WEEK = [date(2026, 11, 16) + timedelta(days=n) for n in range(7)]


def _kpi_warehouse(week_reviews: int) -> duckdb.DuckDBPyConnection:
    """mart_brand_kpis with 2 reviews (1 positive, 1 negative) a day and a week row."""
    con = duckdb.connect()
    rows = [("day", day, day, 2) for day in WEEK] + [("week", WEEK[0], WEEK[-1], week_reviews)]
    frame = pd.DataFrame(rows, columns=["grain", "period_start", "period_end", "reviews"])
    frame = frame.assign(
        brand="Acme",
        source="all",
        mentions=0,
        positive=frame["reviews"] // 2,
        neutral=0,
        negative=frame["reviews"] - frame["reviews"] // 2,
        sentiment_unknown=0,
        replied_reviews=0,
        **{name: pd.array([None] * len(frame), dtype="Float64") for name in KPI_RANGES},
    )
    con.register("kpi_rows", frame)
    con.execute("create table mart_brand_kpis as select * from kpi_rows")
    return con


def _mart_outcomes(con, table, key):
    frame = fetch_mart(con, table, WEEK[0], WEEK[-1])
    return QualityRun("t").validate(table, frame, mart_suite(table, key))[1]


def test_consistent_kpis_pass():
    con = _kpi_warehouse(week_reviews=14)
    assert _failed(_mart_outcomes(con, "mart_brand_kpis", KPI_KEY)) == set()


def test_a_week_that_is_not_the_sum_of_its_days_fails():
    con = _kpi_warehouse(week_reviews=15)
    failed = _failed(_mart_outcomes(con, "mart_brand_kpis", KPI_KEY))
    assert "reviews of a week or month is not its days' sum" in failed


def test_kpi_rules_catch_duplicates_sentiment_gaps_and_rates_out_of_range():
    con = _kpi_warehouse(week_reviews=14)
    con.execute(
        "insert into mart_brand_kpis select * from mart_brand_kpis where grain = 'day' limit 1"
    )
    con.execute(
        "update mart_brand_kpis set positive = 0 where period_start = ? and grain = 'day'",
        [WEEK[3]],
    )
    con.execute("update mart_brand_kpis set csat = 140 where period_start = ?", [WEEK[4]])

    failed = _failed(_mart_outcomes(con, "mart_brand_kpis", KPI_KEY))

    assert {
        "duplicate grain, period_start, brand, source",
        "sentiment counts do not add up",
        "csat out of range",
    } <= failed


def test_a_gap_in_a_daily_baseline_series_fails():
    con = duckdb.connect()
    days = [WEEK[0], WEEK[1], WEEK[3]]
    frame = pd.DataFrame(
        {
            "grain": "day",
            "period_start": days,
            "period_end": days,
            "brand": "Acme",
            "source": "all",
            "metric": "reviews",
        }
    )
    con.register("rows", frame)
    con.execute("create table mart_kpi_baselines as select * from rows")
    key = ("grain", "period_start", "brand", "source", "metric")

    fetched = fetch_mart(con, "mart_kpi_baselines", WEEK[0], WEEK[-1])
    assert list(fetched[MISSING_DAYS]) == [1, 1, 1]
    assert "gap in a daily series" in _failed(_mart_outcomes(con, "mart_kpi_baselines", key))

    con.execute(
        "insert into mart_kpi_baselines values ('day', ?, ?, 'Acme', 'all', 'reviews')",
        [WEEK[2], WEEK[2]],
    )
    assert _failed(_mart_outcomes(con, "mart_kpi_baselines", key)) == set()
    assert SENTIMENT_GAP  # the kpi invariant's column, checked above


# --- volume ----------------------------------------------------------------------------------

SETTINGS = VolumeChecks(trailing_runs=14, min_runs=3, min_share_of_baseline=0.3)


def _judged(items: int, history: list[int], *, rejects: int = 0, pages: int = 10) -> dict:
    outcomes = judge_run(
        "appstore",
        US,
        items=items,
        rejects=rejects,
        pages=pages,
        history=history,
        settings=SETTINGS,
    )
    return {outcome.expectation: outcome for outcome in outcomes}


def test_a_normal_run_passes_every_volume_check():
    judged = _judged(90, [100, 80, 120, 95])
    assert all(outcome.success for outcome in judged.values())
    assert set(judged) == {ITEMS_VS_BASELINE, ITEMS_NOT_ZERO, PARSE_FAILURE_RATE}


def test_a_drop_below_the_trailing_median_is_a_warning_and_zero_an_error():
    dropped = _judged(20, [100, 80, 120, 95])
    assert not dropped[ITEMS_VS_BASELINE].success
    assert dropped[ITEMS_VS_BASELINE].severity == WARNING
    assert dropped[ITEMS_NOT_ZERO].success

    zero = _judged(0, [100, 80, 120, 95])
    assert zero[ITEMS_NOT_ZERO].is_error
    assert json.loads(zero[ITEMS_NOT_ZERO].observed)["trailing_median"] == 97.5


def test_without_enough_history_only_the_parse_rate_is_judged():
    assert set(_judged(0, [100, 80])) == {PARSE_FAILURE_RATE}
    assert _judged(0, [0, 0, 0])[ITEMS_NOT_ZERO].success  # a target that never had items


def test_a_parse_failure_jump_is_an_error():
    assert _judged(50, [50, 50, 50], rejects=1, pages=10)[PARSE_FAILURE_RATE].success
    assert _judged(50, [50, 50, 50], rejects=5, pages=10)[PARSE_FAILURE_RATE].is_error


# --- routing: error e-mails and stops, warning continues; Data Docs ----------------------------


def _config(tmp_path: Path, port: int) -> Config:
    return Config.model_validate(
        {
            "brands": [
                {
                    "name": "Acme",
                    "sources": [
                        {"source": "appstore", "targets": [{"app_id": "1", "country": "us"}]}
                    ],
                }
            ],
            "smtp": {"host": "127.0.0.1", "port": port},
            "quality": {"notify": [{"email": "de@acme.example", "department": "data_engineering"}]},
            "paths": {"data_dir": str(tmp_path / "data")},
        }
    )


@pytest.fixture
def sink(tmp_path):
    with SmtpSink(out_dir=tmp_path / "mail") as running:
        yield running


def test_an_error_e_mails_the_data_engineers_once_with_docs(tmp_path, sink):
    config = _config(tmp_path, sink.port)
    landed = _write(tmp_path / "batch.jsonl", [_record("ok1"), _record("bad", rating=None)])

    loaded = check_and_load(config, [landed], batch_id="run-1", include_pending=False)

    assert (loaded.valid_rows, loaded.quarantined_rows) == (1, 1)
    assert loaded.quality.mailed == ["de@acme.example"]
    assert not loaded.quality.withholds_report  # raw errors stop their rows only
    [path] = sink.received
    message = message_from_bytes(path.read_bytes(), policy=default_policy)
    assert message["Subject"] == (
        "repwatch data quality: raw_appstore appstore: appstore review without a rating"
    )
    body = message.get_body(("plain",)).get_content()
    assert '"unexpected_count": 1' in body
    assert "appstore review without a rating: 1" in body  # the quarantine count
    docs = Path(loaded.quality.docs_index)
    assert docs.exists() and "raw_appstore" in docs.read_text(encoding="utf-8")
    assert str(docs) in body

    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        stored = con.execute(
            "select table_name, severity, success from quality_results "
            "where run_id = 'run-1' and reason = 'appstore review without a rating'"
        ).fetchall()
    assert stored == [("raw_appstore", ERROR, False)]

    # The same run again: the send ledger keeps it to one e-mail.
    again = check_and_load(config, [landed], batch_id="run-1", include_pending=False)
    assert again.quality.mailed == []
    assert len(sink.received) == 1


def test_a_warning_continues_without_e_mail(tmp_path, sink):
    config = _config(tmp_path, sink.port)
    undated = [_record(f"u{n}", published_at=None, date_precision="unknown") for n in range(3)]
    landed = _write(tmp_path / "batch.jsonl", undated)

    loaded = check_and_load(config, [landed], batch_id="run-2", include_pending=False)

    assert loaded.valid_rows == 3
    assert loaded.quality.errors == []
    assert [w for w in loaded.quality.warnings if "have a date" in w]
    assert sink.received == []


def test_warehouse_errors_withhold_the_report_and_raw_ones_do_not():
    def summary(stage: str, errors: list[str]) -> QualitySummary:
        return QualitySummary("r", stage, errors, [], None, [])

    assert summary("warehouse", ["x"]).withholds_report
    assert not summary("warehouse", []).withholds_report
    assert not summary("raw", ["x"]).withholds_report


def test_volume_checks_read_the_trailing_crawl_runs():
    from repwatch.volume import check_volume

    con = duckdb.connect()
    ensure_schema(con)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for number, items in enumerate([100, 110, 90, 105, 0]):
        con.execute(
            "insert into crawl_runs (file, batch_id, source, target_id, started_at, items, "
            "rejects, responses, complete) values (?, ?, 'appstore', ?, ?, ?, 0, 5, true)",
            [f"f{number}", f"b{number}", US, start + timedelta(days=number), items],
        )

    outcomes = {o.expectation: o for o in check_volume(con, "b4", SETTINGS)}

    assert outcomes[ITEMS_NOT_ZERO].is_error
    assert json.loads(outcomes[ITEMS_NOT_ZERO].observed)["trailing_median"] == 102.5


def test_row_level_reading_of_every_raw_rule_agrees_with_gx_complete_results() -> None:
    from repwatch.quality import raw_source_suite
    from repwatch.suites import unexpected_rows

    earliest, latest = datetime(2000, 1, 1, tzinfo=UTC), NOW
    frame = pd.DataFrame(
        {
            "row": range(6),
            "source": pd.Categorical(["jd", "jd", None, "jd", "jd", "jd"]),
            "target_id": pd.Categorical(["t", "t", "t", None, "t", "t"]),
            "review_id": ["a", "a", "b", "c", None, "d"],
            "kind": pd.Categorical(["review", "mention", "comment", "review", "review", None]),
            "language": pd.Categorical(["en", "fr", "en", "zh", "en", "en"]),
            "date_precision": pd.Categorical(["exact", "day", "hour", None, "exact", "exact"]),
            "text_or_title": ["x", None, "y", "z", "w", "v"],
            "rating_as_landed": [4.0, 3.0, None, None, 9.0, 1.0],
            "rating": [4.0, 3.0, None, None, 9.0, 1.0],
            "likes": [0.0, -1.0, None, 3.0, 0.0, 0.0],
            "published_at": pd.to_datetime(
                ["2026-11-20", "2030-01-01", None, "1999-01-01", "2026-11-21T12:00", "2026-01-01"],
                utc=True,
                format="ISO8601",
            ),
            "known_date": [1.0, 1.0, 0.0, 1.0, 1.0, 1.0],
        }
    )
    parameters = {"latest_published_at": latest, "earliest_published_at": earliest}
    suite = raw_source_suite("jd")
    result, _ = QualityRun("agree").validate(
        "raw_jd",
        frame,
        suite,
        parameters=parameters,
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["row"]},
    )

    checked = 0
    for outcome in result.results:
        if outcome.expectation_config.type == "expect_column_mean_to_be_between":
            continue  # an aggregate: no rows of its own
        listed = {entry["row"] for entry in outcome.result.get("unexpected_index_list") or []}
        mask = unexpected_rows(outcome.expectation_config, frame, parameters)
        assert set(frame["row"][mask]) == listed, outcome.expectation_config.type
        checked += bool(listed)
    assert checked >= 8  # most rules do reject a row of this frame
