"""The appstore spider and the crawl runner, each crawl in its own process, against the
demo site (and small misbehaving sites) over real HTTP."""

import json
import math
import subprocess
import sys
import threading
from collections import Counter
from contextlib import contextmanager
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from repwatch.crawl import CrawlOptions, CrawlStats, crawl_in_subprocess, rejects_path, stats_path
from repwatch.demo_site import catalog
from repwatch.demo_site.server import serve_in_thread
from repwatch.demo_site.sites.appstore import PAGE_SIZE
from repwatch.records import RECORD_FIELDS, clean_text, utc_iso

ROOT = Path(__file__).resolve().parents[1]
LAST_DAY = date(2026, 11, 20)
ACME_CN = {"app_id": "1000001", "country": "cn"}
ACME_US = {"app_id": "1000001", "country": "us"}
RIVAL_US = {"app_id": "2000002", "country": "us"}
RUN_SPIDER = """
import json, sys
from datetime import date
from pathlib import Path
from repwatch.crawl import CrawlOptions, run_spider
arguments = json.loads(sys.argv[1])
since = arguments.pop("since")
run_spider(
    arguments.pop("source"),
    arguments.pop("params"),
    Path(arguments.pop("out")),
    CrawlOptions(since=date.fromisoformat(since) if since else None, **arguments),
)
"""


@pytest.fixture(scope="module")
def site():
    with serve_in_thread(last_day=LAST_DAY) as base_url:
        yield base_url


