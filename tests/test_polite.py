"""Polite crawling over real HTTP: retries that wait as the site asks (Retry-After) or back
off, one request at a time per site, the User-Agent naming the contact, and the development
HTTP cache. Time is only checked as a lower bound of a wait the crawler must make."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime

import pytest

from repwatch.crawl import CrawlOptions, crawl_in_subprocess
from repwatch.demo_site.routing import Response
from repwatch.demo_site.server import running_server
from spiders.middlewares import retry_after_seconds

LAST_DAY = date(2026, 11, 20)
ACME_US = {"app_id": "1000001", "country": "us"}
FEED = r"/us/rss/customerreviews/page=1/"


def crawl(tmp_path, base_url, **options):
    out = tmp_path / "out.jsonl"
    options = {"download_delay": 0, "max_pages": 2, "base_url": base_url, **options}
    return crawl_in_subprocess("appstore", ACME_US, out, CrawlOptions(**options)), out


def page_requests(server):
    return [seen for seen in server.seen if FEED in seen.path]


@pytest.mark.reliability(
    row="The demo site answering 429 Too Many Requests with Retry-After",
    expected="The crawler waits as long as Retry-After says before asking again, then reads "
    "the page and every item",
)
def test_retry_after_is_honoured_before_retrying(tmp_path):
    with running_server(last_day=LAST_DAY) as server:
        too_many = Response(b"slow down", "text/plain", 429, {"Retry-After": "2"})
        server.inject(FEED, too_many, times=1)
        stats, out = crawl(tmp_path, server.base_url)
        first, retry = page_requests(server)[:2]
    assert (first.fault, retry.fault) == (True, False)
    assert retry.at - first.at >= 2.0, "the retry waited as long as the site asked"
    assert stats.items == 100 and stats.rejects == 0


@pytest.mark.reliability(
    row="The demo site answering a page with a server error (503) on every try",
    expected="Asked 4 times in all, waiting 1, 2 and 4 s between tries; then the page is kept "
    "as a reject with its status and the crawl is recorded as stopped by an error",
)
def test_server_errors_are_retried_with_growing_waits_then_rejected(tmp_path):
    with running_server(last_day=LAST_DAY) as server:
        server.inject(FEED, Response.text("oops", status=503), times=10)
        stats, out = crawl(tmp_path, server.base_url)
        tries = page_requests(server)
    # RETRY_TIMES = 3: four tries, waits of 1, 2 and 4 s between them.
    assert len(tries) == 4
    gaps = [later.at - earlier.at for earlier, later in zip(tries, tries[1:], strict=False)]
    assert [round(gap) >= wait for gap, wait in zip(gaps, (1, 2, 4), strict=True)] == [True] * 3
    reject = json.loads((out.with_suffix(".rejects.jsonl")).read_text().splitlines()[0])
    assert reject["status"] == 503
    assert stats.stopped_because == "error" and stats.items == 0


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("0", 0.0), (None, None), ("soon", None)],
)
def test_retry_after_values(header, expected):
    assert retry_after_seconds(header) == expected


def test_retry_after_as_an_http_date():
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds(later, now=now) == 30.0


def test_one_request_at_a_time_per_site_by_default(tmp_path):
    with running_server(last_day=LAST_DAY) as server:
        stats, _ = crawl(tmp_path, server.base_url, max_pages=5, download_delay=0.3)
        pages = [seen for seen in server.seen if "/rss/" in seen.path]
    assert len(pages) == 5
    gaps = [later.at - earlier.at for earlier, later in zip(pages, pages[1:], strict=False)]
    assert min(gaps) >= 0.3 * 0.5, "Scrapy spaces requests 0.5–1.5 × the download delay"


def test_user_agent_names_the_contact(tmp_path):
    agents = []

    with running_server(last_day=LAST_DAY) as server:
        original = server.RequestHandlerClass.do_GET

        def recording(handler):
            agents.append(handler.headers.get("User-Agent"))
            original(handler)

        server.RequestHandlerClass = type(
            "Recording", (server.RequestHandlerClass,), {"do_GET": recording}
        )
        crawl(tmp_path, server.base_url, user_agent="repwatch/0.1 (+https://x.test; ops@acme.test)")
    assert agents and set(agents) == {"repwatch/0.1 (+https://x.test; ops@acme.test)"}


def test_http_cache_replays_a_crawl_without_the_site(tmp_path):
    cache = tmp_path / "httpcache"
    with running_server(last_day=LAST_DAY) as server:
        first, out = crawl(tmp_path, server.base_url, http_cache=cache)
        base_url = server.base_url
    first_records = out.read_text(encoding="utf-8").splitlines()
    # The site is gone now; the cache answers.
    second, out = crawl(tmp_path, base_url, http_cache=cache)
    assert second.items == first.items == len(first_records) > 0
    replayed = [json.loads(line)["review_id"] for line in out.read_text().splitlines()]
    assert replayed == [json.loads(line)["review_id"] for line in first_records]
