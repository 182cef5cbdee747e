"""Good citizenship over real HTTP against the demo site: robots.txt rules for a path and for
our user agent are honoured (the disallowed page is never requested), and the configured
delay spaces every request to a site, across the targets of a source and with other sites
crawled in parallel.

tests/test_polite.py covers retries, Retry-After, one request at a time within one crawl and
the User-Agent; tests/test_crawl_appstore.py a robots.txt that disallows everything.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from repwatch.config import load_config
from repwatch.crawl import CrawlOptions, crawl_in_subprocess, rejects_path
from repwatch.demo_site.routing import Response
from repwatch.demo_site.server import running_server
from tests.conftest import demo_settings, project_scrapy_settings, write_settings

reliability = pytest.mark.reliability

DAY = date(2026, 11, 20)
ACME_US = {"app_id": "1000001", "country": "us"}
PAGE_2 = "/us/rss/customerreviews/page=2/"
AGENT = "repwatch/0.1 (+https://repwatch.example; ops@acme.example)"
ROBOTS_TXT = f"User-agent: *\nAllow: /\n\nUser-agent: repwatch\nDisallow: {PAGE_2}\n"


def crawl(tmp_path, base_url, user_agent, name):
    out = tmp_path / f"{name}.jsonl"
    options = CrawlOptions(base_url=base_url, user_agent=user_agent, download_delay=0, max_pages=3)
    return crawl_in_subprocess("appstore", ACME_US, out, options), out


@reliability(
    row="robots.txt disallowing one path for our user agent (and allowing it for others)",
    expected="The disallowed page is never requested; it is kept as a reject saying robots.txt "
    "forbids it and the crawl stops there; another agent's crawl is not affected",
)
def test_a_path_disallowed_for_our_agent_is_never_requested(tmp_path):
    with running_server(last_day=DAY) as server:
        server.inject(r"^/robots\.txt$", Response.text(ROBOTS_TXT), times=2)
        ours, out = crawl(tmp_path, server.base_url, AGENT, "ours")
        seen_by_ours = [seen.path for seen in server.seen]
        server.seen.clear()
        other, _ = crawl(tmp_path, server.base_url, "otherbot/2.0 (+https://x.example)", "other")
        seen_by_other = [seen.path for seen in server.seen]

    assert seen_by_ours[0] == "/robots.txt"
    assert any("/page=1/" in path for path in seen_by_ours)
    assert not any(PAGE_2 in path for path in seen_by_ours), "a disallowed page was fetched"
    (reject,) = [json.loads(line) for line in rejects_path(out).read_text().splitlines()]
    assert PAGE_2 in reject["url"] and "robots.txt" in reject["error"]
    assert ours.stopped_because == "error" and ours.items > 0 and ours.rejects == 1
    # The rule names our agent only: another agent reads page 2.
    assert any(PAGE_2 in path for path in seen_by_other)
    assert other.rejects == 0


ARRIVAL_NOISE_SECONDS = 0.05


@reliability(
    row="Request spacing per site, from the configured delay, with two targets of one source "
    "in a row and another site crawled in parallel",
    expected="Every request to a site (robots.txt included) arrives at least the configured "
    "delay after the one before (no random jitter; 50 ms allowed for arrival-time noise); "
    "sites are crawled side by side",
)
def test_requests_to_each_site_are_spaced_by_the_configured_delay(tmp_path, monkeypatch):
    from repwatch.pipeline import crawl_targets

    monkeypatch.delenv("REPWATCH_DATA_DIR", raising=False)
    delay = 0.5
    with running_server(last_day=DAY) as apple, running_server(last_day=DAY) as jd:
        settings = demo_settings()
        acme = settings["brands"][0]
        acme["sources"] = [
            source for source in acme["sources"] if source["source"] in ("appstore", "jd")
        ]
        settings["brands"] = [acme]
        settings["events"] = []
        settings["crawl"].update(
            base_urls={"appstore": apple.base_url, "jd": jd.base_url},
            download_delay=delay,
            max_pages=3,
            parallel_sources=2,
        )
        settings["paths"] = {"data_dir": str(tmp_path / "data")}
        config = load_config(write_settings(tmp_path, settings))
        assert len(config.targets()) == 3  # appstore us and cn, one after the other; jd
        crawl_targets(config, since=DAY - timedelta(days=60), incremental=False)
        arrivals = {
            "appstore": [seen.at for seen in apple.seen],
            "jd": [seen.at for seen in jd.seen],
        }

    # The random share Scrapy adds to or takes from each delay, as the project sets it.
    jitter = project_scrapy_settings().getfloat("DOWNLOAD_DELAY_JITTER")
    # Scrapy spaces the moments it sends; the server sees arrivals, which loopback and the
    # event loops shift by a few milliseconds either way (measured: up to ~20 ms early).
    least = delay * (1 - jitter) - ARRIVAL_NOISE_SECONDS
    assert least > 0
    for site, times in arrivals.items():
        # robots.txt and three pages for each target
        assert len(times) == (8 if site == "appstore" else 4), site
        gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
        assert min(gaps) >= least, f"{site}: {min(gaps):.3f} s between two requests"
    # The two sites were crawled at the same time, not one after the other.
    assert min(arrivals["jd"]) < max(arrivals["appstore"])
    assert min(arrivals["appstore"]) < max(arrivals["jd"])