def run_spider_in_subprocess(
    out: Path, params: dict, *, base_url: str, since: date | None = None, **options
) -> CrawlStats:
    arguments = {
        "source": "appstore",
        "params": params,
        "out": str(out),
        "since": since.isoformat() if since else None,
        "base_url": base_url,
        "download_delay": 0,
        **options,
    }
    completed = subprocess.run(
        [sys.executable, "-c", RUN_SPIDER, json.dumps(arguments)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return CrawlStats.from_file(stats_path(out))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_full_crawl_yields_every_served_review_exactly_once(site, tmp_path):
    out = tmp_path / "cn.jsonl"
    served = catalog.reviews_for("cn", "1000001", LAST_DAY)

    stats = run_spider_in_subprocess(out, ACME_CN, base_url=site, max_pages=100)

    records = read_jsonl(out)
    assert Counter(r["review_id"] for r in records) == Counter(r["review_id"] for r in served)
    by_id = {r["review_id"]: r for r in records}
    for review in served:
        record = by_id[review["review_id"]]
        assert tuple(record) == RECORD_FIELDS
        assert record["source"] == "appstore"
        assert record["target_id"] == "app_id=1000001&country=cn"
        assert record["rating"] == review["rating"]
        assert record["text"] == clean_text(review["text"])
        assert record["author"] == review["author"]
        assert record["published_at"] == utc_iso(review["published_at"])
        assert record["date_precision"] == "exact"
        assert record["language"] == "zh"
        assert record["likes"] == review["vote_sum"]
        assert record["raw"]["id"]["label"] == review["review_id"]
    # Chinese text is written as UTF-8, not as \\u escapes.
    assert served[0]["text"][:4] in out.read_text(encoding="utf-8")

    pages_with_reviews = math.ceil(len(served) / PAGE_SIZE)
    assert stats.stopped_because == "empty page"
    assert stats.finish_reason == "finished"
    assert stats.items == len(served)
    # robots.txt, every page, and the empty page that ends the crawl
    assert stats.requests == stats.responses == 1 + pages_with_reviews + 1
    assert stats.rejects == 0 and stats.errors == 0
    assert stats.target_id == "app_id=1000001&country=cn" and stats.params == ACME_CN
    assert stats.since is None and stats.base_url == site
    assert stats.started_at <= stats.finished_at
    assert rejects_path(out).read_text(encoding="utf-8") == ""
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "cn.jsonl",
        "cn.rejects.jsonl",
        "cn.stats.json",
    ]


def first_page_older_than(served: list[dict], since: date) -> int:
    """1-based number of the first page whose oldest dated review is before `since`."""
    for start in range(0, len(served), PAGE_SIZE):
        dated = [
            r["published_at"].date() for r in served[start : start + PAGE_SIZE] if r["published_at"]
        ]
        if dated and min(dated) < since:
            return start // PAGE_SIZE + 1
    raise AssertionError("no page reaches back to since")


def test_since_stops_pagination_early_and_drops_older_reviews(site, tmp_path):
    served = catalog.reviews_for("us", "1000001", LAST_DAY)
    since = LAST_DAY - timedelta(days=10)

    stats = run_spider_in_subprocess(tmp_path / "us.jsonl", ACME_US, base_url=site, since=since)

    records = read_jsonl(tmp_path / "us.jsonl")
    assert all(r["published_at"][:10] >= since.isoformat() for r in records)
    recent = [r["review_id"] for r in served if r["published_at"].date() >= since]
    assert sorted(r["review_id"] for r in records) == sorted(recent)
    pages = first_page_older_than(served, since)
    assert stats.stopped_because == "older than since"
    assert stats.requests == 1 + pages < 1 + math.ceil(len(served) / PAGE_SIZE)
    assert stats.items == len(recent) and stats.since == since.isoformat()


def test_reviews_without_a_date_are_kept_even_before_since(site, tmp_path):
    served = catalog.reviews_for("us", "2000002", LAST_DAY)
    # An undated review written before `since` on a page the crawl still fetches.
    since, undated = next(
        (review["written_at"].date() + timedelta(days=1), review)
        for index, review in enumerate(served)
        if review["published_at"] is None
        and index >= PAGE_SIZE
        and first_page_older_than(served, review["written_at"].date() + timedelta(days=1))
        == index // PAGE_SIZE + 1
    )

    stats = run_spider_in_subprocess(tmp_path / "rival.jsonl", RIVAL_US, base_url=site, since=since)

    records = read_jsonl(tmp_path / "rival.jsonl")
    by_id = {r["review_id"]: r for r in records}
    assert by_id[undated["review_id"]]["published_at"] is None
    assert by_id[undated["review_id"]]["date_precision"] == "unknown"
    older = [r for r in records if r["published_at"] and r["published_at"][:10] < str(since)]
    assert older == []
    assert stats.stopped_because == "older than since"


def test_max_pages_bounds_the_crawl(site, tmp_path):
    stats = run_spider_in_subprocess(tmp_path / "us.jsonl", ACME_US, base_url=site, max_pages=2)

    assert stats.stopped_because == "max pages"
    assert stats.items == 2 * PAGE_SIZE == len(read_jsonl(tmp_path / "us.jsonl"))
    assert stats.requests == 3


class StaticSite(BaseHTTPRequestHandler):
    """Answers every path with the same body; robots.txt as configured."""

    body = b"<html><body><h1>Service temporarily unavailable</h1></body></html>"
    status = 200
    robots_txt: bytes | None = None

    def do_GET(self):  # noqa: N802
        if self.path == "/robots.txt" and self.robots_txt is not None:
            self._send(200, self.robots_txt, "text/plain")
        else:
            self._send(self.status, self.body, "text/html")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002
        pass


@contextmanager
def static_site(**attributes):
    handler = type("ConfiguredStaticSite", (StaticSite,), attributes)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_site_serving_garbage_gives_a_reject_not_a_crash(tmp_path):
    out = tmp_path / "garbage.jsonl"
    with static_site() as base_url:
        stats = run_spider_in_subprocess(out, ACME_US, base_url=base_url)

    assert out.read_text(encoding="utf-8") == ""
    (reject,) = read_jsonl(rejects_path(out))
    assert (
        reject["url"]
        == f"{base_url}/us/rss/customerreviews/page=1/id=1000001/sortby=mostrecent/json"
    )
    assert reject["status"] == 200
    assert "not valid JSON" in reject["error"]
    assert reject["body"] == StaticSite.body.decode()
    assert stats.rejects == 1 and stats.items == 0
    assert stats.stopped_because == "error"
    assert stats.finish_reason == "finished"


def test_a_reject_body_is_cut_at_one_megabyte(tmp_path):
    out = tmp_path / "huge.jsonl"
    with static_site(body=b"x" * 1_500_000) as base_url:
        run_spider_in_subprocess(out, ACME_US, base_url=base_url)

    (reject,) = read_jsonl(rejects_path(out))
    assert len(reject["body"]) == 1_000_000


def test_an_http_error_page_is_rejected_with_its_status(site, tmp_path):
    out = tmp_path / "missing.jsonl"

    stats = run_spider_in_subprocess(out, ACME_US, base_url=f"{site}/moved")

    (reject,) = read_jsonl(rejects_path(out))
    assert reject["status"] == 404
    assert reject["url"].startswith(f"{site}/moved/us/rss/customerreviews/page=1/")
    assert stats.stopped_because == "error" and stats.items == 0


def test_robots_txt_is_obeyed_unless_told_otherwise(tmp_path):
    feed = json.dumps({"feed": {"id": {"label": "x"}}}).encode()
    with static_site(body=feed, robots_txt=b"User-agent: *\nDisallow: /\n") as base_url:
        obeyed = run_spider_in_subprocess(tmp_path / "obeyed.jsonl", ACME_US, base_url=base_url)
        ignored = run_spider_in_subprocess(
            tmp_path / "ignored.jsonl", ACME_US, base_url=base_url, obey_robots_txt=False
        )

    (reject,) = read_jsonl(rejects_path(tmp_path / "obeyed.jsonl"))
    assert "robots.txt" in reject["error"]
    assert obeyed.stopped_because == "error" and obeyed.responses == 1
    assert ignored.stopped_because == "empty page" and ignored.rejects == 0


def test_scrapy_crawl_works_from_the_repo_root(site, tmp_path):
    out = tmp_path / "scrapy.jsonl"
    since = LAST_DAY - timedelta(days=2)
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapy",
            "crawl",
            "appstore",
            "-a",
            "app_id=2000002",
            "-a",
            "country=us",
            "-a",
            f"base_url={site}",
            "-a",
            f"since={since}",
            "-s",
            "DOWNLOAD_DELAY=0",
            "-s",
            "AUTOTHROTTLE_START_DELAY=0",
            "-O",
            str(out),
        ],  # fmt: skip
        cwd=ROOT,
        capture_output=True,
        text=True,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    records = read_jsonl(out)
    served = catalog.reviews_for("us", "2000002", LAST_DAY)
    expected = {
        r["review_id"] for r in served if r["published_at"] and r["published_at"].date() >= since
    }
    assert {r["review_id"] for r in records if r["published_at"]} == expected
    assert all(tuple(record) == RECORD_FIELDS for record in records)


