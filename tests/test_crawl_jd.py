"""The jd spider end to end: `repwatch crawl jd` in its own process against the demo site's
JD comment service over real HTTP, one product served in GBK and one in UTF-8."""

import json
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from repwatch.crawl import CrawlOptions, CrawlStats, crawl_in_subprocess, rejects_path, stats_path
from repwatch.demo_site import catalog
from repwatch.demo_site.server import serve_in_thread
from repwatch.demo_site.sites.jd import (
    ACME_PRODUCT,
    MAX_PAGES,
    PAGE_SIZE,
    RIVAL_PRODUCT,
    display_nickname,
)
from repwatch.records import RECORD_FIELDS, clean_text, utc_iso

LAST_DAY = date(2026, 11, 20)


@dataclass
class Crawl:
    product_id: str
    served: list[dict]  # what the site lets a client page through, newest first
    records: list[dict]
    stats: CrawlStats
    out: Path


@pytest.fixture(scope="module")
def site():
    with serve_in_thread(last_day=LAST_DAY) as base_url:
        yield base_url


def reachable(product_id: str) -> list[dict]:
    """The comments a client can page through: JD serves at most MAX_PAGES pages."""
    return catalog.items("jd", product_id, LAST_DAY)[: MAX_PAGES * PAGE_SIZE]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def crawl(site: str, out: Path, product_id: str, since: date | None = None) -> Crawl:
    options = CrawlOptions(since=since, base_url=site, download_delay=0)
    stats = crawl_in_subprocess("jd", {"product_id": product_id}, out, options)
    return Crawl(product_id, reachable(product_id), read_jsonl(out), stats, out)


@pytest.fixture(scope="module", params=[ACME_PRODUCT, RIVAL_PRODUCT], ids=["gbk", "utf8"])
def full_crawl(request, site, tmp_path_factory) -> Crawl:
    out = tmp_path_factory.mktemp("jd") / f"{request.param}.jsonl"
    return crawl(site, out, request.param)


def test_the_two_products_are_served_in_gbk_and_in_utf8(site):
    def first_page(product_id: str) -> tuple[str, bytes]:
        url = (
            f"{site}/comment/productPageComments.action?callback=fetchJSON_comment98"
            f"&productId={product_id}&score=0&sortType=6&page=0&pageSize=10"
        )
        with urllib.request.urlopen(url) as response:
            return response.headers["Content-Type"], response.read()

    gbk_type, gbk_body = first_page(ACME_PRODUCT)
    utf8_type, utf8_body = first_page(RIVAL_PRODUCT)

    assert gbk_type == "text/html;charset=GBK" and gbk_body.startswith(b"fetchJSON_comment98(")
    with pytest.raises(UnicodeDecodeError):
        gbk_body.decode("utf-8")
    assert utf8_type == "text/html;charset=utf-8"
    assert utf8_body.decode("utf-8").startswith("fetchJSON_comment98(")


def test_every_served_comment_is_crawled_exactly_once(full_crawl):
    records, served = full_crawl.records, full_crawl.served

    assert Counter(r["review_id"] for r in records) == Counter(r["review_id"] for r in served)
    assert [r["review_id"] for r in records] == [r["review_id"] for r in served]
    for record in records:
        assert tuple(record) == RECORD_FIELDS
        assert record["source"] == "jd" and record["kind"] == "review"
        assert record["target_id"] == f"product_id={full_crawl.product_id}"


def test_texts_ratings_and_dates_are_what_the_catalogue_served(full_crawl):
    by_id = {r["review_id"]: r for r in full_crawl.records}
    for review in full_crawl.served:
        record = by_id[review["review_id"]]
        # Exact text comparison: GBK pages decoded into the very characters served.
        assert record["text"] == clean_text(review["text"])
        assert record["language"] == "zh"
        assert record["rating"] == review["rating"]
        assert record["author"] == display_nickname(review)
        assert record["published_at"] == utc_iso(review["published_at"])
        assert record["date_precision"] == "exact"
        assert record["likes"] == review["vote_sum"]
        assert record["url"].endswith(f"/{full_crawl.product_id}.html#comment")
        assert record["extra"]["product_id"] == full_crawl.product_id
        assert record["extra"]["product_comment_count"] == len(
            catalog.items("jd", full_crawl.product_id, LAST_DAY)
        )
        assert record["extra"]["product_color"] and record["extra"]["product_size"]
        assert record["raw"]["id"] == int(review["review_id"])
    # Chinese is written as UTF-8, not as \\u escapes.
    assert full_crawl.served[0]["text"][:4] in full_crawl.out.read_text(encoding="utf-8")


def test_merchant_replies_and_their_times_match_what_was_served(full_crawl):
    by_id = {r["review_id"]: r for r in full_crawl.records}
    for review in full_crawl.served:
        record = by_id[review["review_id"]]
        assert record["reply_text"] == clean_text(review["reply_text"])
        assert record["reply_at"] == (utc_iso(review["reply_at"]) if review["reply_at"] else None)

    # The SLA input has every case: answered within 24 h, answered late, never answered.
    negative = [by_id[r["review_id"]] for r in full_crawl.served if r["rating"] <= 2]
    delays = [date_diff_hours(r["published_at"], r["reply_at"]) for r in negative if r["reply_at"]]
    assert any(hours <= 24 for hours in delays) and any(hours > 24 for hours in delays)
    assert any(r["reply_at"] is None for r in negative)


def date_diff_hours(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 3600


def test_the_crawl_stops_at_the_last_page_jd_serves_and_records_its_stats(full_crawl):
    stats, served = full_crawl.stats, full_crawl.served
    every = catalog.items("jd", full_crawl.product_id, LAST_DAY)
    pages = -(-len(served) // PAGE_SIZE)

    assert stats.stopped_because == "last page"
    assert stats.finish_reason == "finished"
    assert stats.items == len(served) == len(full_crawl.records)
    # robots.txt, then every page up to maxPage; nothing past it.
    assert stats.requests == stats.responses == 1 + pages
    assert stats.rejects == 0 and stats.errors == 0
    assert stats.target_id == f"product_id={full_crawl.product_id}"
    assert stats.params == {"product_id": full_crawl.product_id}
    assert rejects_path(full_crawl.out).read_text(encoding="utf-8") == ""
    assert CrawlStats.from_file(stats_path(full_crawl.out)) == stats
    if full_crawl.product_id == ACME_PRODUCT:
        # A busy product has more comments than JD's 100 pages reach.
        assert pages == MAX_PAGES and len(every) > len(served)
    else:
        assert served == every


def test_since_stops_paging_early_and_keeps_only_newer_comments(site, tmp_path):
    since = LAST_DAY - timedelta(days=6)
    served = reachable(ACME_PRODUCT)

    result = crawl(site, tmp_path / "since.jsonl", ACME_PRODUCT, since=since)

    recent = [r["review_id"] for r in served if r["published_at"].date() >= since]
    assert [r["review_id"] for r in result.records] == recent
    assert all(r["published_at"][:10] >= since.isoformat() for r in result.records)
    # Paging stops on the first page that reaches back past `since`.
    first_older = next(i for i, r in enumerate(served) if r["published_at"].date() < since)
    pages = first_older // PAGE_SIZE + 1
    assert result.stats.stopped_because == "older than since"
    assert result.stats.requests == 1 + pages < 1 + MAX_PAGES
    assert result.stats.items == len(recent) and result.stats.since == since.isoformat()
