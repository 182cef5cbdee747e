"""The reddit and hackernews mention spiders, each crawl in its own process
(`repwatch crawl` via crawl_in_subprocess), against the demo site over real HTTP."""

import json
import math
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from repwatch.crawl import CrawlOptions, CrawlStats, crawl_in_subprocess, rejects_path
from repwatch.demo_site.server import serve_in_thread
from repwatch.demo_site.sites import hackernews as demo_hackernews
from repwatch.demo_site.sites import reddit as demo_reddit
from repwatch.records import RECORD_FIELDS, clean_text, utc_iso
from spiders.sites.hackernews import HITS_PER_PAGE
from spiders.sites.reddit import PAGE_LIMIT

LAST_DAY = date(2026, 11, 20)
ACME = {"query": "Acme Shop"}
ACME_SHOPPING = {"query": "Acme Shop", "subreddit": "shopping"}
EVERYTHING = 1_000_000


@pytest.fixture(scope="module")
def site():
    with serve_in_thread(last_day=LAST_DAY) as base_url:
        yield base_url


def crawl(source: str, params: dict, out: Path, base_url: str, **options) -> CrawlStats:
    options = {"max_pages": 100, **options}
    return crawl_in_subprocess(
        source, params, out, CrawlOptions(base_url=base_url, download_delay=0, **options)
    )


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def served_posts(query: str, subreddit: str | None = None) -> list[dict]:
    """Every post the demo's search serves, newest first, as one unpaged listing."""
    document = demo_reddit.search_page(query, subreddit, None, EVERYTHING, LAST_DAY)
    return [child["data"] for child in document["data"]["children"]]


def served_hits(query: str, numeric_filters: str = "") -> list[dict]:
    parameters = {
        "query": query,
        "tags": "(story,comment)",
        "hitsPerPage": "1000",
        "numericFilters": numeric_filters,
    }
    return demo_hackernews.search_by_date(parameters, LAST_DAY)["hits"]


def catalogue_texts(site_name: str, profiles: dict, query: str) -> dict[str, str]:
    """The catalogue's text of each item, by review id."""
    items = demo_reddit.brand_items(site_name, query, LAST_DAY, profiles)
    return {item["review_id"]: item["text"] for item in items}


def assert_plain_mention(record: dict, source: str, target_id: str) -> None:
    assert tuple(record) == RECORD_FIELDS
    assert record["source"] == source and record["target_id"] == target_id
    assert record["kind"] == "mention" and record["rating"] is None
    assert record["reply_text"] is None and record["reply_at"] is None
    assert record["language"] == "en" and record["date_precision"] == "exact"


def test_reddit_crawl_follows_the_after_cursor_and_yields_every_post_once(site, tmp_path):
    out = tmp_path / "reddit.jsonl"
    served = served_posts("Acme Shop")
    texts = {
        demo_reddit.base36(int(key)): text
        for key, text in catalogue_texts("reddit", demo_reddit.PROFILES, "Acme Shop").items()
    }

    stats = crawl("reddit", ACME, out, site)

    records = read_jsonl(out)
    assert [r["review_id"] for r in records] == [post["name"] for post in served]
    withdrawn = {"deleted": 0, "removed": 0}
    for post, record in zip(served, records, strict=True):
        assert_plain_mention(record, "reddit", "query=Acme Shop")
        assert record["published_at"] == utc_iso(datetime.fromtimestamp(post["created_utc"], UTC))
        assert record["likes"] == post["score"]
        assert record["url"] == f"{site}{post['permalink']}"
        assert record["extra"]["subreddit"] == post["subreddit"]
        assert record["extra"]["num_comments"] == post["num_comments"]
        assert record["raw"] == post
        # Titles and bodies come HTML-escaped; the record has the text as written.
        assert record["title"] is not None and "&amp;" not in record["title"]
        if post["removed_by_category"] is not None:
            withdrawn[record["extra"]["withdrawn"]] += 1
            assert record["text"] is None
            assert (record["author"] is None) == (post["removed_by_category"] == "deleted")
        elif post["is_self"]:
            assert record["text"] == clean_text(texts[post["id"]])
            assert record["author"] == post["author"]
        else:
            assert record["text"] is None and record["extra"]["link"] == post["url"]
    assert withdrawn["deleted"] > 0 and withdrawn["removed"] > 0, "the demo serves both kinds"

    pages = math.ceil(len(served) / PAGE_LIMIT)
    assert pages > 2, "enough posts for the cursor to be followed more than once"
    assert stats.stopped_because == "last page"
    assert stats.requests == stats.responses == 1 + pages  # robots.txt and every page
    assert stats.items == len(served) and stats.rejects == 0 and stats.errors == 0
    assert rejects_path(out).read_text(encoding="utf-8") == ""


