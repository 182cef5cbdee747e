"""Before/after effects of configured events (a fix, a statement, a campaign) on a small
hand-made batch: every figure checked against arithmetic done by hand; config validation."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from repwatch import warehouse
from repwatch.config import Config, ConfigError, load_config
from repwatch.records import RECORD_FIELDS

ACME = "domain=acme.example"
RIVAL = "domain=rival.example"
COMPLAINTS = "folder=drops/complaints&mapping=complaints"
EVENTS = [
    {
        "name": "Fix shipped",
        "date": "2026-11-10",
        "brand": "Acme Shop",
        "kind": "fix",
        "window_days": 3,
    },
    {
        "name": "Recent statement",
        "date": "2026-11-19",
        "brand": "Acme Shop",
        "kind": "statement",
        "window_days": 3,
    },
    {
        "name": "Future campaign",
        "date": "2026-11-25",
        "brand": "Acme Shop",
        "kind": "campaign",
        "window_days": 3,
    },
    {
        "name": "Rival campaign",
        "date": "2026-11-10",
        "brand": "RivalMart",
        "kind": "campaign",
        "window_days": 3,
    },
]


def _settings(tmp_path: Path, events: list[dict]) -> dict:
    return {
        "timezone": "UTC",
        "brands": [
            {
                "name": "Acme Shop",
                "sources": [
                    {"source": "trustpilot", "targets": [{"domain": "acme.example"}]},
                    {"source": "reddit", "targets": [{"query": "Acme Shop"}]},
                    {
                        "source": "files",
                        "targets": [{"folder": "drops/complaints", "mapping": "complaints"}],
                        "mappings": {"complaints": {"text": "text", "record_type": "complaint"}},
                    },
                ],
            },
            {
                "name": "RivalMart",
                "competitor": True,
                "sources": [{"source": "trustpilot", "targets": [{"domain": "rival.example"}]}],
            },
        ],
        "events": events,
        "paths": {"data_dir": str(tmp_path / "data")},
    }


def _config(tmp_path: Path, events: list[dict]) -> Config:
    path = tmp_path / "repwatch.yaml"
    path.write_text(yaml.safe_dump(_settings(tmp_path, events)), encoding="utf-8")
    return load_config(path)


def _item(
    review_id, day, rating, *, target_id=ACME, source="trustpilot", kind="review", extra=None
):
    record = {
        "source": source,
        "target_id": target_id,
        "review_id": review_id,
        "kind": kind,
        "author": "someone",
        "rating": rating,
        "title": None,
        "text": f"text of {review_id}",
        "language": "en",
        "published_at": f"{day}T12:00:00Z",
        "date_precision": "exact",
        "reply_text": None,
        "reply_at": None,
        "url": f"https://example.test/{review_id}",
        "likes": 0,
        "extra": json.dumps(extra) if extra else None,
        "crawled_at": "2026-11-21T00:00:00Z",
        "raw": json.dumps({"id": review_id}),
    }
    return {**record, "file": "batch.jsonl", "line": 1}


def _complaint(review_id, day):
    return _item(
        review_id,
        day,
        1,
        target_id=COMPLAINTS,
        source="files",
        extra={"record_type": "complaint", "channel": "电话", "category": "产品质量"},
    )


ROWS = [
    # Acme, before the fix (11-07..11-09): ratings 1, 2, 5 (its text negative), 3, unrated.
    _item("r1", "2026-11-07", 1),
    _item("r2", "2026-11-08", 2),
    _item("r3", "2026-11-08", 5),
    _item("r4", "2026-11-09", 3),
    _item("r5", "2026-11-09", None),
    _item("r6", "2026-11-06", 1),  # a day before the window
    # After the fix (11-10..11-12): 5, 4, 5, 2, and a flagged ad (excluded).
    _item("r7", "2026-11-10", 5),
    _item("r8", "2026-11-11", 4),
    _item("r9", "2026-11-11", 5),
    _item("r10", "2026-11-12", 2),
    _item("r12", "2026-11-12", 5),
    _item("r11", "2026-11-13", 1),  # a day after the window
    _item("m1", "2026-11-11", None, source="reddit", target_id="query=Acme Shop", kind="mention"),
    _complaint("c1", "2026-11-08"),
    _complaint("c2", "2026-11-10"),
    _complaint("c3", "2026-11-10"),
    _complaint("c4", "2026-11-12"),
    # Around the recent statement (11-19; the data ends 11-20).
    _item("r14", "2026-11-18", 2),
    _item("r15", "2026-11-19", 3),
    _item("r13", "2026-11-20", 4),
    # RivalMart around its campaign.
    _item("v1", "2026-11-09", 1, target_id=RIVAL),
    _item("v2", "2026-11-10", 5, target_id=RIVAL),
]
# Enrichment that differs from the stars: r3's text is negative, r12 is an ad.
ENRICHED = {"r3": ("negative", []), "r12": ("positive", ["ad_or_contact:url"])}


def _load(config: Config) -> None:
    frame = pd.DataFrame(ROWS, columns=[*RECORD_FIELDS, "file", "line"])
    frame["rating"] = frame["rating"].astype("Int64")
    quarantine = pd.DataFrame(
        columns=["source", "target_id", "review_id", "reason", "payload", "file", "line"]
    )
    warehouse.load_batch(config, frame, quarantine, batch_id="b1", files=[])
    with duckdb.connect(str(config.paths.warehouse)) as con:
        for review_id, (sentiment, flags) in ENRICHED.items():
            con.execute(
                """
                insert into int_reviews_enriched by name
                select
                    'trustpilot' as source, $target as target_id, $review as review_id,
                    'test' as enrichment_version, 'hash' as text_hash, 'en' as language,
                    $sentiment as sentiment, 0 as sentiment_score, $sentiment as text_sentiment,
                    0 as text_score, false as rating_disagreement, [] as problems,
                    $flags::varchar[] as flags, [] as terms, $now as enriched_at
                """,
                {
                    "target": ACME,
                    "review": review_id,
                    "sentiment": sentiment,
                    "flags": flags,
                    "now": datetime(2026, 11, 21, tzinfo=UTC),
                },
            )


@pytest.fixture
def effects(tmp_path: Path) -> dict[str, dict]:
    config = _config(tmp_path, EVENTS)
    _load(config)
    warehouse.transform_period(config, date(2026, 11, 20), date(2026, 11, 20))
    return _effects(config)


def _effects(config: Config) -> dict[str, dict]:
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        cursor = con.execute("select * from mart_event_effects order by event_name")
        names = [column[0] for column in cursor.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def test_a_fix_compared_over_equal_windows(effects):
    fix = effects["Fix shipped"]
    assert (fix["event_kind"], fix["brand"], fix["event_date"]) == (
        "fix",
        "Acme Shop",
        date(2026, 11, 10),
    )
    assert (fix["window_days"], fix["window_days_used"], fix["complete"]) == (3, 3, True)
    assert (fix["before_first_day"], fix["after_last_day"]) == (
        date(2026, 11, 7),
        date(2026, 11, 12),
    )
    assert fix["data_last_day"] == date(2026, 11, 20)
    # Before: r1..r5 (r6 is a day early). After: r7 r8 r9 r10 (r12 is an excluded ad).
    assert (fix["reviews_before"], fix["reviews_after"]) == (5, 4)
    assert fix["reviews_per_day_before"] == pytest.approx(5 / 3)
    assert fix["reviews_per_day_after"] == pytest.approx(4 / 3)
    assert fix["reviews_per_day_change"] == pytest.approx(-1 / 3)
    # Ratings (1 + 2 + 5 + 3) / 4 = 2.75 -> (5 + 4 + 5 + 2) / 4 = 4.0.
    assert fix["avg_rating_before"] == pytest.approx(2.75)
    assert fix["avg_rating_after"] == pytest.approx(4.0)
    assert fix["avg_rating_change"] == pytest.approx(1.25)
    # Sentiment before: r1 r2 negative, r3 negative by its text, r4 neutral, r5 unknown:
    # negative share 3 / 5 = 0.6, NSS 100 * (0 - 3) / 4 = -75. After: 3 positive, 1 negative:
    # 1 / 4 = 0.25 and 100 * (3 - 1) / 4 = 50.
    assert fix["negative_share_before"] == pytest.approx(0.6)
    assert fix["negative_share_after"] == pytest.approx(0.25)
    assert fix["negative_share_change"] == pytest.approx(-0.35)
    assert fix["nss_before"] == pytest.approx(-75)
    assert fix["nss_after"] == pytest.approx(50)
    assert fix["nss_change"] == pytest.approx(125)
    # CSAT: 1 of 4 rated 4-5 before (25), 3 of 4 after (75).
    assert fix["csat_before"] == pytest.approx(25)
    assert fix["csat_after"] == pytest.approx(75)
    assert fix["csat_change"] == pytest.approx(50)
    # Complaints: c1 before; c2 c3 c4 after.
    assert (fix["complaints_before"], fix["complaints_after"], fix["complaints_change"]) == (
        1,
        3,
        2,
    )
    assert fix["metric_version"] == "event_effects.v1"


def test_a_recent_event_uses_the_days_it_has_had_on_both_sides(effects):
    recent = effects["Recent statement"]
    # The data ends 11-20: two days from 11-19 on, so two days before as well.
    assert (recent["window_days_used"], recent["complete"]) == (2, False)
    assert (recent["before_first_day"], recent["after_last_day"]) == (
        date(2026, 11, 17),
        date(2026, 11, 20),
    )
    # Before: r14 (2). After: r15 (3) and r13 (4).
    assert (recent["reviews_per_day_before"], recent["reviews_per_day_after"]) == (0.5, 1.0)
    assert (recent["avg_rating_before"], recent["avg_rating_after"]) == (2.0, 3.5)
    # Before: 1 negative of 1 -> share 1, NSS -100, CSAT 0. After: neutral + positive ->
    # share 0, NSS 100 * (1 - 0) / 2 = 50, CSAT 1 of 2 = 50.
    assert (recent["negative_share_before"], recent["negative_share_after"]) == (1.0, 0.0)
    assert (recent["nss_before"], recent["nss_after"]) == (-100, 50)
    assert (recent["csat_before"], recent["csat_after"]) == (0, 50)
    assert (recent["complaints_before"], recent["complaints_after"]) == (0, 0)


def test_an_event_after_the_data_has_no_figures_yet(effects):
    future = effects["Future campaign"]
    assert (future["window_days_used"], future["complete"]) == (0, False)
    figures = {
        name: value
        for name, value in future.items()
        if name.endswith(("_before", "_after", "_change"))
    }
    assert figures and set(figures.values()) == {None}


def test_each_event_counts_its_own_brand(effects):
    rival = effects["Rival campaign"]
    # v1 (1) the day before, v2 (5) on the day; Acme's reviews and complaints do not count.
    assert (rival["reviews_before"], rival["reviews_after"]) == (1, 1)
    assert (rival["avg_rating_before"], rival["avg_rating_after"]) == (1.0, 5.0)
    assert (rival["complaints_before"], rival["complaints_after"]) == (0, 0)
    assert set(effects) == {event["name"] for event in EVENTS}


def test_rerunning_gives_identical_effects(effects, tmp_path):
    config = load_config(tmp_path / "repwatch.yaml")
    warehouse.transform_period(config, date(2026, 11, 1), date(2026, 11, 20))
    warehouse.transform_period(config, date(2026, 11, 20), date(2026, 11, 20))
    assert _effects(config) == effects


def test_no_events_no_rows(tmp_path):
    config = _config(tmp_path, [])
    _load(config)
    warehouse.transform_period(config, date(2026, 11, 20), date(2026, 11, 20))
    assert _effects(config) == {}


def test_events_are_validated(tmp_path):
    unknown_brand = [{**EVENTS[0], "brand": "Nobody"}]
    with pytest.raises(ConfigError, match="events.0: no brand named 'Nobody'"):
        _config(tmp_path, unknown_brand)
    with pytest.raises(ConfigError, match="listed more than once"):
        _config(tmp_path, [EVENTS[0], EVENTS[0]])
    with pytest.raises(ConfigError, match="kind"):
        _config(tmp_path, [{**EVENTS[0], "kind": "rumour"}])
    defaults = _config(tmp_path, [{"name": "x", "date": "2026-11-10", "brand": "Acme Shop"}])
    assert (defaults.events[0].window_days, defaults.events[0].kind) == (14, "other")


def test_the_demo_config_has_an_event_of_its_own_brand():
    demo = load_config(Path(__file__).resolve().parents[1] / "demo" / "repwatch.yaml")
    own = {brand.name for brand in demo.brands if not brand.competitor}
    assert demo.events and all(event.brand in own for event in demo.events)
