"""SQL models on a small hand-made batch: mart values checked against hand-computed figures,
and loads and periods re-run without duplicates or changes."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from repwatch.config import load_config
from repwatch.records import RECORD_FIELDS
from repwatch.warehouse import Model, load_batch, transform_period
from tests.conftest import write_config

US = "app_id=1000001&country=us"
RIVAL = "app_id=2000002&country=us"


def _row(review_id, rating, published_at, *, target_id=US, crawled_at="2026-11-21T01:00:00Z"):
    record = {
        "source": "appstore",
        "target_id": target_id,
        "review_id": review_id,
        "kind": "review",
        "author": "someone",
        "rating": rating,
        "title": "t",
        "text": f"text {review_id}",
        "language": "en",
        "published_at": published_at,
        "date_precision": "exact" if published_at else "unknown",
        "reply_text": None,
        "reply_at": None,
        "url": f"https://example.test/{review_id}",
        "likes": 0,
        "crawled_at": crawled_at,
    }
    record["raw"] = json.dumps({"id": review_id})
    return {**record, "file": "batch.jsonl", "line": int(review_id)}


def _frame(rows):
    frame = pd.DataFrame(rows, columns=[*RECORD_FIELDS, "file", "line"])
    frame["rating"] = frame["rating"].astype("Int64")
    return frame


EMPTY_QUARANTINE = pd.DataFrame(
    columns=["source", "target_id", "review_id", "reason", "payload", "file", "line"]
)

# Day 2026-11-20 (UTC): Acme ratings 5, 4, 1, 2, 3 and one unrated; RivalMart 5.
# Day 2026-11-19: Acme 5.  One Acme review without a date.
ROWS = [
    _row("1", 5, "2026-11-20T08:00:00Z"),
    _row("2", 4, "2026-11-20T09:00:00Z"),
    _row("3", 1, "2026-11-20T10:00:00Z"),
    _row("4", 2, "2026-11-20T11:00:00Z"),
    _row("5", 3, "2026-11-20T23:30:00Z"),
    _row("6", None, "2026-11-20T12:00:00Z"),
    _row("7", 5, "2026-11-19T12:00:00Z"),
    _row("8", 4, None),
    _row("9", 5, "2026-11-20T12:00:00Z", target_id=RIVAL),
]


def _mart(config):
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        return con.execute(
            "select * exclude (metric_version) from mart_brand_daily order by day, brand, source"
        ).fetchall()


def _mart_row(config, day, brand):
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        cursor = con.execute(
            "select * from mart_brand_daily where day = ? and brand = ?", [day, brand]
        )
        names = [column[0] for column in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def test_mart_matches_hand_computed_figures(config):
    loaded = load_batch(config, _frame(ROWS), EMPTY_QUARANTINE, batch_id="b1", files=[])
    assert loaded.days == [date(2026, 11, 19), date(2026, 11, 20)]
    transform_period(config, date(2026, 11, 19), date(2026, 11, 20))

    acme = _mart_row(config, date(2026, 11, 20), "Acme Shop")
    assert acme["reviews"] == 6
    assert acme["rated_reviews"] == 5
    assert acme["avg_rating"] == pytest.approx((5 + 4 + 1 + 2 + 3) / 5)
    assert acme["csat"] == pytest.approx(100 * 2 / 5)
    assert [acme[f"rating_{n}"] for n in range(1, 6)] == [1, 1, 1, 1, 1]
    assert (acme["positive"], acme["neutral"], acme["negative"]) == (2, 1, 2)
    assert acme["negative_share"] == pytest.approx(2 / 6)
    assert acme["is_competitor"] is False
    assert acme["metric_version"] == "brand_kpis.v1"

    rival = _mart_row(config, date(2026, 11, 20), "RivalMart")
    assert (rival["reviews"], rival["is_competitor"], rival["csat"]) == (1, True, 100.0)
    assert _mart_row(config, date(2026, 11, 19), "Acme Shop")["reviews"] == 1


def test_unknown_dates_are_kept_but_not_counted_in_days(config):
    load_batch(config, _frame(ROWS), EMPTY_QUARANTINE, batch_id="b1", files=[])
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        kept = con.execute(
            "select date_precision, published_day from int_reviews where review_id = '8'"
        ).fetchall()
    assert kept == [("unknown", None)]


def test_reloading_and_recomputing_gives_identical_marts(config):
    load_batch(config, _frame(ROWS), EMPTY_QUARANTINE, batch_id="b1", files=[])
    transform_period(config, date(2026, 11, 19), date(2026, 11, 20))
    first = _mart(config)
    # The same reviews crawled again later, one with a changed rating.
    recrawled = [
        _row(
            r["review_id"],
            r["rating"],
            r["published_at"],
            target_id=r["target_id"],
            crawled_at="2026-11-22T01:00:00Z",
        )
        for r in ROWS
    ]
    load_batch(config, _frame(recrawled), EMPTY_QUARANTINE, batch_id="b2", files=[])
    transform_period(config, date(2026, 11, 19), date(2026, 11, 20))
    transform_period(config, date(2026, 11, 19), date(2026, 11, 20))
    assert _mart(config) == first
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        assert con.execute("select count(*) from int_reviews").fetchone() == (len(ROWS),)

    edited = [_row("3", 4, "2026-11-20T10:00:00Z", crawled_at="2026-11-23T01:00:00Z")]
    load_batch(config, _frame(edited), EMPTY_QUARANTINE, batch_id="b3", files=[])
    transform_period(config, date(2026, 11, 20), date(2026, 11, 20))
    acme = _mart_row(config, date(2026, 11, 20), "Acme Shop")
    assert (acme["reviews"], acme["negative"], acme["positive"]) == (6, 1, 3)


def test_days_follow_the_configured_time_zone(tmp_path):
    config = load_config(
        write_config(tmp_path, paths={"data_dir": str(tmp_path / "data")})
    ).model_copy(update={"timezone": "Asia/Shanghai"})
    # 23:30 UTC on the 20th is 07:30 on the 21st in Shanghai.
    loaded = load_batch(config, _frame(ROWS[4:5]), EMPTY_QUARANTINE, batch_id="b1", files=[])
    assert loaded.days == [date(2026, 11, 21)]


def test_quarantined_rows_are_stored_with_reason_and_payload(config):
    rejected = pd.DataFrame(
        [
            {
                "source": "appstore",
                "target_id": US,
                "review_id": "x",
                "reason": "rating out of range",
                "payload": '{"id": "x"}',
                "file": "f.jsonl",
                "line": 3,
            }
        ]
    )
    # Loading the same file twice replaces its quarantine rows instead of adding more.
    for _ in range(2):
        load_batch(config, _frame(ROWS[:1]), rejected, batch_id="b1", files=[Path("f.jsonl")])
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        stored = con.execute("select reason, payload, line from quarantine").fetchall()
    assert stored == [("rating out of range", '{"id": "x"}', 3)]


def test_every_model_declares_grain_and_materialisation():
    from repwatch.warehouse import LOAD_MODELS, PERIOD_MODELS, TRANSFORMS_DIR

    for name in (*LOAD_MODELS, *PERIOD_MODELS):
        model = Model.load(name)
        assert model.materialized in {"temp", "table", "upsert", "period"}
        assert "-- grain:" in (TRANSFORMS_DIR / f"{name}.sql").read_text()


def test_mentions_and_complaints_are_not_counted_as_reviews(config):
    mention = {**_row("20", None, "2026-11-20T09:30:00Z"), "kind": "mention"}
    complaint = {**_row("21", 1, "2026-11-20T09:45:00Z"), "extra": '{"record_type": "complaint"}'}
    only_mentions = {**_row("22", None, "2026-11-18T09:30:00Z"), "kind": "mention"}
    frame = _frame([*ROWS, mention, complaint, only_mentions])
    load_batch(config, frame, EMPTY_QUARANTINE, batch_id="b1", files=[])
    transform_period(config, date(2026, 11, 18), date(2026, 11, 20))

    acme = _mart_row(config, date(2026, 11, 20), "Acme Shop")
    assert (acme["reviews"], acme["mentions"], acme["negative"]) == (6, 1, 2)
    quiet_day = _mart_row(config, date(2026, 11, 18), "Acme Shop")
    assert (quiet_day["reviews"], quiet_day["mentions"], quiet_day["avg_rating"]) == (0, 1, None)


def test_a_table_from_an_older_version_gains_the_new_columns(config):
    load_batch(config, _frame(ROWS[:2]), EMPTY_QUARANTINE, batch_id="b1", files=[])
    with duckdb.connect(str(config.paths.warehouse)) as con:
        con.execute("alter table int_reviews drop column record_type")
    load_batch(config, _frame(ROWS[2:4]), EMPTY_QUARANTINE, batch_id="b2", files=[])
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        rows = con.execute(
            "select review_id, record_type from int_reviews order by review_id"
        ).fetchall()
    assert rows == [("1", None), ("2", None), ("3", "review"), ("4", "review")]


def test_an_item_two_targets_found_counts_once_per_brand(config):
    def post(target_id):
        row = {**_row("77", None, "2026-11-20T10:00:00Z", target_id=target_id), "kind": "mention"}
        return {**row, "source": "reddit"}

    acme_everywhere, acme_shopping = "query=Acme Shop", "query=Acme Shop&subreddit=shopping"
    rival = "query=RivalMart"
    frame = _frame([post(acme_everywhere), post(acme_shopping), post(rival)])
    load_batch(config, frame, EMPTY_QUARANTINE, batch_id="b1", files=[])
    transform_period(config, date(2026, 11, 20), date(2026, 11, 20))
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        stored = con.execute("select count(*) from int_reviews").fetchone()[0]
        mentions = con.execute(
            "select brand, mentions from mart_brand_daily where source = 'reddit' order by brand"
        ).fetchall()
    assert stored == 3
    assert mentions == [("Acme Shop", 1), ("RivalMart", 1)]