@pytest.mark.skipif(
    not (ROOT / "repwatch" / "cli.py").exists(), reason="needs the `repwatch crawl` command"
)
def test_crawl_in_subprocess_runs_the_repwatch_crawl_command(site, tmp_path):
    out = tmp_path / "nested" / "rival.jsonl"
    since = LAST_DAY - timedelta(days=5)

    stats = crawl_in_subprocess(
        "appstore", RIVAL_US, out, CrawlOptions(since=since, base_url=site, download_delay=0)
    )

    records = read_jsonl(out)
    assert stats.items == len(records) > 0
    assert stats.stopped_because == "older than since"
    assert rejects_path(out).exists()
    assert all(r["published_at"] is None or r["published_at"][:10] >= str(since) for r in records)


@pytest.mark.parametrize("since_days", [None, 20])
def test_pages_fetched_ahead_give_the_same_records_as_one_at_a_time(site, tmp_path, since_days):
    since = LAST_DAY - timedelta(days=since_days) if since_days else None
    one = run_spider_in_subprocess(
        tmp_path / "one.jsonl", ACME_US, base_url=site, since=since, max_pages=100
    )
    ahead = run_spider_in_subprocess(
        tmp_path / "ahead.jsonl", ACME_US, base_url=site, since=since, max_pages=100, concurrency=4
    )
    records_one = read_jsonl(tmp_path / "one.jsonl")
    records_ahead = read_jsonl(tmp_path / "ahead.jsonl")
    assert sorted(r["review_id"] for r in records_ahead) == sorted(
        r["review_id"] for r in records_one
    )
    assert len(records_one) == len({r["review_id"] for r in records_one}) > 0
    assert ahead.stopped_because == one.stopped_because
    # At most the pages in flight beyond where the listing ended were fetched in addition.
    assert one.requests <= ahead.requests <= one.requests + 4
