"""Complaint and survey marts (files source) on a small hand-made batch: every figure checked
against arithmetic done by hand, plus keys, accepted values, invariants and re-runs."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from repwatch import warehouse
from repwatch.config import Config, load_config
from repwatch.records import RECORD_FIELDS

COMPLAINTS = "folder=drops/complaints&mapping=complaints"
COMPLAINTS_AGAIN = "folder=drops/complaints-copy&mapping=complaints"
SURVEYS = "folder=drops/surveys&mapping=surveys"
MARTS = ("mart_complaints", "mart_surveys")
KEY = ("grain", "period_start", "brand", "channel", "category")
ADDITIVE = {
    "mart_complaints": ("complaints", "resolved", "unresolved", "followups", "followup_satisfied"),
    "mart_surveys": ("responses", "rated_responses", "satisfied_responses"),
}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """One own brand with two drop folders of complaints (the same tickets may arrive in both)
    and a survey folder, and a competitor with a review source."""
    mappings = {
        "complaints": {"review_id": "id", "text": "text", "record_type": "complaint"},
        "surveys": {"review_id": "id", "text": "text", "record_type": "survey"},
    }
    settings = {
        "timezone": "UTC",
        "brands": [
            {
                "name": "Acme Shop",
                "sources": [
                    {
                        "source": "files",
                        "targets": [
                            {"folder": "drops/complaints", "mapping": "complaints"},
                            {"folder": "drops/complaints-copy", "mapping": "complaints"},
                            {"folder": "drops/surveys", "mapping": "surveys"},
                        ],
                        "mappings": mappings,
                    }
                ],
            },
            {
                "name": "RivalMart",
                "competitor": True,
                "sources": [{"source": "trustpilot", "targets": [{"domain": "rival.example"}]}],
            },
        ],
        "paths": {"data_dir": str(tmp_path / "data")},
    }
    path = tmp_path / "repwatch.yaml"
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    return load_config(path)


def _record(
    review_id, published_at, *, target_id=COMPLAINTS, crawled_at=None, rating=None, **extra
):
    record_type = "survey" if target_id == SURVEYS else "complaint"
    record = {
        "source": "files",
        "target_id": target_id,
        "review_id": review_id,
        "kind": "review",
        "author": "张**",
        "rating": rating,
        "title": None,
        "text": f"text of {review_id}",
        "language": "zh",
        "published_at": published_at,
        "date_precision": "exact",
        "reply_text": None,
        "reply_at": None,
        "url": f"file://export.csv#line={review_id}",
        "likes": 0,
        "extra": json.dumps({"record_type": record_type, **extra}, ensure_ascii=False),
        "crawled_at": crawled_at or "2026-12-02T00:00:00Z",
        "raw": json.dumps({"id": review_id}),
    }
    return {**record, "file": "drop.jsonl", "line": 1}


def _complaint(review_id, published_at, channel, category, resolved_at, followup, **options):
    extra = {"category": category, "resolved_at": resolved_at, "followup_satisfaction": followup}
    if channel is not None:
        extra["channel"] = channel
    return _record(review_id, published_at, **options, **extra)


# Week of Monday 2026-11-16 and Monday 2026-11-30 (still November). Hours to resolution:
# c1 10, c2 48, c3 never, c4 4, c5 stamped 1.5 h before creation (counts as 0), c7 6, c6 24.
COMPLAINT_ROWS = [
    _complaint("c1", "2026-11-16T10:00:00Z", "电话", "产品质量", "2026-11-16T20:00:00Z", 5),
    _complaint("c2", "2026-11-16T12:00:00Z", "电话", "产品质量", "2026-11-18T12:00:00Z", 2),
    _complaint("c3", "2026-11-16T13:00:00Z", "邮件", "物流配送", None, None),
    _complaint("c4", "2026-11-17T09:00:00Z", "电话", "产品质量", "2026-11-17T13:00:00Z", 4),
    _complaint("c5", "2026-11-17T09:30:00Z", "在线客服", "服务态度", "2026-11-17T08:00:00Z", None),
    _complaint("c7", "2026-11-17T15:00:00Z", None, "价格", "2026-11-17T21:00:00Z", 1),
    _complaint("c6", "2026-11-30T09:00:00Z", "电话", "产品质量", "2026-12-01T09:00:00Z", 3),
    # c1 again from the second folder, older crawl: one ticket, counted once.
    _complaint(
        "c1",
        "2026-11-16T10:00:00Z",
        "电话",
        "产品质量",
        "2026-11-16T20:00:00Z",
        5,
        target_id=COMPLAINTS_AGAIN,
        crawled_at="2026-11-20T00:00:00Z",
    ),
]
SURVEY_ROWS = [
    _record(
        "s1",
        "2026-11-16T08:00:00Z",
        target_id=SURVEYS,
        rating=5,
        channel="Email invite",
        category="Delivery",
    ),
    _record(
        "s2",
        "2026-11-16T09:00:00Z",
        target_id=SURVEYS,
        rating=2,
        channel="Email invite",
        category="Price",
    ),
    _record(
        "s3",
        "2026-11-16T10:00:00Z",
        target_id=SURVEYS,
        rating=4,
        channel="Website",
        category="Delivery",
    ),
    _record(
        "s4",
        "2026-11-17T10:00:00Z",
        target_id=SURVEYS,
        rating=None,
        channel="In-app",
        category="Website",
    ),
    _record(
        "s5",
        "2026-11-17T11:00:00Z",
        target_id=SURVEYS,
        rating=3,
        channel="Website",
        category="Delivery",
    ),
]
# Public reviews are not complaints, whatever their rating.
REVIEW = {
    **_record("r1", "2026-11-16T11:00:00Z", rating=1),
    "source": "trustpilot",
    "target_id": "domain=rival.example",
    "extra": None,
}


def _load(config: Config, rows: list[dict]) -> None:
    frame = pd.DataFrame(rows, columns=[*RECORD_FIELDS, "file", "line"])
    frame["rating"] = frame["rating"].astype("Int64")
    quarantine = pd.DataFrame(
        columns=["source", "target_id", "review_id", "reason", "payload", "file", "line"]
    )
    warehouse.load_batch(config, frame, quarantine, batch_id="b1", files=[])


@pytest.fixture
def loaded(config: Config) -> Config:
    _load(config, [*COMPLAINT_ROWS, *SURVEY_ROWS, REVIEW])
    warehouse.transform_period(config, date(2026, 11, 16), date(2026, 11, 30))
    return config


def _rows(config: Config, mart: str, where: str = "true") -> list[dict]:
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        cursor = con.execute(f"select * from {mart} where {where} order by all")
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _row(config, mart, grain, period_start, channel="all", category="all", brand="Acme Shop"):
    (row,) = _rows(
        config,
        mart,
        f"grain = '{grain}' and period_start = '{period_start}' and brand = '{brand}' "
        f"and channel = '{channel}' and category = '{category}'",
    )
    return row


def test_complaints_of_a_day(loaded):
    day = _row(loaded, "mart_complaints", "day", "2026-11-16")
    # c1, c2, c3: c1 delivered twice counts once; c3 unresolved.
    assert (day["complaints"], day["resolved"], day["unresolved"]) == (3, 2, 1)
    assert day["resolution_rate"] == pytest.approx(2 / 3)
    # Hours 10 and 48: median (10 + 48) / 2 = 29; p90 = 10 + 0.9 * (48 - 10) = 44.2.
    assert day["resolution_median_hours"] == pytest.approx(29)
    assert day["resolution_p90_hours"] == pytest.approx(44.2)
    # Follow-ups 5 and 2: mean 3.5; satisfied (>= 4) one of two.
    assert (day["followups"], day["followup_satisfied"]) == (2, 1)
    assert day["followup_mean"] == pytest.approx(3.5)
    assert day["followup_satisfied_share"] == pytest.approx(0.5)
    assert day["metric_version"] == "complaints.v1"
    assert day["period_end"] == date(2026, 11, 16)

    email = _row(loaded, "mart_complaints", "day", "2026-11-16", channel="邮件")
    assert (email["complaints"], email["resolved"], email["resolution_rate"]) == (1, 0, 0)
    assert email["resolution_median_hours"] is None
    assert (email["followups"], email["followup_mean"], email["followup_satisfied_share"]) == (
        0,
        None,
        None,
    )


def test_complaints_of_a_week_by_category(loaded):
    week = _row(loaded, "mart_complaints", "week", "2026-11-16")
    # c1 c2 c3 c4 c5 c7; resolved all but c3.
    assert (week["complaints"], week["resolved"]) == (6, 5)
    assert week["period_end"] == date(2026, 11, 22)
    assert week["resolution_rate"] == pytest.approx(5 / 6)
    # Hours sorted 0, 4, 6, 10, 48: median 6; p90 at rank 0.9 * 4 = 3.6: 10 + 0.6 * 38 = 32.8.
    assert week["resolution_median_hours"] == pytest.approx(6)
    assert week["resolution_p90_hours"] == pytest.approx(32.8)
    # Follow-ups 5, 2, 4, 1: mean 3; satisfied 5 and 4.
    assert week["followup_mean"] == pytest.approx(3.0)
    assert (week["followups"], week["followup_satisfied"]) == (4, 2)

    quality = _row(loaded, "mart_complaints", "week", "2026-11-16", category="产品质量")
    # c1 c2 c4: hours 4, 10, 48: median 10; p90 at rank 1.8: 10 + 0.8 * 38 = 40.4.
    assert (quality["complaints"], quality["resolution_rate"]) == (3, 1.0)
    assert quality["resolution_median_hours"] == pytest.approx(10)
    assert quality["resolution_p90_hours"] == pytest.approx(40.4)
    # Follow-ups 5, 2, 4: mean 11 / 3; two of three satisfied.
    assert quality["followup_mean"] == pytest.approx(11 / 3)
    assert quality["followup_satisfied_share"] == pytest.approx(2 / 3)

    # c7's export had no channel column value.
    unknown = _row(loaded, "mart_complaints", "week", "2026-11-16", channel="unknown")
    assert (unknown["complaints"], unknown["resolution_median_hours"]) == (1, 6)

    next_week = _row(loaded, "mart_complaints", "week", "2026-11-30")
    assert (next_week["complaints"], next_week["resolution_median_hours"]) == (1, 24)
    assert next_week["followup_satisfied_share"] == 0


def test_complaints_of_a_month_by_channel(loaded):
    month = _row(loaded, "mart_complaints", "month", "2026-11-01")
    # All seven; c6 was resolved in December but belongs to the month it was filed in.
    assert (month["complaints"], month["resolved"]) == (7, 6)
    assert month["period_end"] == date(2026, 11, 30)
    # Hours 0, 4, 6, 10, 24, 48: median (6 + 10) / 2 = 8; p90 at rank 4.5: 24 + 0.5 * 24 = 36.
    assert month["resolution_median_hours"] == pytest.approx(8)
    assert month["resolution_p90_hours"] == pytest.approx(36)
    # Follow-ups 5, 2, 4, 1, 3: mean 3; satisfied 2 of 5.
    assert month["followup_mean"] == pytest.approx(3.0)
    assert month["followup_satisfied_share"] == pytest.approx(0.4)

    phone = _row(loaded, "mart_complaints", "month", "2026-11-01", channel="电话")
    # c1 c2 c4 c6: hours 4, 10, 24, 48: median 17; p90 at rank 2.7: 24 + 0.7 * 24 = 40.8.
    assert phone["complaints"] == 4
    assert phone["resolution_median_hours"] == pytest.approx(17)
    assert phone["resolution_p90_hours"] == pytest.approx(40.8)
    # Follow-ups 5, 2, 4, 3: mean 3.5, satisfied 2 of 4.
    assert phone["followup_mean"] == pytest.approx(3.5)
    assert phone["followup_satisfied_share"] == pytest.approx(0.5)


def test_surveys(loaded):
    day = _row(loaded, "mart_surveys", "day", "2026-11-16")
    # s1 5, s2 2, s3 4: mean 11 / 3; CSAT 2 of 3 rated 4-5.
    assert (day["responses"], day["rated_responses"]) == (3, 3)
    assert day["mean_score"] == pytest.approx(11 / 3)
    assert day["csat"] == pytest.approx(100 * 2 / 3)
    assert day["metric_version"] == "surveys.v1"

    week = _row(loaded, "mart_surveys", "week", "2026-11-16")
    # Five answers, s4 without a score: mean (5 + 2 + 4 + 3) / 4 = 3.5; CSAT 2 of 4.
    assert (week["responses"], week["rated_responses"]) == (5, 4)
    assert week["mean_score"] == pytest.approx(3.5)
    assert week["csat"] == pytest.approx(50)

    delivery = _row(loaded, "mart_surveys", "week", "2026-11-16", category="Delivery")
    # s1 5, s3 4, s5 3: mean 4; CSAT 2 of 3.
    assert delivery["mean_score"] == pytest.approx(4)
    assert delivery["csat"] == pytest.approx(100 * 2 / 3)

    unrated = _row(loaded, "mart_surveys", "day", "2026-11-17", channel="In-app")
    assert (unrated["responses"], unrated["mean_score"], unrated["csat"]) == (1, None, None)


def test_only_complaints_and_surveys_of_configured_brands(loaded):
    brands = {row["brand"] for mart in MARTS for row in _rows(loaded, mart)}
    assert brands == {"Acme Shop"}


@pytest.mark.parametrize("mart", MARTS)
def test_keys_are_unique_and_not_null_and_values_accepted(loaded, mart):
    rows = _rows(loaded, mart)
    keys = [tuple(row[column] for column in KEY) for row in rows]
    assert len(keys) == len(set(keys))
    assert all(value is not None for key in keys for value in key)
    assert {row["grain"] for row in rows} == {"day", "week", "month"}
    for row in rows:
        for name, value in row.items():
            if name.endswith(("_rate", "_share")) and value is not None:
                assert 0 <= value <= 1, (name, row)
            if name == "csat" and value is not None:
                assert 0 <= value <= 100, row


@pytest.mark.parametrize("mart", MARTS)
def test_weeks_months_and_totals_are_sums_of_their_parts(loaded, mart):
    rows = _rows(loaded, mart)
    additive = ADDITIVE[mart]

    def total(selected) -> tuple:
        return tuple(sum(row[name] for row in selected) for name in additive)

    by_key = {tuple(row[column] for column in KEY): row for row in rows}
    days = [row for row in rows if row["grain"] == "day"]
    for row in rows:
        if row["grain"] == "day":
            continue
        parts = [
            day
            for day in days
            if row["period_start"] <= day["period_start"] <= row["period_end"]
            and (day["brand"], day["channel"], day["category"])
            == (row["brand"], row["channel"], row["category"])
        ]
        assert total(parts) == tuple(row[name] for name in additive), row
    for key, row in by_key.items():
        if key[3] == "all" and key[4] == "all":
            detail = [
                other
                for other_key, other in by_key.items()
                if other_key[:3] == key[:3] and "all" not in other_key[3:]
            ]
            assert total(detail) == tuple(row[name] for name in additive), row


def test_rerunning_any_range_gives_identical_marts(loaded):
    before = {mart: _rows(loaded, mart) for mart in MARTS}
    warehouse.transform_period(loaded, date(2026, 11, 16), date(2026, 11, 30))
    warehouse.transform_period(loaded, date(2026, 11, 17), date(2026, 11, 17))
    assert {mart: _rows(loaded, mart) for mart in MARTS} == before
