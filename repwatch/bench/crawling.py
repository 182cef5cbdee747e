"""Crawl throughput against the local demo site, throttling off (issue 3):
reviews/s for the JSON sources (target >= 2,000) and pages/s for ~100 KB JSON-LD pages
(target >= 100). The peer is the plain sequential client a data engineer would write
first — urllib in a loop, with the same parser (JSON sources) or with extruct (JSON-LD) —
measured on the same pages in the same run."""

from __future__ import annotations

import importlib
import inspect
import time
import urllib.request
from datetime import date

from repwatch.bench import Context, Row, median_value
from repwatch.crawl import CrawlOptions, crawl_in_subprocess
from repwatch.demo_site import catalog
from repwatch.demo_site.server import serve_in_thread

LAST_DAY = date(2026, 11, 20)
REVIEWS_PER_SECOND_TARGET = 2_000
JSONLD_PAGES_PER_SECOND_TARGET = 100
# Large catalogues only the benchmark serves: ~18,000 items over the demo's 90 days.
_BENCH_VOLUME = (150, 250)
_STARS = {5: 0.4, 4: 0.25, 3: 0.1, 2: 0.1, 1: 0.15}
JSON_TARGETS = (
    ("appstore", "us/9000009", {"app_id": "9000009", "country": "us"}, "en"),
    ("jd", "100000000009", {"product_id": "100000000009"}, "zh"),
    ("reddit", "Bench Shop", {"query": "Bench Shop"}, "en"),
    ("hackernews", "Bench Shop", {"query": "Bench Shop"}, "en"),
)
# Two hotel sites crawled side by side, as the pipeline crawls different sites.
JSONLD_PATHS = ("/hotels/bench-harbour", "/hotels/bench-old-town")


def _register_bench_profiles() -> None:
    for site, key, _, language in JSON_TARGETS:
        catalog.PROFILES[(site, key)] = catalog.Profile(
            name="Bench Shop", language=language, daily_reviews=_BENCH_VOLUME, star_weights=_STARS
        )
    # Hotels with ~4,500 reviews each: a couple of hundred ~100 KB pages apiece.
    for path in JSONLD_PATHS:
        catalog.PROFILES[("jsonld", path)] = catalog.Profile(
            name="Bench Hotel", language="en", daily_reviews=(40, 60), star_weights=_STARS
        )


def _spider_class(site: str):
    from spiders.base import ReviewSpider

    module = importlib.import_module(f"spiders.sites.{site}")
    return next(
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, ReviewSpider)
        and getattr(value, "name", None) == site
    )


