"""The jsonld and trustpilot spiders end to end: each crawl in its own process
(`repwatch crawl` through crawl_in_subprocess) against the demo site over real HTTP."""

import json
import math
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from repwatch.crawl import CrawlOptions, CrawlStats, crawl_in_subprocess, rejects_path
from repwatch.demo_site import catalog
from repwatch.demo_site.server import serve_in_thread
from repwatch.demo_site.sites import jsonld as jsonld_site
from repwatch.demo_site.sites import trustpilot as trustpilot_site
from repwatch.records import RECORD_FIELDS, clean_text, utc_iso

LAST_DAY = date(2026, 11, 20)
HOTEL_URL = "https://www.acme-hotels.example/hotels/acme-shop-downtown"
SHOP_URL = "https://www.rivalmart.example/shop/rivalmart-flagship"


@pytest.fixture(scope="module")
def site():
    with serve_in_thread(last_day=LAST_DAY) as base_url:
        yield base_url


def crawl(source: str, params: dict, out: Path, site: str, **options) -> CrawlStats:
    return crawl_in_subprocess(
        source, params, out, CrawlOptions(base_url=site, download_delay=0, **options)
    )


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_clean_run(stats: CrawlStats, out: Path, pages: int) -> None:
    assert stats.rejects == 0 and stats.errors == 0
    assert rejects_path(out).read_text(encoding="utf-8") == ""
    assert stats.stopped_because == "last page"
    # robots.txt, then every page once: the last page links to no next one
    assert stats.requests == stats.responses == 1 + pages


def test_jsonld_hotel_crawl_gets_every_review_once_scaled_from_ten_points(site, tmp_path):
    out = tmp_path / "hotel.jsonl"
    served = catalog.items("jsonld", jsonld_site.HOTEL_PATH, LAST_DAY)

    stats = crawl("jsonld", {"url": HOTEL_URL}, out, site, max_pages=1000)

    records = read_jsonl(out)
    ids = [f"{HOTEL_URL}/reviews/{review['review_id']}" for review in served]
    assert Counter(r["review_id"] for r in records) == Counter(ids)
    by_id = {r["review_id"]: r for r in records}
    for review, review_id in zip(served, ids, strict=True):
        record = by_id[review_id]
        assert tuple(record) == RECORD_FIELDS
        assert record["source"] == "jsonld" and record["kind"] == "review"
        assert record["target_id"] == f"url={HOTEL_URL}"
        # 2·stars or 2·stars−1 of 10 comes back as the stars
        assert record["raw"]["reviewRating"]["bestRating"] == "10"
        assert record["rating"] == review["rating"]
        assert record["published_at"] == f"{review['published_at'].date()}T00:00:00Z"
        assert record["date_precision"] == "day"
        assert record["text"] == clean_text(review["text"])
        assert record["author"] == review["author"]
        assert record["likes"] == review["vote_sum"]
        assert record["url"] == review_id
    assert {r["raw"]["reviewRating"]["ratingValue"] for r in records} >= {"9", "10", "1", "2"}
    assert stats.items == len(served)
    assert_clean_run(stats, out, math.ceil(len(served) / jsonld_site.PAGE_SIZE))


def test_jsonld_microdata_shop_is_read_through_the_proxied_next_links(site, tmp_path):
    out = tmp_path / "shop.jsonl"
    served = catalog.items("jsonld", jsonld_site.SHOP_PATH, LAST_DAY)

    stats = crawl("jsonld", {"url": SHOP_URL}, out, site, max_pages=1000)

    records = read_jsonl(out)
    # No ids on the page: a stable hash each, distinct for distinct reviews.
    assert len({r["review_id"] for r in records}) == len(records) == len(served)
    by_content = {(r["author"], r["text"]): r for r in records}
    undated = 0
    for index, review in enumerate(served):
        record = by_content[(review["author"], clean_text(review["text"]))]
        assert record["extra"]["markup"] == "microdata"
        assert record["rating"] == review["rating"]
        page = index // jsonld_site.PAGE_SIZE + 1
        assert record["url"] == SHOP_URL + (f"?page={page}" if page > 1 else "")
        if review["published_at"] is None:
            undated += 1
            assert record["published_at"] is None and record["date_precision"] == "unknown"
        else:
            assert record["published_at"] == utc_iso(review["published_at"])
            assert record["date_precision"] == "exact"
    assert undated > 0
    assert_clean_run(stats, out, math.ceil(len(served) / jsonld_site.PAGE_SIZE))


def test_jsonld_max_pages_bounds_the_crawl(site, tmp_path):
    out = tmp_path / "hotel.jsonl"

    stats = crawl("jsonld", {"url": HOTEL_URL}, out, site, max_pages=2)

    assert stats.stopped_because == "max pages"
    assert stats.items == 2 * jsonld_site.PAGE_SIZE == len(read_jsonl(out))
    assert stats.requests == 3


