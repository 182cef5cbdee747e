"""Enrichment: `repwatch classify` and the stored annotations in int_reviews_enriched."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import duckdb

from repwatch.enrich import (
    ENRICHED_DDL,
    ENRICHED_TABLE,
    classify,
    enrich,
    enrichment_version,
    read_items,
)
from repwatch.warehouse import load_batch
from tests.test_warehouse import EMPTY_QUARANTINE, ROWS, _frame


def test_classify_reads_text_and_stars_together():
    items = [
        {"text": "Absolutely love it, works perfectly and arrived early", "rating": 5},
        {"text": "质量太差了，用了两天就坏了，客服也不理人", "rating": 5},
        {"title": "Terrible", "text": "It broke after a week and support never answered"},
    ]
    first, angry_five_stars, untitled = classify(items)
    assert (first["language"], first["sentiment"], first["rating_disagreement"]) == (
        "en",
        "positive",
        False,
    )
    assert angry_five_stars["language"] == "zh"
    assert angry_five_stars["text_sentiment"] == "negative"
    assert angry_five_stars["rating_disagreement"] is True
    assert untitled["sentiment"] == "negative"
    for annotation in (first, angry_five_stars, untitled):
        assert -1 <= annotation["sentiment_score"] <= 1
        assert isinstance(annotation["problems"], list) and isinstance(annotation["flags"], list)


def test_classify_input_lines():
    lines = ['{"text": "good", "rating": 4}', "plain words here", "", '{"text": "x", "rating": 9}']
    assert read_items(lines) == [
        {"text": "good", "rating": 4},
        {"text": "plain words here", "rating": None},
        {"text": "x", "rating": None},
    ]


def test_classify_command_writes_one_json_line_per_input():
    stdin = "Great value, fast shipping\n<script>alert(1)</script> worst purchase ever\n"
    done = subprocess.run(
        [sys.executable, "-m", "repwatch", "classify"],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["sentiment"] for line in lines] == ["positive", "negative"]


DATED_ROWS = [row for row in ROWS if row["published_at"]]


def _enriched(config):
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        return con.execute(
            f"select review_id, enrichment_version, sentiment, text_hash from {ENRICHED_TABLE} "
            "order by review_id"
        ).fetchall()


def _days(config) -> dict[str, date]:
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        return dict(
            con.execute(f"select review_id, published_day from {ENRICHED_TABLE}").fetchall()
        )


def test_new_reviews_are_enriched_once_and_again_when_their_text_changes(config):
    load_batch(config, _frame(ROWS), EMPTY_QUARANTINE, batch_id="b1", files=[])
    assert 0 < len(DATED_ROWS) < len(ROWS)
    assert enrich(config) == len(DATED_ROWS)
    first = _enriched(config)
    assert {row[1] for row in first} == {enrichment_version()}
    assert enrich(config) == 0, "nothing new: nothing redone"

    edited = {**ROWS[0], "text": "Changed my mind: it broke and I want a refund"}
    load_batch(config, _frame([edited]), EMPTY_QUARANTINE, batch_id="b2", files=[])
    assert enrich(config) == 1
    after = dict((row[0], row) for row in _enriched(config))
    assert after["1"][3] != dict((row[0], row) for row in first)["1"][3]


def test_annotations_are_filed_under_the_reviews_day_and_follow_it(config):
    load_batch(config, _frame(ROWS), EMPTY_QUARANTINE, batch_id="b1", files=[])
    enrich(config)
    assert _days(config) == {
        row["review_id"]: date.fromisoformat(row["published_at"][:10]) for row in DATED_ROWS
    }, "every dated review, under its day (UTC here); the undated one waits"

    # The site corrects a date, and the undated review gets one: both are (re)enriched.
    moved = {**ROWS[0], "published_at": "2026-11-18T08:00:00Z"}
    dated = {**ROWS[7], "published_at": "2026-11-17T08:00:00Z", "date_precision": "exact"}
    assert dated["review_id"] not in _days(config)
    load_batch(config, _frame([moved, dated]), EMPTY_QUARANTINE, batch_id="b2", files=[])
    assert enrich(config) == 2
    days = _days(config)
    assert (days[moved["review_id"]], days[dated["review_id"]]) == (
        date(2026, 11, 18),
        date(2026, 11, 17),
    )


def test_a_table_from_before_days_gets_them(config):
    from repwatch.warehouse import connect, ensure_schema

    load_batch(config, _frame(ROWS), EMPTY_QUARANTINE, batch_id="b1", files=[])
    with connect(config) as con:
        # The table as enrichment stored it before annotations had a day: every review,
        # the undated one too.
        con.execute(f"drop table {ENRICHED_TABLE}")
        con.execute(ENRICHED_DDL.replace("    published_day date,\n", ""))
        con.execute(
            f"""
            insert into {ENRICHED_TABLE} by name
            select source, target_id, review_id, 'old' as enrichment_version,
                'hash' as text_hash, 'en' as language, coalesce(sentiment, 'neutral') as sentiment,
                0 as sentiment_score,
                'neutral' as text_sentiment, 0 as text_score, false as rating_disagreement,
                [] as problems, [] as flags, [] as terms, now() as enriched_at
            from int_reviews
            """
        )
        assert "published_day" not in _column_names(con)
        ensure_schema(con)
        assert "published_day" in _column_names(con)
    assert _days(config) == {
        row["review_id"]: date.fromisoformat(row["published_at"][:10]) for row in DATED_ROWS
    }


def _column_names(con) -> set[str]:
    return {
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns where table_name = ?",
            [ENRICHED_TABLE],
        ).fetchall()
    }


def test_reenrich_redoes_a_range_of_days(config):
    load_batch(config, _frame(ROWS), EMPTY_QUARANTINE, batch_id="b1", files=[])
    enrich(config)
    on_the_20th = sum(1 for row in ROWS if (row["published_at"] or "").startswith("2026-11-20"))
    assert enrich(config, start=date(2026, 11, 20), end=date(2026, 11, 20)) == on_the_20th


def test_marts_count_the_texts_verdict_once_enriched(config):
    from repwatch.warehouse import transform_period
    from tests.test_warehouse import _mart_row, _row

    angry_five_stars = {
        **_row("50", 5, "2026-11-20T09:00:00Z"),
        "text": "Terrible. It broke after one day and support ignored every message.",
    }
    happy_five_stars = {**_row("51", 5, "2026-11-20T10:00:00Z"), "text": "Love it, works great"}
    load_batch(
        config,
        _frame([angry_five_stars, happy_five_stars]),
        EMPTY_QUARANTINE,
        batch_id="b",
        files=[],
    )
    transform_period(config, date(2026, 11, 20), date(2026, 11, 20))
    stars_only = _mart_row(config, date(2026, 11, 20), "Acme Shop")
    assert (stars_only["negative"], stars_only["positive"]) == (0, 2)

    enrich(config)
    transform_period(config, date(2026, 11, 20), date(2026, 11, 20))
    from_text = _mart_row(config, date(2026, 11, 20), "Acme Shop")
    assert (from_text["negative"], from_text["positive"]) == (1, 1)
    assert from_text["rating_5"] == 2, "the star distribution stays as rated"
