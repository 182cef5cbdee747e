"""The metric marts on a small hand-made warehouse: every figure against arithmetic done by
hand (shown beside it), keys and accepted values, invariants (sentiment adds up, rates stay in
range, weeks and months add up their days), and re-runs that change nothing.

The fixture's annotations are written by hand into int_reviews_enriched, so the figures do
not depend on the sentiment model or the problem rules.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from repwatch import warehouse
from repwatch.config import FLAG_KINDS, SATISFACTION_DIMENSIONS, Config, load_config
from repwatch.records import RECORD_FIELDS
from repwatch.warehouse import (
    PERIOD_MODELS,
    Model,
    load_batch,
    transform_period,
    widened_range,
)

ACME, RIVAL = "Acme Shop", "RivalMart"
ACME_APP, RIVAL_APP = "app_id=1&country=us", "app_id=2&country=us"
ACME_SEARCH, ACME_SUBREDDIT = "query=Acme Shop", "query=Acme Shop&subreddit=shopping"
RIVAL_SEARCH = "query=RivalMart"
SETTINGS = {
    "timezone": "UTC",
    "brands": [
        {
            "name": ACME,
            "sources": [
                {"source": "appstore", "targets": [{"app_id": "1", "country": "us"}]},
                {
                    "source": "reddit",
                    "targets": [{"query": ACME}, {"query": ACME, "subreddit": "shopping"}],
                },
            ],
        },
        {
            "name": RIVAL,
            "competitor": True,
            "sources": [
                {"source": "appstore", "targets": [{"app_id": "2", "country": "us"}]},
                {"source": "reddit", "targets": [{"query": RIVAL}]},
            ],
        },
    ],
    # Short windows keep the baseline arithmetic small; two terms per list show the cut.
    "metrics": {
        "top_terms": 2,
        "baselines": {
            "trailing_days": 3,
            "min_trailing_days": 2,
            "same_weekday_weeks": 2,
            "min_same_weekday_weeks": 2,
        },
    },
}
FIRST, LAST = date(2026, 10, 28), date(2026, 11, 26)
EMPTY_QUARANTINE = pd.DataFrame(
    columns=["source", "target_id", "review_id", "reason", "payload", "file", "line"]
)


def _item(review_id, target_id, rating, published_at, reply_at=None, *, kind="review"):
    source = "appstore" if target_id.startswith("app_id") else "reddit"
    return {
        "source": source,
        "target_id": target_id,
        "review_id": review_id,
        "kind": kind,
        "author": f"author {review_id}",
        "rating": rating,
        "title": f"title {review_id}",
        "text": f"text of {review_id}",
        "language": "en",
        "published_at": published_at,
        "date_precision": "exact",
        "reply_text": "thanks" if reply_at else None,
        "reply_at": reply_at,
        "url": f"https://example.test/{review_id}",
        "likes": 0,
        "extra": None,
        "crawled_at": "2026-11-27T01:00:00Z",
        "raw": json.dumps({"id": review_id}),
        "file": "batch.jsonl",
        "line": 0,
    }


def _mention(review_id, target_id, published_at):
    return _item(review_id, target_id, None, published_at, kind="mention")


# Acme's App Store reviews (a*), Acme's Reddit mentions (m*), RivalMart's (r*, rm*).
# The week of 16-22 November runs Monday to Sunday; the 18th is a Wednesday.
ITEMS = [
    _item("a0", ACME_APP, 4, "2026-10-28T10:00:00Z"),
    _item("a1", ACME_APP, 5, "2026-11-18T10:00:00Z", "2026-11-18T12:00:00Z"),  # 2 h
    _item("a2", ACME_APP, 1, "2026-11-18T11:00:00Z"),
    _item("a3", ACME_APP, 2, "2026-11-18T20:00:00Z", "2026-11-20T08:00:00Z"),  # 36 h
    _item("a4", ACME_APP, 4, "2026-11-19T09:00:00Z", "2026-11-19T19:00:00Z"),  # 10 h
    _item("a5", ACME_APP, 3, "2026-11-19T10:00:00Z"),
    _item("a6", ACME_APP, None, "2026-11-19T11:00:00Z"),  # unrated, never enriched
    _item("a7", ACME_APP, 5, "2026-11-19T12:00:00Z"),  # an ad: excluded
    _item("a8", ACME_APP, 1, "2026-11-19T13:00:00Z", "2026-11-19T14:00:00Z"),  # 1 h
    _item("a9", ACME_APP, 2, "2026-11-23T09:00:00Z"),
    # One post two of Acme's searches found: it counts once.
    _mention("m1", ACME_SEARCH, "2026-11-18T15:00:00Z"),
    _mention("m1", ACME_SUBREDDIT, "2026-11-18T15:00:00Z"),
    _mention("m2", ACME_SEARCH, "2026-11-19T16:00:00Z"),
    _mention("m3", ACME_SEARCH, "2026-11-19T17:00:00Z"),  # gibberish: excluded
    _item("r1", RIVAL_APP, 4, "2026-11-18T09:00:00Z", "2026-11-18T14:00:00Z"),
    _item("r2", RIVAL_APP, 2, "2026-11-19T09:00:00Z"),
    _item("r3", RIVAL_APP, 5, "2026-11-26T09:00:00Z"),  # the newest day with data
    _mention("rm1", RIVAL_SEARCH, "2026-11-18T12:00:00Z"),
    _mention("rm2", RIVAL_SEARCH, "2026-11-19T12:00:00Z"),
    _mention("rm3", RIVAL_SEARCH, "2026-11-19T13:00:00Z"),
]

# review_id -> (sentiment, problems, dimension sentiments, flags, terms)
ANNOTATIONS = {
    "a0": ("positive", [], {}, [], ["nice"]),
    "a1": ("positive", ["price"], {"quality": 0.5}, [], ["fast", "great"]),
    "a2": (
        "negative",
        ["product_quality", "delivery_logistics"],
        {"quality": -1.0, "delivery": -0.5},
        [],
        ["broken", "late"],
    ),
    "a3": ("negative", ["product_quality"], {"quality": -0.5}, [], ["broken", "broken"]),
    "a4": ("positive", [], {"service": 1.0}, [], ["great"]),
    "a5": ("neutral", [], {}, [], []),
    "a7": ("positive", [], {"quality": 1.0}, ["ad_or_contact:url"], ["great"]),
    # too_short is not an excluded flag: a8 counts.
    "a8": ("negative", ["service_attitude"], {"service": -1.0}, ["too_short"], ["rude", "slow"]),
    "a9": ("negative", [], {}, [], []),
    # the brand's own name is no term of its cloud
    "m1": ("positive", [], {}, [], ["great", "acme"]),
    "m2": ("negative", ["price"], {"price": -0.5}, [], ["expensive"]),
    "m3": ("positive", [], {"price": 1.0}, ["gibberish"], ["zzz"]),
    "r1": ("positive", [], {}, [], []),
    "r2": ("negative", [], {}, [], []),
    "r3": ("positive", [], {}, [], []),
    "rm1": ("neutral", [], {}, [], []),
    "rm2": ("negative", [], {}, [], []),
    "rm3": ("positive", [], {}, [], []),
}


def _frame(items):
    frame = pd.DataFrame(items, columns=[*RECORD_FIELDS, "file", "line"])
    frame["rating"] = frame["rating"].astype("Int64")
    return frame


def _write_config(tmp_path: Path, settings: dict) -> Config:
    path = tmp_path / "repwatch.yaml"
    path.write_text(
        yaml.safe_dump({**settings, "paths": {"data_dir": str(tmp_path / "data")}}),
        encoding="utf-8",
    )
    return load_config(path)


def _annotate(config: Config, items: list[dict], annotations: dict) -> None:
    rows = []
    for item in items:
        if item["review_id"] not in annotations:
            continue
        sentiment, problems, dimensions, flags, terms = annotations[item["review_id"]]
        rows.append(
            {
                "source": item["source"],
                "target_id": item["target_id"],
                "review_id": item["review_id"],
                "enrichment_version": "by-hand",
                "text_hash": "-",
                "language": "en",
                "sentiment": sentiment,
                "sentiment_score": 0.0,
                "text_sentiment": sentiment,
                "text_score": 0.0,
                "rating_disagreement": False,
                "problems": problems,
                "dimensions": json.dumps(dimensions),
                "flags": flags,
                "terms": terms,
                "enriched_at": datetime(2026, 11, 27, tzinfo=UTC),
            }
        )
    with duckdb.connect(str(config.paths.warehouse)) as con:
        con.register("annotations", pd.DataFrame(rows))
        # filed under the review's day, as the enrichment stores them
        con.execute(
            """
            insert or replace into int_reviews_enriched by name
            select annotations.* replace (dimensions::json as dimensions), reviews.published_day
            from annotations
            inner join int_reviews as reviews
                using (source, target_id, review_id)
            """
        )


def _load(config: Config, items: list[dict], annotations: dict, batch_id: str = "b1") -> None:
    load_batch(config, _frame(items), EMPTY_QUARANTINE, batch_id=batch_id, files=[])
    _annotate(config, items, annotations)


@pytest.fixture
def config(tmp_path) -> Config:
    config = _write_config(tmp_path, SETTINGS)
    _load(config, ITEMS, ANNOTATIONS)
    transform_period(config, FIRST, LAST)
    return config


def _query(config: Config, sql: str, parameters=()) -> list[dict]:
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        cursor = con.execute(sql, list(parameters))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _kpis(config, grain, period_start, brand, source) -> dict:
    (row,) = _query(
        config,
        "select * from mart_brand_kpis "
        "where grain = ? and period_start = ? and brand = ? and source = ?",
        [grain, period_start, brand, source],
    )
    return row


def _approx(expected):
    return pytest.approx(expected, rel=1e-9, abs=1e-9)


def _marts() -> list[Model]:
    return [model for model in map(Model.load, PERIOD_MODELS) if model.materialized != "temp"]


def _contents(config: Config) -> dict[str, list[tuple]]:
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        return {
            model.name: con.execute(f"select * from {model.name} order by all").fetchall()
            for model in _marts()
        }


# --- each figure by hand -------------------------------------------------------------------


def test_review_figures_of_one_day(config):
    day = _kpis(config, "day", date(2026, 11, 18), ACME, "appstore")
    # a1 (5 stars, positive), a2 (1, negative), a3 (2, negative)
    assert (day["reviews"], day["mentions"], day["rated_reviews"]) == (3, 0, 3)
    assert [day[f"rating_{n}"] for n in range(1, 6)] == [1, 1, 0, 0, 1]
    assert day["avg_rating"] == _approx(8 / 3)  # (5 + 1 + 2) / 3
    assert day["bayesian_rating"] == _approx(3.25)  # (3 * 8/3 + 7 * 3.5) / (3 + 7) = 32.5 / 10
    assert day["csat"] == _approx(100 / 3)  # one of three rated 4-5
    assert (day["positive"], day["neutral"], day["negative"]) == (1, 0, 2)
    assert day["negative_share"] == _approx(2 / 3)
    assert day["nss"] == _approx(-100 / 3)  # (1 - 2) / 3 * 100
    # Wilson, p = 1/3, n = 3, z = 1.96:
    # (1/3 + 3.8416/6 - 1.96 sqrt(2/27 + 3.8416/36)) / (1 + 3.8416/3) = 0.0614903...
    assert day["positive_share_lower_bound"] == pytest.approx(0.0614903, abs=1e-7)
    # replies after 2 h (a1) and 36 h (a3); a2 none
    assert (day["replied_reviews"], day["response_rate"]) == (2, _approx(2 / 3))
    assert day["first_response_median_hours"] == _approx(19.0)  # (2 + 36) / 2
    assert day["first_response_p90_hours"] == _approx(32.6)  # 2 + 0.9 * (36 - 2)
    # negatives a2 (no reply) and a3 (after 36 h): none within 24 h
    assert (day["negative_replied_within_sla"], day["sla_compliance"]) == (0, 0.0)
    assert day["share_of_voice"] is None, "no mentions on the App Store"
    assert day["is_competitor"] is False
    assert day["metric_version"] == "brand_kpis.v1"


def test_excluded_unrated_and_unclassified_reviews(config):
    day = _kpis(config, "day", date(2026, 11, 19), ACME, "appstore")
    # a4 (4, pos), a5 (3, neutral), a6 (unrated, not enriched), a8 (1, neg); a7 is an ad
    assert (day["reviews"], day["excluded_reviews"], day["rated_reviews"]) == (4, 1, 3)
    assert [day[f"rating_{n}"] for n in range(1, 6)] == [1, 0, 1, 1, 0]
    assert day["avg_rating"] == _approx(8 / 3)  # (4 + 3 + 1) / 3; a7's 5 stars left out
    assert (day["positive"], day["neutral"], day["negative"]) == (1, 1, 1)
    assert day["sentiment_unknown"] == 1
    assert day["negative_share"] == _approx(1 / 4)  # of all 4 counted reviews
    assert day["nss"] == _approx(0.0)  # (1 - 1) / 3
    assert day["response_rate"] == _approx(0.5)  # a4, a8
    assert day["first_response_median_hours"] == _approx(5.5)  # (10 + 1) / 2
    assert day["first_response_p90_hours"] == _approx(9.1)  # 1 + 0.9 * (10 - 1)
    assert day["sla_compliance"] == _approx(1.0)  # a8 answered after 1 h

    reddit = _kpis(config, "day", date(2026, 11, 19), ACME, "reddit")
    # m2 negative; m3 is gibberish
    assert (reddit["mentions"], reddit["excluded_mentions"]) == (1, 1)
    assert (reddit["mention_negative"], reddit["mention_nss"]) == (1, _approx(-100.0))


def test_weeks_and_months_are_computed_from_their_days_reviews(config):
    week = _kpis(config, "week", date(2026, 11, 16), ACME, "appstore")
    assert week["period_end"] == date(2026, 11, 22)
    # ratings 5, 1, 2 (18th) and 4, 3, 1 (19th): sum 16 over 6
    assert (week["reviews"], week["rated_reviews"]) == (7, 6)
    assert week["avg_rating"] == _approx(16 / 6)
    assert week["bayesian_rating"] == _approx((16 + 7 * 3.5) / (6 + 7))  # 40.5 / 13
    assert week["csat"] == _approx(100 * 2 / 6)
    assert week["nss"] == _approx(-100 / 6)  # (2 - 3) / 6
    assert week["positive_share_lower_bound"] == pytest.approx(0.0967693, abs=1e-7)
    # reply hours 1, 2, 10, 36: median (2 + 10) / 2; p90 at rank 0.9 * 3 = 2.7 -> 10 + 0.7 * 26
    assert week["first_response_median_hours"] == _approx(6.0)
    assert week["first_response_p90_hours"] == _approx(28.2)
    assert week["sla_compliance"] == _approx(1 / 3)  # a8 of a2, a3, a8
    assert week["response_rate"] == _approx(4 / 7)

    month = _kpis(config, "month", date(2026, 11, 1), ACME, "appstore")
    assert month["period_end"] == date(2026, 11, 30)
    # the week plus a9 (2 stars, negative, unanswered) on the 23rd
    assert (month["reviews"], month["rated_reviews"], month["negative"]) == (8, 7, 4)
    assert month["avg_rating"] == _approx(18 / 7)
    assert month["csat"] == _approx(100 * 2 / 7)
    assert month["sla_compliance"] == _approx(1 / 4)
    assert month["first_response_p90_hours"] == _approx(28.2)
    october = _kpis(config, "month", date(2026, 10, 1), ACME, "appstore")
    assert (october["reviews"], october["avg_rating"]) == (1, 4.0)


def test_mentions_count_once_per_brand_and_make_the_share_of_voice(config):
    def share(grain, start, brand, source):
        return _kpis(config, grain, start, brand, source)["share_of_voice"]

    # 18th: Acme m1 (found twice, counted once), RivalMart rm1
    assert _kpis(config, "day", date(2026, 11, 18), ACME, "reddit")["mentions"] == 1
    assert share("day", date(2026, 11, 18), ACME, "reddit") == _approx(0.5)
    # 19th: Acme m2 (m3 excluded), RivalMart rm2 and rm3
    assert share("day", date(2026, 11, 19), ACME, "reddit") == _approx(1 / 3)
    assert share("day", date(2026, 11, 19), RIVAL, "all") == _approx(2 / 3)
    # the week: Acme 2, RivalMart 3
    assert share("week", date(2026, 11, 16), ACME, "all") == _approx(2 / 5)


def test_satisfaction_per_dimension_and_the_weighted_index(config):
    rows = _query(
        config,
        "select dimension, items, score_5pt, satisfaction from mart_dimension_satisfaction "
        "where grain = 'day' and period_start = ? and brand = ? and source = 'all' "
        "order by dimension",
        [date(2026, 11, 18), ACME],
    )
    # quality: a1 0.5 -> 3 + 2 * 0.5 = 4, a2 -1 -> 1, a3 -0.5 -> 2; mean 7/3
    # delivery: a2 -0.5 -> 2
    assert rows == [
        {"dimension": "delivery", "items": 1, "score_5pt": 2.0, "satisfaction": 25.0},
        {
            "dimension": "quality",
            "items": 3,
            "score_5pt": _approx(7 / 3),
            "satisfaction": _approx(100 / 3),  # (7/3 - 1) / 4 * 100
        },
    ]
    # weights quality 0.30, delivery 0.15: (0.3 * 4/3 + 0.15 * 1) / (4 * 0.45) * 100
    assert _kpis(config, "day", date(2026, 11, 18), ACME, "all")["satisfaction_index"] == _approx(
        30.5555555556
    )
    # 19th: service a4 1 -> 5 and a8 -1 -> 1 (mean 3); price m2 -0.5 -> 2; a7, m3 excluded
    # (0.25 * 2 + 0.15 * 1) / (4 * 0.40) * 100 = 40.625; the App Store alone: service only, 50
    assert _kpis(config, "day", date(2026, 11, 19), ACME, "all")["satisfaction_index"] == _approx(
        40.625
    )
    assert _kpis(config, "day", date(2026, 11, 19), ACME, "appstore")[
        "satisfaction_index"
    ] == _approx(50.0)
    # the week: quality 7/3, delivery 2, service 3, price 2
    # (0.3 * 4/3 + 0.15 * 1 + 0.25 * 2 + 0.15 * 1) / (4 * 0.85) * 100 = 1.2 / 3.4 * 100
    assert _kpis(config, "week", date(2026, 11, 16), ACME, "all")["satisfaction_index"] == _approx(
        1.2 / 3.4 * 100
    )


def test_problem_types_counts_and_shares(config):
    rows = _query(
        config,
        "select problem, items, negative_items, share_of_items, share_of_problems "
        "from mart_problem_types "
        "where grain = 'day' and period_start = ? and brand = ? and source = 'appstore' "
        "order by problem",
        [date(2026, 11, 18), ACME],
    )
    # 3 reviews: a1 (positive) price; a2 product_quality + delivery; a3 product_quality
    # 4 problem mentions in all
    assert rows == [
        {
            "problem": "delivery_logistics",
            "items": 1,
            "negative_items": 1,
            "share_of_items": _approx(1 / 3),
            "share_of_problems": _approx(1 / 4),
        },
        {
            "problem": "price",
            "items": 1,
            "negative_items": 0,
            "share_of_items": _approx(1 / 3),
            "share_of_problems": _approx(1 / 4),
        },
        {
            "problem": "product_quality",
            "items": 2,
            "negative_items": 2,
            "share_of_items": _approx(2 / 3),
            "share_of_problems": _approx(2 / 4),
        },
    ]
    # 19th over all sources: 5 counted items (a4, a5, a6, a8, m2); a8 and m2 one problem each
    rows = _query(
        config,
        "select problem, items, share_of_items, share_of_problems from mart_problem_types "
        "where grain = 'day' and period_start = ? and brand = ? and source = 'all' "
        "order by problem",
        [date(2026, 11, 19), ACME],
    )
    assert [(r["problem"], r["items"]) for r in rows] == [("price", 1), ("service_attitude", 1)]
    assert [r["share_of_items"] for r in rows] == [_approx(1 / 5)] * 2
    assert [r["share_of_problems"] for r in rows] == [_approx(1 / 2)] * 2


def test_top_terms_per_sentiment(config):
    def terms(start, sentiment):
        return [
            (row["rank"], row["term"], row["items"], row["share_of_items"])
            for row in _query(
                config,
                "select * from mart_top_terms where grain = 'day' and period_start = ? "
                "and brand = ? and sentiment = ? order by rank",
                [start, ACME, sentiment],
            )
        ]

    # positive on the 18th: a1 (fast, great), m1 (great; "acme" is the brand's name)
    assert terms(date(2026, 11, 18), "positive") == [(1, "great", 2, 1.0), (2, "fast", 1, 0.5)]
    # negative: a2 (broken, late), a3 (broken twice: one item); 2 negative items
    assert terms(date(2026, 11, 18), "negative") == [(1, "broken", 2, 1.0), (2, "late", 1, 0.5)]
    # 19th: a8 (rude, slow), m2 (expensive): a tie of three, by term, cut at 2
    assert terms(date(2026, 11, 19), "negative") == [
        (1, "expensive", 1, 0.5),
        (2, "rude", 1, 0.5),
    ]
    # a7 and m3 are excluded: "zzz" never shows, "great" counts a4 only
    assert terms(date(2026, 11, 19), "positive") == [(1, "great", 1, 1.0)]


def test_overdue_list_of_each_day(config):
    rows = _query(
        config,
        "select as_of_day, review_id, hours_overdue, url, text from mart_overdue_reviews "
        "order by as_of_day, review_id",
    )
    found = [(row["as_of_day"].day, row["review_id"], row["hours_overdue"]) for row in rows]
    # a2: published 18th 11:00, due 19th 11:00, never answered; on the lists of the 19th
    #   (ending 20th 00:00: 13 h over) to the 25th (7 days after it was published: 157 h)
    # a3: due 19th 20:00, answered 20th 08:00: on the 19th's list only (4 h over)
    # a9: due 24th 09:00: 15 h over at the end of the 24th; lists end on the 26th, the
    #   newest day with data. a8 was answered within the hour; r2 is a competitor's.
    assert found == [
        (19, "a2", 13.0),
        (19, "a3", 4.0),
        (20, "a2", 37.0),
        (21, "a2", 61.0),
        (22, "a2", 85.0),
        (23, "a2", 109.0),
        (24, "a2", 133.0),
        (24, "a9", 15.0),
        (25, "a2", 157.0),
        (25, "a9", 39.0),
        (26, "a9", 63.0),
    ]
    assert rows[0]["url"] == "https://example.test/a2"
    assert rows[0]["text"] == "text of a2"


def test_sla_and_overdue_at_their_boundaries(tmp_path):
    config = _write_config(tmp_path, SETTINGS)
    items = [
        # answered exactly 24 h later, at the end of its day: within the SLA, never overdue
        _item("b1", ACME_APP, 1, "2026-11-10T00:00:00Z", "2026-11-11T00:00:00Z"),
        # answered 24 h and 1 s later: misses the SLA, but before any day's end found it open
        _item("b2", ACME_APP, 1, "2026-11-10T12:00:00Z", "2026-11-11T12:00:01Z"),
        _item("r1", RIVAL_APP, 5, "2026-11-12T09:00:00Z"),
    ]
    annotations = {"b1": ("negative", [], {}, [], []), "b2": ("negative", [], {}, [], [])}
    _load(config, items, annotations)
    transform_period(config, date(2026, 11, 10), date(2026, 11, 12))
    day = _kpis(config, "day", date(2026, 11, 10), ACME, "appstore")
    assert (day["negative_replied_within_sla"], day["sla_compliance"]) == (1, 0.5)
    assert day["first_response_p90_hours"] == pytest.approx(24 + 0.9 / 3600)  # 24 + 0.9 * 1 s
    assert _query(config, "select * from mart_overdue_reviews") == []


def test_overdue_lists_end_at_midnight_in_the_report_time_zone(tmp_path):
    config = _write_config(tmp_path, {**SETTINGS, "timezone": "Asia/Shanghai"})
    items = [
        # 20:00 UTC on the 10th is 04:00 on the 11th in Shanghai; due 04:00 on the 12th there
        _item("c1", ACME_APP, 1, "2026-11-10T20:00:00Z"),
        _item("r1", RIVAL_APP, 5, "2026-11-13T00:00:00Z"),  # the 13th in Shanghai
    ]
    _load(config, items, {"c1": ("negative", [], {}, [], [])})
    transform_period(config, date(2026, 11, 10), date(2026, 11, 13))
    rows = _query(
        config, "select as_of_day, hours_overdue from mart_overdue_reviews order by as_of_day"
    )
    # the 12th ends at 16:00 UTC on the 12th: 20 h after the due time (20:00 UTC on the 11th)
    assert rows == [
        {"as_of_day": date(2026, 11, 12), "hours_overdue": 20.0},
        {"as_of_day": date(2026, 11, 13), "hours_overdue": 44.0},
    ]


def test_reputation_score_and_its_components(config):
    day = _kpis(config, "day", date(2026, 11, 18), ACME, "appstore")
    assert day["reputation_rating"] == _approx(0.5625)  # (3.25 - 1) / 4
    assert day["reputation_volume"] == _approx(0.3)  # 3 / (3 + 7)
    assert day["reputation_recency"] == _approx(1.25 / 3)  # ((5-1)/4 + 0 + (2-1)/4) / 3
    assert day["reputation_sentiment"] == _approx(1 / 3)  # (1 + (1 - 2) / 3) / 2
    assert day["reputation_response"] == _approx(2 / 3)
    # 100 * (0.35 * 0.5625 + 0.10 * 0.3 + 0.15 * 0.41667 + 0.25 * 0.33333 + 0.15 * 0.66667)
    assert day["reputation_score"] == pytest.approx(47.2708333, abs=1e-6)

    month = _kpis(config, "month", date(2026, 11, 1), ACME, "appstore")
    # weights halve every 7 days before 30 Nov: 18th 0.5^(12/7) = 0.304753, 19th
    # 0.5^(11/7) = 0.336475, 23rd 0.5; (rating - 1) / 4 summed per day: 1.25, 1.25, 0.25
    # (0.304753 * 1.25 + 0.336475 * 1.25 + 0.5 * 0.25) / (0.304753 * 3 + 0.336475 * 3 + 0.5)
    assert month["reputation_recency"] == pytest.approx(0.3822838, abs=1e-6)


def test_changes_against_the_previous_period(config):
    def change(grain, start, metric):
        (row,) = _query(
            config,
            "select value, previous_value, change, relative_change from mart_kpi_baselines "
            "where grain = ? and period_start = ? and brand = ? and source = 'all' "
            "and metric = ?",
            [grain, start, ACME, metric],
        )
        return tuple(row.values())

    # negative reviews: 18th 2, 19th 1
    assert change("day", date(2026, 11, 19), "negative") == (1, 2, -1, -0.5)
    # week of the 23rd: 1 (a9) against 3 the week before; that week against 0
    assert change("week", date(2026, 11, 23), "negative") == (1, 3, -2, _approx(-2 / 3))
    assert change("week", date(2026, 11, 16), "negative") == (3, 0, 3, None)
    # November 8 reviews against October's 1
    assert change("month", date(2026, 11, 1), "reviews") == (8, 1, 7, 7.0)
    # the first period of a brand has nothing before it
    assert change("day", FIRST, "reviews") == (1, None, None, None)


def test_trailing_baselines_of_daily_figures(config):
    def baseline(day, metric):
        (row,) = _query(
            config,
            "select value, trailing_mean, trailing_stddev, trailing_periods, "
            "same_weekday_mean, same_weekday_stddev, same_weekday_periods "
            "from mart_kpi_baselines where grain = 'day' and period_start = ? "
            "and brand = ? and source = 'all' and metric = ?",
            [day, ACME, metric],
        )
        return row

    # negative reviews per day: 16th 0, 17th 0, 18th 2, 19th 1, 20th 0 (3-day window)
    nineteenth = baseline(date(2026, 11, 19), "negative")
    assert nineteenth["trailing_mean"] == _approx(2 / 3)  # (0 + 0 + 2) / 3
    # sqrt(((2/3)^2 + (2/3)^2 + (4/3)^2) / 2) = sqrt(4/3)
    assert nineteenth["trailing_stddev"] == pytest.approx(1.1547005, abs=1e-7)
    twentieth = baseline(date(2026, 11, 20), "negative")
    assert (twentieth["value"], twentieth["trailing_mean"]) == (0, _approx(1.0))  # (0+2+1)/3
    assert twentieth["trailing_stddev"] == _approx(1.0)
    # Wednesdays before the 25th: 18th 2, 11th 0 -> mean 1, stddev sqrt(2)
    wednesday = baseline(date(2026, 11, 25), "negative")
    assert wednesday["same_weekday_periods"] == 2
    assert wednesday["same_weekday_mean"] == _approx(1.0)
    assert wednesday["same_weekday_stddev"] == pytest.approx(1.4142136, abs=1e-7)
    # negative share has no value on quiet days: before the 19th only the 18th (2/3) has one,
    # fewer than min_trailing_days = 2
    share = baseline(date(2026, 11, 19), "negative_share")
    assert (share["trailing_periods"], share["trailing_mean"]) == (1, None)
    # the 20th: 18th 2/3 and 19th 1/4 -> mean 11/24, stddev (2/3 - 1/4) / sqrt(2)
    share = baseline(date(2026, 11, 20), "negative_share")
    assert share["value"] is None
    assert share["trailing_mean"] == _approx(11 / 24)
    assert share["trailing_stddev"] == pytest.approx(0.2946278, abs=1e-7)


# --- keys, accepted values, invariants -----------------------------------------------------

RATES_0_1 = {
    "mart_brand_kpis": (
        "negative_share",
        "positive_share_lower_bound",
        "response_rate",
        "sla_compliance",
        "share_of_voice",
        "reputation_rating",
        "reputation_volume",
        "reputation_recency",
        "reputation_sentiment",
        "reputation_response",
    ),
    "mart_problem_types": ("share_of_items", "share_of_problems"),
    "mart_top_terms": ("share_of_items",),
}
SCORES_0_100 = {
    "mart_brand_kpis": ("csat", "satisfaction_index", "reputation_score"),
    "mart_dimension_satisfaction": ("satisfaction",),
}
DAILY_COLUMNS = (
    "reviews",
    "mentions",
    "rated_reviews",
    "rating_1",
    "rating_2",
    "rating_3",
    "rating_4",
    "rating_5",
    "positive",
    "neutral",
    "negative",
)
ADDITIVE = (
    "reviews",
    "mentions",
    "excluded_reviews",
    "excluded_mentions",
    "rated_reviews",
    "rating_1",
    "rating_2",
    "rating_3",
    "rating_4",
    "rating_5",
    "positive",
    "neutral",
    "negative",
    "sentiment_unknown",
    "mention_positive",
    "mention_neutral",
    "mention_negative",
    "replied_reviews",
    "negative_replied_within_sla",
)


def _random_warehouse(tmp_path: Path) -> Config:
    """Two months of made-up reviews and mentions with random annotations (fixed seed): the
    invariants must hold whatever the figures are."""
    rng = random.Random(20261120)
    config = _write_config(tmp_path, SETTINGS)
    targets = [ACME_APP, RIVAL_APP, ACME_SEARCH, ACME_SUBREDDIT, RIVAL_SEARCH]
    problems = ["product_quality", "price", "service_attitude", "delivery_logistics"]
    items, annotations = [], {}
    for number in range(600):
        target = rng.choice(targets)
        published = datetime(2026, 10, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(86400))
        review_id = f"x{number}"
        if target.startswith("app_id"):
            reply = published + timedelta(hours=rng.uniform(0, 60)) if rng.random() < 0.6 else None
            item = _item(
                review_id,
                target,
                rng.choice([None, 1, 2, 3, 4, 5]),
                published.strftime("%Y-%m-%dT%H:%M:%SZ"),
                reply.strftime("%Y-%m-%dT%H:%M:%SZ") if reply else None,
            )
        else:
            item = _mention(review_id, target, published.strftime("%Y-%m-%dT%H:%M:%SZ"))
        items.append(item)
        if rng.random() < 0.9:
            annotations[review_id] = (
                rng.choice(["positive", "neutral", "negative"]),
                rng.sample(problems, rng.randrange(3)),
                {
                    dimension: round(rng.uniform(-1, 1), 2)
                    for dimension in rng.sample(SATISFACTION_DIMENSIONS, rng.randrange(3))
                },
                rng.sample(["gibberish", "too_short", "near_duplicate"], rng.randrange(2)),
                rng.sample(["good", "bad", "slow", "fast", "cheap", "late"], rng.randrange(4)),
            )
    _load(config, items, annotations)
    transform_period(config, date(2026, 10, 1), date(2026, 11, 30))
    return config


@pytest.fixture
def random_config(tmp_path) -> Config:
    return _random_warehouse(tmp_path)


# Marts of complaint and survey drops and of config events: these warehouses hold none of
# their inputs; tests/test_complaints.py and tests/test_events.py check their keys.
NOT_FROM_PUBLIC_REVIEWS = {"mart_complaints", "mart_surveys", "mart_event_effects"}


@pytest.mark.parametrize("which", ["config", "random_config"])
def test_keys_are_unique_and_not_null(which, request):
    config = request.getfixturevalue(which)
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        for model in _marts():
            if model.name in NOT_FROM_PUBLIC_REVIEWS:
                continue
            assert model.unique_key, f"{model.name} declares no unique key"
            key = ", ".join(model.unique_key)
            rows = con.execute(f"select count(*) from {model.name}").fetchone()[0]
            assert rows > 0, f"{model.name} is empty"
            distinct = con.execute(
                f"select count(*) from (select distinct {key} from {model.name})"
            ).fetchone()[0]
            assert distinct == rows, f"{model.name}: key ({key}) not unique"
            nulls = " or ".join(f"{column} is null" for column in model.unique_key)
            assert con.execute(f"select count(*) from {model.name} where {nulls}").fetchone() == (
                0,
            ), f"{model.name}: null in key ({key})"


def test_accepted_values(random_config):
    from repwatch.nlp.problems import TAXONOMY

    def values(sql):
        return {row[0] for row in con.execute(sql).fetchall()}

    with duckdb.connect(str(random_config.paths.warehouse), read_only=True) as con:
        for model in _marts():
            if model.name in NOT_FROM_PUBLIC_REVIEWS:
                continue
            columns = {
                row[0]
                for row in con.execute(
                    "select column_name from information_schema.columns where table_name = ?",
                    [model.name],
                ).fetchall()
            }
            if "grain" in columns:
                assert values(f"select grain from {model.name}") <= {"day", "week", "month"}
            if "source" in columns:
                assert values(f"select source from {model.name}") <= {"appstore", "reddit", "all"}
            # the report's daily mart carries the version of the KPI formulas it projects
            version = "brand_kpis" if model.name == "mart_brand_daily" else model.name[5:]
            assert values(f"select metric_version from {model.name}") == {f"{version}.v1"}
        assert values("select sentiment from mart_top_terms") == {"positive", "negative"}
        assert values("select problem from mart_problem_types") <= set(TAXONOMY)
        assert values("select dimension from mart_dimension_satisfaction") <= set(
            random_config.metrics.satisfaction_weights
        )
        assert values("select metric from mart_kpi_baselines") == {
            "reviews",
            "mentions",
            "negative",
            "negative_share",
            "avg_rating",
            "bayesian_rating",
            "csat",
            "nss",
            "response_rate",
            "sla_compliance",
            "satisfaction_index",
            "share_of_voice",
            "reputation_score",
        }
        # week rows start on Mondays, month rows on the 1st; periods end where they should
        assert values(
            "select distinct isodow(period_start) from mart_brand_kpis where grain = 'week'"
        ) == {1}
        assert values(
            "select distinct day(period_start) from mart_brand_kpis where grain = 'month'"
        ) == {1}
        assert values(
            "select distinct period_end - period_start from mart_brand_kpis where grain = 'week'"
        ) == {6}


def _sums_by(con, table: str, keys: str, where: str, columns: tuple[str, ...]) -> list[tuple]:
    sums = ", ".join(f"sum({column})" for column in columns)
    return con.execute(
        f"select {keys}, {sums} from {table} where {where} group by all order by all"
    ).fetchall()


@pytest.mark.parametrize("which", ["config", "random_config"])
def test_invariants(which, request):
    config = request.getfixturevalue(which)
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:

        def violations(table: str, condition: str) -> int:
            return con.execute(f"select count(*) from {table} where {condition}").fetchone()[0]

        kpis = "mart_brand_kpis"
        assert violations(kpis, "positive + neutral + negative + sentiment_unknown <> reviews") == 0
        assert (
            violations(
                kpis, "rating_1 + rating_2 + rating_3 + rating_4 + rating_5 <> rated_reviews"
            )
            == 0
        )
        assert violations(kpis, "rated_reviews > reviews or replied_reviews > reviews") == 0
        for table, columns in RATES_0_1.items():
            for column in columns:
                assert violations(table, f"{column} not between 0 and 1") == 0, column
        for table, columns in SCORES_0_100.items():
            for column in columns:
                assert violations(table, f"{column} not between 0 and 100") == 0, column
        assert violations(kpis, "nss not between -100 and 100") == 0
        assert violations(kpis, "avg_rating not between 1 and 5") == 0
        assert violations(kpis, "bayesian_rating not between 1 and 5") == 0
        assert violations(kpis, "first_response_p90_hours < first_response_median_hours") == 0
        # the pie of problem types, and the brands' shares of voice, add up to 1
        pie = (
            "(select sum(share_of_problems) as total from mart_problem_types "
            "group by grain, period_start, brand, source)"
        )
        assert violations(pie, "abs(total - 1) > 1e-9") == 0
        voice = (
            "(select sum(share_of_voice) as total from mart_brand_kpis "
            "where share_of_voice is not null group by grain, period_start, source)"
        )
        assert violations(voice, "abs(total - 1) > 1e-9") == 0
        for grain in ("week", "month"):
            # each week and month holds the sum of its days, per brand and source
            of_days = f"date_trunc('{grain}', period_start)::date"
            assert _sums_by(
                con, kpis, "brand, source, period_start", f"grain = '{grain}'", ADDITIVE
            ) == _sums_by(con, kpis, f"brand, source, {of_days}", "grain = 'day'", ADDITIVE)
            assert _sums_by(
                con,
                "mart_problem_types",
                "brand, source, problem, period_start",
                f"grain = '{grain}'",
                ("items", "negative_items"),
            ) == _sums_by(
                con,
                "mart_problem_types",
                f"brand, source, problem, {of_days}",
                "grain = 'day'",
                ("items", "negative_items"),
            )
        # a brand's 'all' row holds the sum of its sources
        keys = "grain, period_start, brand"
        assert _sums_by(con, kpis, keys, "source = 'all'", ADDITIVE) == _sums_by(
            con, kpis, keys, "source <> 'all'", ADDITIVE
        )
        # the report's daily mart is the day rows of the KPI mart
        daily = [column for column in ADDITIVE if column in DAILY_COLUMNS]
        assert _sums_by(con, "mart_brand_daily", "day, brand, source", "true", daily) == _sums_by(
            con, kpis, "period_start, brand, source", "grain = 'day' and source <> 'all'", daily
        )


# --- the period runner ---------------------------------------------------------------------


def test_ranges_widen_to_whole_weeks_and_months():
    # Thursday 19 Nov .. Friday 20 Nov: the week 16-22 and November
    assert widened_range(date(2026, 11, 19), date(2026, 11, 20)) == (
        date(2026, 11, 1),
        date(2026, 11, 30),
    )
    # Tuesday 1 Dec: its week starts Monday 30 Nov
    assert widened_range(date(2026, 12, 1), date(2026, 12, 1)) == (
        date(2026, 11, 30),
        date(2026, 12, 31),
    )
    # Thursday 31 Dec: its week (Monday 28 Dec) ends Sunday 3 Jan; December starts on the 1st
    assert widened_range(date(2026, 12, 31), date(2026, 12, 31)) == (
        date(2026, 12, 1),
        date(2027, 1, 3),
    )


def test_rerunning_a_range_gives_identical_marts(config):
    first = _contents(config)
    transform_period(config, FIRST, LAST)
    assert _contents(config) == first
    # a shorter range inside: the same rows
    transform_period(config, date(2026, 11, 19), date(2026, 11, 19))
    assert _contents(config) == first


def test_an_interrupted_run_leaves_the_previous_state_and_a_rerun_completes(config, monkeypatch):
    before = _contents(config)
    # new data for the 19th, then a run that fails half-way through its models
    late = _item("a10", ACME_APP, 1, "2026-11-19T18:00:00Z")
    _load(config, [late], {"a10": ("negative", ["price"], {}, [], ["late"])}, batch_id="b2")
    real_materialize = warehouse.materialize
    done = []

    def failing(con, model):
        if len(done) == 3:
            raise RuntimeError("injected failure")
        real_materialize(con, model)
        done.append(model.name)

    monkeypatch.setattr(warehouse, "materialize", failing)
    with pytest.raises(RuntimeError, match="injected"):
        transform_period(config, date(2026, 11, 19), date(2026, 11, 19))
    assert _contents(config) == before

    monkeypatch.setattr(warehouse, "materialize", real_materialize)
    transform_period(config, date(2026, 11, 19), date(2026, 11, 19))
    after = _contents(config)
    assert after != before
    assert _kpis(config, "day", date(2026, 11, 19), ACME, "appstore")["negative"] == 2
    # the same as recomputing everything
    transform_period(config, FIRST, LAST)
    assert _contents(config) == after


def test_annotations_stored_without_their_day_are_read_all_the_same(config):
    filed_by_day = _contents(config)
    with duckdb.connect(str(config.paths.warehouse)) as con:
        con.execute("update int_reviews_enriched set published_day = null")
    transform_period(config, FIRST, LAST)
    assert _contents(config) == filed_by_day


def test_a_run_of_some_models_leaves_the_others_alone(config):
    before = _contents(config)
    with duckdb.connect(str(config.paths.warehouse)) as con:
        con.execute("update mart_brand_kpis set reviews = -1")
        con.execute("update mart_top_terms set items = -1")
    transform_period(config, FIRST, LAST, models=["mart_brand_kpis"])
    assert _contents(config)["mart_brand_kpis"] == before["mart_brand_kpis"]
    assert _query(config, "select distinct items from mart_top_terms") == [{"items": -1}]
    with pytest.raises(ValueError, match="not period models: mart_nothing"):
        transform_period(config, FIRST, LAST, models=["mart_nothing"])


@pytest.mark.parametrize("which", ["config", "random_config"])
def test_the_benchmarks_pandas_peer_computes_the_marts_figures(which, request):
    from repwatch.bench.metrics import core_metrics_differences

    assert core_metrics_differences(request.getfixturevalue(which)) == []


def test_the_benchmarks_check_of_its_pandas_peer_sees_a_difference(config):
    from repwatch.bench.metrics import core_metrics_differences, pandas_core_metrics

    day = pandas_core_metrics(config).set_index(["day", "brand", "source"])
    acme_on_the_19th = day.loc[(pd.Timestamp(2026, 11, 19), ACME, "appstore")]
    # a4 4, a5 3, a8 1 (a6 unrated, a7 an ad): as test_review_figures_of_one_day has it
    assert acme_on_the_19th["reviews"] == 4
    assert acme_on_the_19th["csat"] == _approx(100 / 3)
    # A mart figure changed by one review: the check sees it.
    with duckdb.connect(str(config.paths.warehouse)) as con:
        con.execute(
            "update mart_brand_kpis set csat = 50 where grain = 'day' "
            "and period_start = '2026-11-19' and brand = ? and source = 'appstore'",
            [ACME],
        )
    assert len(core_metrics_differences(config)) == 1


def test_a_range_leaves_the_periods_outside_it_alone(config):
    with duckdb.connect(str(config.paths.warehouse)) as con:
        con.execute("update mart_brand_kpis set reviews = -1 where period_start < '2026-11-01'")
    # the 19th widens to November (and its week): October's rows keep the marker
    transform_period(config, date(2026, 11, 19), date(2026, 11, 19))
    october = _query(
        config, "select distinct reviews from mart_brand_kpis where period_start < '2026-11-01'"
    )
    assert october == [{"reviews": -1}]


def test_a_period_model_may_not_return_rows_outside_its_range(config, tmp_path):
    (tmp_path / "mart_bad.sql").write_text(
        "-- grain: one row\n-- materialized: period(day)\nselect date '2000-01-01' as day\n"
    )
    bad = Model.load("mart_bad", folder=tmp_path)
    with duckdb.connect(str(config.paths.warehouse)) as con:
        con.execute("set variable period_start = date '2026-11-01'")
        con.execute("set variable period_end = date '2026-11-30'")
        with pytest.raises(ValueError, match="outside the range"):
            warehouse.materialize(con, bad)
        con.execute("create table mart_bad (day date)")
        with pytest.raises(ValueError, match="outside the range"):
            warehouse.materialize(con, bad)


def test_transform_command_recomputes_a_range(config):
    from repwatch.cli import main

    result = CliRunner().invoke(
        main,
        [
            "--config",
            str(config.config_file),
            "transform",
            "--from",
            "2026-11-19",
            "--to",
            "2026-11-20",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2026-11-01 .. 2026-11-30" in result.output


def test_every_period_model_declares_grain_key_and_inputs():
    for name in PERIOD_MODELS:
        model = Model.load(name)
        text = model.sql
        assert "-- grain:" in text and "-- inputs:" in text, name
        assert model.unique_key, name


def test_config_names_match_the_enrichment():
    from repwatch.nlp import flags
    from repwatch.nlp.problems import DIMENSIONS

    assert SATISFACTION_DIMENSIONS == DIMENSIONS
    flag_values = {
        value.split(":")[0]
        for name, value in vars(flags).items()
        if name.isupper() and isinstance(value, str) and name not in ("AD_URL",)
    }
    assert set(FLAG_KINDS) <= flag_values