def test_trustpilot_crawl_gets_every_review_once_with_the_business_replies(site, tmp_path):
    out = tmp_path / "acme.jsonl"
    served = catalog.items("trustpilot", "acme-shop.example", LAST_DAY)

    stats = crawl("trustpilot", {"domain": "acme-shop.example"}, out, site, max_pages=1000)

    records = read_jsonl(out)
    ids = [trustpilot_site.trustpilot_id(review) for review in served]
    assert Counter(r["review_id"] for r in records) == Counter(ids)
    by_id = {r["review_id"]: r for r in records}
    for review, review_id in zip(served, ids, strict=True):
        record = by_id[review_id]
        assert tuple(record) == RECORD_FIELDS
        assert record["target_id"] == "domain=acme-shop.example"
        assert record["rating"] == review["rating"]
        assert record["published_at"] == utc_iso(review["published_at"])
        assert record["title"] == clean_text(review["title"])
        assert record["likes"] == review["vote_sum"]
        assert record["url"] == f"{site}/reviews/{review_id}"
        assert record["extra"]["source_data"] == "__NEXT_DATA__"
        if review["reply_text"] is None:
            assert record["reply_text"] is None and record["reply_at"] is None
        else:
            assert record["reply_text"] == clean_text(review["reply_text"])
            assert record["reply_at"] == utc_iso(review["reply_at"])
    replied = [r for r in records if r["reply_text"]]
    negative = [r for r in records if r["rating"] <= 2]
    assert 0 < len(replied) < len(records)
    assert sum(1 for r in negative if r["reply_text"]) > len(negative) / 2
    assert_clean_run(stats, out, math.ceil(len(served) / trustpilot_site.PAGE_SIZE))


def test_trustpilot_without_next_data_falls_back_to_json_ld(site, tmp_path):
    out = tmp_path / "rival.jsonl"
    served = catalog.items("trustpilot", "rivalmart.example", LAST_DAY)

    stats = crawl("trustpilot", {"domain": "rivalmart.example"}, out, site, max_pages=1000)

    records = read_jsonl(out)
    by_id = {r["review_id"]: r for r in records}
    assert len(records) == len(by_id) == len(served)
    for review in served:
        record = by_id[trustpilot_site.trustpilot_id(review)]
        assert record["extra"]["source_data"] == "json-ld"
        assert record["rating"] == review["rating"]
        assert record["published_at"] == utc_iso(review["published_at"])
        assert record["author"] == review["author"]
        assert record["title"] == clean_text(review["title"])
        assert record["reply_text"] is None
    assert_clean_run(stats, out, math.ceil(len(served) / trustpilot_site.PAGE_SIZE))


def test_trustpilot_since_stops_pagination_early(site, tmp_path):
    out = tmp_path / "acme.jsonl"
    served = catalog.items("trustpilot", "acme-shop.example", LAST_DAY)
    since = LAST_DAY - timedelta(days=6)

    stats = crawl("trustpilot", {"domain": "acme-shop.example"}, out, site, since=since)

    records = read_jsonl(out)
    recent = [r for r in served if r["published_at"].date() >= since]
    assert sorted(r["review_id"] for r in records) == sorted(
        trustpilot_site.trustpilot_id(r) for r in recent
    )
    # the page holding the first older review is the last one fetched
    pages = next(
        index // trustpilot_site.PAGE_SIZE + 1
        for index, review in enumerate(served)
        if review["published_at"].date() < since
    )
    assert stats.stopped_because == "older than since"
    assert stats.requests == 1 + pages < 1 + math.ceil(len(served) / trustpilot_site.PAGE_SIZE)


def test_jsonld_since_keeps_whole_days_and_stops_early(site, tmp_path):
    out = tmp_path / "hotel.jsonl"
    served = catalog.items("jsonld", jsonld_site.HOTEL_PATH, LAST_DAY)
    since = LAST_DAY - timedelta(days=10)

    stats = crawl("jsonld", {"url": HOTEL_URL}, out, site, since=since)

    records = read_jsonl(out)
    recent = {
        f"{HOTEL_URL}/reviews/{r['review_id']}" for r in served if r["published_at"].date() >= since
    }
    assert {r["review_id"] for r in records} == recent
    assert stats.stopped_because == "older than since"
    assert stats.requests < 1 + math.ceil(len(served) / jsonld_site.PAGE_SIZE)


def test_trustpilot_pages_fetched_ahead_still_give_each_review_once(site, tmp_path):
    out = tmp_path / "acme.jsonl"
    served = catalog.items("trustpilot", "acme-shop.example", LAST_DAY)

    stats = crawl(
        "trustpilot", {"domain": "acme-shop.example"}, out, site, max_pages=1000, concurrency=4
    )

    records = read_jsonl(out)
    ids = Counter(trustpilot_site.trustpilot_id(review) for review in served)
    assert Counter(r["review_id"] for r in records) == ids
    assert stats.stopped_because == "last page" and stats.rejects == 0
