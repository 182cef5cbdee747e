"""Enrichment: `repwatch classify` and the stored annotations in int_reviews_enriched."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import duckdb

from repwatch.enrich import ENRICHED_TABLE, classify, enrich, enrichment_version, read_items
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


def _enriched(config):
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        return con.execute(
            f"select review_id, enrichment_version, sentiment, text_hash from {ENRICHED_TABLE} "
            "order by review_id"
        ).fetchall()


def test_new_reviews_are_enriched_once_and_again_when_their_text_changes(config):
    load_batch(config, _frame(ROWS), EMPTY_QUARANTINE, batch_id="b1", files=[])
    assert enrich(config) == len(ROWS)
    first = _enriched(config)
    assert {row[1] for row in first} == {enrichment_version()}
    assert enrich(config) == 0, "nothing new: nothing redone"

    edited = {**ROWS[0], "text": "Changed my mind: it broke and I want a refund"}
    load_batch(config, _frame([edited]), EMPTY_QUARANTINE, batch_id="b2", files=[])
    assert enrich(config) == 1
    after = dict((row[0], row) for row in _enriched(config))
    assert after["1"][3] != dict((row[0], row) for row in first)["1"][3]


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