def _fetch(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read(), dict(response.headers.items())


def naive_crawl(site: str, params: dict, base_url: str, parse=None) -> tuple[int, int, float]:
    """(items, pages, seconds) for a sequential urllib crawl; `parse(body, url)` overrides the
    spider's own page parser (for the extruct peer)."""
    from scrapy.http import HtmlResponse, Request

    spider = _spider_class(site)(base_url=base_url, max_pages=100_000, **params)
    url, items, pages = spider.first_url(), 0, 0
    started = time.perf_counter()
    while url:
        body, headers = _fetch(url)
        pages += 1
        if parse is not None:
            found, url = parse(body, url, spider)
        else:
            response = HtmlResponse(url=url, body=body, headers=headers, request=Request(url))
            page = spider.parse_page(response, pages, "2026-11-21T00:00:00Z")
            found, url = len(page.records), page.next_url if page.records else None
        items += found
    return items, pages, time.perf_counter() - started


# Pages in flight per site where pages are numbered (the crawl is polite, 1, by default).
CONCURRENCY = 8


def scrapy_crawl(site: str, params: dict, base_url: str, out) -> tuple[int, int, float]:
    options = CrawlOptions(
        base_url=base_url,
        download_delay=0,
        throttle=False,
        max_pages=100_000,
        concurrency=CONCURRENCY,
    )
    stats = crawl_in_subprocess(site, params, out, options)
    pages = stats.responses - 1  # robots.txt
    # Timed like the peer: from the first page request to the last page parsed.
    return stats.items, pages, stats.listing_seconds or float("nan")


def _extruct_parse(body: bytes, url: str, spider):
    import extruct
    from parsel import Selector

    data = extruct.extract(body.decode("utf-8"), base_url=url, syntaxes=["json-ld", "microdata"])
    reviews = sum(len(node.get("review", [])) for node in data["json-ld"])
    next_link = Selector(text=body.decode("utf-8")).css("link[rel=next]::attr(href)").get()
    return reviews, (urllib.request.urljoin(url, next_link) if next_link and reviews else None)


# Sites that cap a listing (JD: 100 pages, Algolia: 1,000 hits) crawl in well under a second:
# such a crawl is repeated until this much crawling time is measured, for a stable rate.
MIN_MEASURED_SECONDS = 2.0


def sustained_rate(crawl_once) -> float:
    """Items per second over repeated crawls totalling at least MIN_MEASURED_SECONDS."""
    items = seconds = 0.0
    while seconds < MIN_MEASURED_SECONDS:
        found, took = crawl_once()
        items, seconds = items + found, seconds + took
    return items / seconds


def benchmarks(context: Context) -> list[Row]:
    _register_bench_profiles()
    rows = []
    with serve_in_thread(last_day=LAST_DAY) as base_url:
        for site, _key, params, _ in JSON_TARGETS:
            out = context.work_dir / f"crawl-{site}.jsonl"
            # Untimed: the demo site builds a target's catalogue on its first request.
            naive_crawl(site, params, base_url)

            def repwatch_rate(site=site, params=params, out=out) -> float:
                def once() -> tuple[int, float]:
                    out.unlink(missing_ok=True)
                    items, _, seconds = scrapy_crawl(site, params, base_url, out)
                    return items, seconds

                return sustained_rate(once)

            def peer_rate(site=site, params=params) -> float:
                return sustained_rate(lambda: naive_crawl(site, params, base_url)[::2])

            rows.append(
                _throughput_row(
                    context,
                    f"crawl+parse {site} (JSON), throttling off, {CONCURRENCY} in flight",
                    ("reviews/s", REVIEWS_PER_SECOND_TARGET),
                    (repwatch_rate, "sequential urllib + same parser", peer_rate),
                )
            )
        rows.append(_jsonld_row(context, base_url))
    return rows


def _jsonld_row(context: Context, base_url: str) -> Row:
    from concurrent.futures import ThreadPoolExecutor

    targets = [{"url": f"https://www.acme-hotels.example{path}"} for path in JSONLD_PATHS]

    def repwatch_rate() -> float:
        def crawl(numbered: tuple[int, dict]) -> tuple[int, int, float]:
            number, params = numbered
            out = context.work_dir / f"crawl-jsonld-{number}.jsonl"
            out.unlink(missing_ok=True)
            return scrapy_crawl("jsonld", params, base_url, out)

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(targets)) as pool:
            results = list(pool.map(crawl, enumerate(targets)))
        return sum(pages for _, pages, _ in results) / (time.perf_counter() - started)

    def peer_rate() -> float:
        counts = [
            naive_crawl("jsonld", params, base_url, parse=_extruct_parse) for params in targets
        ]
        return sum(pages for _, pages, _ in counts) / sum(seconds for *_, seconds in counts)

    for params in targets:  # untimed warm-up of the demo site's catalogue
        naive_crawl("jsonld", params, base_url, parse=_extruct_parse)
    page_size = len(_fetch(f"{base_url}{JSONLD_PATHS[0]}")[0])
    return _throughput_row(
        context,
        f"crawl+parse jsonld (~{page_size // 1000} KB pages), "
        f"{len(targets)} sites side by side, throttling off",
        ("pages/s", JSONLD_PAGES_PER_SECOND_TARGET),
        (repwatch_rate, "sequential urllib + extruct", peer_rate),
    )


def _throughput_row(context: Context, figure: str, unit_target: tuple, measures: tuple) -> Row:
    """A ">=" row: the medians of repwatch's rate and the peer's, measured in this run."""
    (unit, target), (ours, peer, theirs) = unit_target, measures
    return Row(
        figure=figure,
        value=median_value(ours, context.runs),
        unit=unit,
        target=target,
        comparator=">=",
        peer=peer,
        peer_value=median_value(theirs, context.runs),
    )
