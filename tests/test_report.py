"""The daily report against a small warehouse built here with the warehouse's own DDL."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, date, datetime, timedelta

import duckdb
import pytest

from repwatch.config import Config, Paths
from repwatch.enrich import ENRICHED_DDL
from repwatch.report import build_daily_context, render_daily, write_archive

DAY = date(2026, 11, 26)
HOSTILE_TEXT = "Refund never came <script>alert(1)</script> & nobody answers"
HOSTILE_AUTHOR = "<b>x</b>"

WAREHOUSE_DDL = """
create table int_reviews (
    source varchar, review_id varchar, target_id varchar, brand varchar, is_competitor boolean,
    kind varchar, author varchar, rating integer, title varchar, text varchar, language varchar,
    published_at timestamptz, published_day date, date_precision varchar, reply_text varchar,
    reply_at timestamptz, url varchar, likes integer, sentiment varchar, crawled_at timestamptz,
    raw json
);
create table mart_brand_daily (
    day date, brand varchar, is_competitor boolean, source varchar, reviews integer,
    rated_reviews integer, avg_rating double, csat double, rating_1 integer, rating_2 integer,
    rating_3 integer, rating_4 integer, rating_5 integer, positive integer, neutral integer,
    negative integer, negative_share double, metric_version varchar, mentions integer
);
create table quarantine (
    source varchar, target_id varchar, review_id varchar, reason varchar, payload varchar,
    file varchar, line integer, quarantined_at timestamptz
);
"""


def make_config(data_dir, trend_days: int = 7) -> Config:
    config = Config.model_validate(
        {
            "timezone": "UTC",
            "brands": [
                {
                    "name": "Acme Shop",
                    "sources": [
                        {"source": "appstore", "targets": [{"app_id": "1", "country": "us"}]}
                    ],
                },
                {
                    "name": "RivalMart",
                    "competitor": True,
                    "sources": [
                        {"source": "appstore", "targets": [{"app_id": "2", "country": "us"}]}
                    ],
                },
            ],
            "reports": {
                "daily": {
                    "trend_days": trend_days,
                    "recipients": [{"email": "cs@acme.example", "name": "Customer service"}],
                }
            },
            "thresholds": {"negative_share_warning": 0.30, "min_reviews": 5},
        }
    )
    return config.model_copy(update={"paths": Paths(data_dir=data_dir)})


def mart_row(day, brand, source, ratings, unrated=0, competitor=False, mentions=0):
    """A mart row as the warehouse computes it: sentiment from the rating, unrated neutral."""
    rated = sum(ratings)
    reviews = rated + unrated
    negative = ratings[0] + ratings[1]
    positive = ratings[3] + ratings[4]
    neutral = ratings[2] + unrated
    rating_sum = sum(stars * count for stars, count in enumerate(ratings, start=1))
    return (
        day,
        brand,
        competitor,
        source,
        reviews,
        rated,
        rating_sum / rated if rated else None,
        (ratings[3] + ratings[4]) * 100 / rated if rated else None,
        *ratings,
        positive,
        neutral,
        negative,
        negative / reviews if reviews else None,
        "v1",
        mentions,
    )


def review_row(
    review_id, brand, rating, published_at, *, text="Bad app", author="Sam", source="appstore"
):
    sentiment = "negative" if rating <= 2 else "neutral" if rating == 3 else "positive"
    return (
        source,
        review_id,
        "app_id=1&country=us",
        brand,
        brand == "RivalMart",
        "review",
        author,
        rating,
        f"Title {review_id}",
        text,
        "en",
        published_at,
        published_at.date(),
        "exact",
        None,
        None,
        f"https://apps.example/review/{review_id}",
        0,
        sentiment,
        published_at + timedelta(hours=1),
        json.dumps({"id": review_id}),
    )


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def quarantine_row(review_id, reason, quarantined_at):
    payload = json.dumps({"id": review_id})
    return (
        "appstore",
        "app_id=1&country=us",
        review_id,
        reason,
        payload,
        "raw.jsonl",
        1,
        quarantined_at,
    )


def build_warehouse(path, extra_reviews=()):
    marts = [
        mart_row(DAY, "Acme Shop", "appstore", (4, 2, 1, 1, 2)),
        mart_row(DAY, "Acme Shop", "playstore", (0, 1, 0, 1, 2), unrated=1),
        mart_row(DAY - timedelta(days=1), "Acme Shop", "appstore", (1, 0, 1, 3, 3)),
        mart_row(DAY - timedelta(days=3), "Acme Shop", "appstore", (0, 0, 2, 2, 2)),
        # Outside every window of DAY: must not count.
        mart_row(DAY - timedelta(days=8), "Acme Shop", "appstore", (90, 0, 0, 0, 0)),
        mart_row(DAY + timedelta(days=1), "Acme Shop", "appstore", (50, 0, 0, 0, 0)),
        mart_row(DAY, "RivalMart", "appstore", (0, 0, 0, 2, 2), competitor=True),
        mart_row(DAY, "Acme Shop", "reddit", (0, 0, 0, 0, 0), mentions=4),
    ]
    reviews = [
        review_row("n1", "Acme Shop", 1, at(DAY, 9), text=HOSTILE_TEXT, author=HOSTILE_AUTHOR),
        review_row("n2", "Acme Shop", 2, at(DAY, 17), text="Crashes on start. " * 40),
        review_row("n3", "Acme Shop", 1, at(DAY, 12), source="playstore"),
        review_row("p1", "Acme Shop", 5, at(DAY, 10), text="Love it"),
        review_row("old", "Acme Shop", 1, at(DAY - timedelta(days=1), 23, 59)),
        review_row("rival", "RivalMart", 1, at(DAY, 11)),
        *extra_reviews,
    ]
    quarantine = [
        quarantine_row("q1", "rating out of range", at(DAY, 2)),
        quarantine_row("q2", "rating out of range", at(DAY, 2)),
        quarantine_row(None, "missing review_id", at(DAY, 3)),
        # Loaded before the report day: not counted.
        quarantine_row("q0", "future date", at(DAY, 0) - timedelta(minutes=1)),
    ]
    con = duckdb.connect(str(path))
    try:
        con.execute(WAREHOUSE_DDL)
        con.execute(ENRICHED_DDL)  # empty: sentiment falls back to the stars
        con.executemany(f"insert into mart_brand_daily values ({', '.join('?' * 19)})", marts)
        con.executemany(f"insert into int_reviews values ({', '.join('?' * 21)})", reviews)
        con.executemany(f"insert into quarantine values ({', '.join('?' * 8)})", quarantine)
    finally:
        con.close()
    return path


@pytest.fixture
def warehouse(tmp_path):
    return build_warehouse(tmp_path / "warehouse.duckdb")


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path / "data")


def daily_context(warehouse, config, day=DAY):
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return build_daily_context(con, config, day)
    finally:
        con.close()


def test_kpis_of_the_day_are_summed_over_sources(warehouse, config):
    acme = daily_context(warehouse, config)["brands"][0]
    today = acme["today"]
    assert acme["name"] == "Acme Shop"
    assert today["reviews"] == 15
    assert today["rated_reviews"] == 14
    # Weighted by rated reviews: (25 + 16) / 14, not the mean of 2.5 and 4.0.
    assert today["avg_rating"] == pytest.approx(41 / 14)
    assert today["csat"] == pytest.approx(6 / 14 * 100)
    assert (today["positive"], today["neutral"], today["negative"]) == (6, 2, 7)
    assert today["negative_share"] == pytest.approx(7 / 15)
    assert acme["warning"] is True


def test_changes_against_previous_day_and_trailing_week(warehouse, config):
    acme = daily_context(warehouse, config)["brands"][0]
    assert acme["previous"]["reviews"] == 8
    assert acme["previous"]["avg_rating"] == pytest.approx(31 / 8)
    assert acme["change_vs_previous"]["negative"] == 6
    assert acme["change_vs_previous"]["avg_rating"] == pytest.approx(41 / 14 - 31 / 8)
    assert acme["change_vs_previous"]["negative_share"] == pytest.approx(7 / 15 - 1 / 8)
    trailing = acme["trailing"]
    assert trailing["reviews"] == pytest.approx(14 / 7)
    assert trailing["negative"] == pytest.approx(1 / 7)
    assert trailing["avg_rating"] == pytest.approx(55 / 14)
    assert trailing["csat"] == pytest.approx(10 / 14 * 100)
    assert trailing["negative_share"] == pytest.approx(1 / 14)
    assert acme["change_vs_trailing"]["reviews"] == pytest.approx(15 - 2)


def test_sources_negative_reviews_competitors_and_completeness(warehouse, config):
    context = daily_context(warehouse, config)
    acme = context["brands"][0]
    assert [
        (row["source"], row["reviews"], row["avg_rating"], row["mentions"])
        for row in acme["sources"]
    ] == [
        ("appstore", 10, 2.5, 0),
        ("playstore", 5, 4.0, 0),
        ("reddit", 0, None, 4),
    ]
    assert [review["url"].rsplit("/", 1)[1] for review in acme["negative_reviews"]] == [
        "n2",
        "n3",
        "n1",
    ]
    assert acme["negative_reviews_total"] == 3
    shortened = acme["negative_reviews"][0]["text"]
    assert shortened.endswith("…") and len(shortened) <= 281
    assert [
        (row["name"], row["competitor"], row["reviews"], row["csat"])
        for row in context["comparison"]
    ] == [
        ("Acme Shop", False, 15, pytest.approx(6 / 14 * 100)),
        ("RivalMart", True, 4, 100.0),
    ]
    completeness = context["completeness"]
    assert completeness["quarantined"] == 3
    assert completeness["by_reason"] == [
        {"reason": "rating out of range", "rows": 2},
        {"reason": "missing review_id", "rows": 1},
    ]


def test_trend_is_zero_filled_over_the_configured_days(warehouse, config):
    trend = daily_context(warehouse, config)["brands"][0]["trend"]
    assert [point["day"] for point in trend] == [DAY - timedelta(days=n) for n in range(6, -1, -1)]
    assert [(p["positive"], p["neutral"], p["negative"]) for p in trend] == [
        (0, 0, 0),
        (0, 0, 0),
        (0, 0, 0),
        (4, 2, 0),
        (0, 0, 0),
        (6, 1, 1),
        (6, 2, 7),
    ]


def test_times_and_quarantine_window_follow_the_config_time_zone(tmp_path, warehouse):
    config = make_config(tmp_path / "data").model_copy(update={"timezone": "Asia/Shanghai"})
    context = daily_context(warehouse, config)
    newest = context["brands"][0]["negative_reviews"][0]
    assert newest["published_at"].isoformat() == "2026-11-27T01:00:00+08:00"
    # The day starts at 16:00 UTC the day before, so the 23:59 UTC row counts too.
    assert context["completeness"]["quarantined"] == 4
    assert context["completeness"]["since"].isoformat() == "2026-11-26T00:00:00+08:00"


def test_no_warning_below_minimum_reviews(tmp_path):
    config = make_config(tmp_path / "data")
    config = config.model_copy(
        update={"thresholds": config.thresholds.model_copy(update={"min_reviews": 16})}
    )
    acme = daily_context(build_warehouse(tmp_path / "w.duckdb"), config)["brands"][0]
    assert acme["today"]["negative_share"] > config.thresholds.negative_share_warning
    assert acme["warning"] is False


def test_negative_reviews_are_capped_at_twenty_newest(tmp_path, config):
    later = DAY + timedelta(days=1)
    extra = [review_row(f"x{n:02d}", "Acme Shop", 1, at(later, 0, n)) for n in range(25)]
    warehouse = build_warehouse(tmp_path / "w.duckdb", extra_reviews=extra)
    acme = daily_context(warehouse, config, later)["brands"][0]
    assert acme["negative_reviews_total"] == 25
    assert [r["url"][-3:] for r in acme["negative_reviews"]] == [
        f"x{n:02d}" for n in range(24, 4, -1)
    ]


def test_render_subject_parts_and_escaping(warehouse, config, record_property):
    rendered = render_daily(config, DAY, daily_context(warehouse, config))
    assert rendered.report == "daily"
    assert rendered.period == "2026-11-26"
    assert rendered.subject == "repwatch daily 2026-11-26 · Acme Shop: 7 negative reviews (47%) ▲"
    (content_id,) = rendered.images
    assert rendered.images[content_id].startswith(b"\x89PNG\r\n\x1a\n")
    image_tag = re.search(rf'<img[^>]*src="cid:{re.escape(content_id)}"[^>]*>', rendered.html)
    assert image_tag, "chart must be referenced by cid"
    for attribute in ('width="600"', 'height="260"', 'alt="Bar chart'):
        assert attribute in image_tag.group(0)
    assert rendered.html.startswith('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">')
    assert "<style" not in rendered.html.split("<body", 1)[1]
    assert 'style="' in rendered.html
    for html in (rendered.html, rendered.archive_html):
        assert "<script>" not in html and HOSTILE_AUTHOR not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&lt;b&gt;x&lt;/b&gt;" in html
    # text/plain is never interpreted as markup: the review is shown as written, not as entities.
    assert HOSTILE_TEXT in rendered.text and HOSTILE_AUTHOR in rendered.text
    assert "&lt;" not in rendered.text
    assert "Negative share 47%" in rendered.html
    assert "3 rows set aside by the quality gate" in rendered.text
    html_bytes = len(rendered.html.encode("utf-8"))
    record_property("html_part_bytes", html_bytes)
    print(f"HTML part: {html_bytes} bytes")
    assert html_bytes <= 100 * 1024


def test_archive_has_images_as_data_uris(warehouse, config):
    rendered = render_daily(config, DAY, daily_context(warehouse, config))
    assert "cid:" not in rendered.archive_html
    (png,) = rendered.images.values()
    assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in rendered.archive_html


def test_rendering_twice_is_identical(warehouse, config):
    first = render_daily(config, DAY, daily_context(warehouse, config))
    second = render_daily(config, DAY, daily_context(warehouse, config))
    assert first == second


def test_write_archive_and_index(tmp_path, warehouse, config):
    context = daily_context(warehouse, config)
    rendered = render_daily(config, DAY, context)
    earlier = render_daily(
        config, DAY - timedelta(days=1), daily_context(warehouse, config, DAY - timedelta(days=1))
    )
    path = write_archive(config, rendered)
    write_archive(config, earlier)
    assert path == tmp_path / "data" / "reports" / "daily" / "2026-11-26.html"
    first_bytes = path.read_bytes()
    index = (tmp_path / "data" / "reports" / "index.html").read_text(encoding="utf-8")
    first_index = index
    assert index.index('href="daily/2026-11-26.html"') < index.index('href="daily/2026-11-25.html"')
    write_archive(config, rendered)
    assert path.read_bytes() == first_bytes
    assert (tmp_path / "data" / "reports" / "index.html").read_text(encoding="utf-8") == first_index
    assert first_bytes.decode("utf-8") == rendered.archive_html
    assert not list((tmp_path / "data" / "reports").rglob("*.partial"))


def test_day_without_data_renders(tmp_path, warehouse, config):
    quiet_day = DAY - timedelta(days=30)
    context = daily_context(warehouse, config, quiet_day)
    acme = context["brands"][0]
    assert acme["today"]["reviews"] == 0 and acme["today"]["avg_rating"] is None
    assert acme["warning"] is False
    rendered = render_daily(config, quiet_day, context)
    assert rendered.subject == f"repwatch daily {quiet_day} · Acme Shop: 0 negative reviews"
    assert "No negative reviews" in rendered.html