def test_reddit_crawl_restricted_to_a_subreddit(site, tmp_path):
    out = tmp_path / "shopping.jsonl"
    served = served_posts("Acme Shop", "shopping")
    everywhere = served_posts("Acme Shop")

    stats = crawl("reddit", ACME_SHOPPING, out, site)

    records = read_jsonl(out)
    assert 0 < len(served) < len(everywhere)
    assert [r["review_id"] for r in records] == [post["name"] for post in served]
    for record in records:
        assert_plain_mention(record, "reddit", "query=Acme Shop&subreddit=shopping")
        assert record["extra"]["subreddit"] == "shopping"
    assert stats.requests == 1 + math.ceil(len(served) / PAGE_LIMIT)
    assert stats.stopped_because == "last page"


def test_reddit_since_stops_paging_at_older_posts(site, tmp_path):
    out = tmp_path / "recent.jsonl"
    served = served_posts("Acme Shop")
    since = LAST_DAY - timedelta(days=4)

    def day(post: dict) -> date:
        return datetime.fromtimestamp(post["created_utc"], UTC).date()

    stats = crawl("reddit", ACME, out, site, since=since)

    records = read_jsonl(out)
    recent = [post["name"] for post in served if day(post) >= since]
    assert [r["review_id"] for r in records] == recent
    first_older = next(index for index, post in enumerate(served) if day(post) < since)
    pages_read = first_older // PAGE_LIMIT + 1
    assert stats.stopped_because == "older than since"
    assert stats.requests == 1 + pages_read < 1 + math.ceil(len(served) / PAGE_LIMIT)


def test_hackernews_crawl_pages_through_nb_pages_and_yields_every_hit_once(site, tmp_path):
    out = tmp_path / "hn.jsonl"
    served = served_hits("Acme Shop")
    texts = catalogue_texts("hackernews", demo_hackernews.PROFILES, "Acme Shop")

    stats = crawl("hackernews", ACME, out, site)

    records = read_jsonl(out)
    assert [r["review_id"] for r in records] == [hit["objectID"] for hit in served]
    kinds = set()
    for hit, record in zip(served, records, strict=True):
        assert_plain_mention(record, "hackernews", "query=Acme Shop")
        kind = hit["_tags"][0]
        kinds.add(kind)
        assert record["extra"]["item_type"] == kind
        assert record["published_at"] == utc_iso(datetime.fromtimestamp(hit["created_at_i"], UTC))
        assert record["url"] == f"https://news.ycombinator.com/item?id={hit['objectID']}"
        assert record["likes"] == hit.get("points", 0)
        assert record["title"] == clean_text(hit.get("title") or hit["story_title"])
        assert record["author"] == hit["author"]
        assert record["raw"] == hit
        # HN's HTML (paragraph tags, &#x27;, &#x2F;) back to the text that was written.
        body = hit.get("comment_text") or hit.get("story_text")
        assert record["text"] == (clean_text(texts[hit["objectID"]]) if body else None)
        if kind == "comment":
            assert record["extra"]["story_title"] == hit["story_title"]
            assert record["extra"]["story_id"] == str(hit["story_id"])
    assert kinds == {"story", "comment"}

    pages = math.ceil(len(served) / HITS_PER_PAGE)
    assert pages > 2, "enough hits for page/nbPages to be followed more than once"
    assert stats.stopped_because == "last page"
    assert stats.requests == stats.responses == 1 + pages
    assert stats.items == len(served) and stats.rejects == 0 and stats.errors == 0


def test_hackernews_since_is_sent_as_a_numeric_filter(site, tmp_path):
    out = tmp_path / "hn-recent.jsonl"
    since = LAST_DAY - timedelta(days=30)
    newer_than = int(datetime.combine(since, time(), UTC).timestamp())
    everything = served_hits("Acme Shop")
    newer = served_hits("Acme Shop", f"created_at_i>={newer_than}")
    assert 0 < len(newer) < len(everything)

    stats = crawl("hackernews", ACME, out, site, since=since)

    records = read_jsonl(out)
    assert [r["review_id"] for r in records] == [hit["objectID"] for hit in newer]
    assert all(r["published_at"][:10] >= since.isoformat() for r in records)
    # The server did the filtering: no page held an older hit for the spider to stop at,
    # and only the pages of newer hits were fetched.
    assert stats.stopped_because == "last page"
    assert stats.requests == 1 + math.ceil(len(newer) / HITS_PER_PAGE)
    assert stats.requests < 1 + math.ceil(len(everything) / HITS_PER_PAGE)
    assert stats.since == since.isoformat()


def test_an_unknown_query_finds_nothing(site, tmp_path):
    for source in ("reddit", "hackernews"):
        out = tmp_path / f"{source}.jsonl"

        stats = crawl(source, {"query": "Nobody Inc"}, out, site)

        assert read_jsonl(out) == []
        assert stats.stopped_because == "empty page" and stats.requests == 2
