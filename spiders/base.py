"""What every review spider shares: its target, how far back to go, how many pages, where
to stop and why, and what happens to a page that cannot be used.

A site's spider names its target parameters and implements two methods:
`first_url()` and `parse_page(response, page) -> Page`; parsing stays a pure function of
the response body so golden fixtures test it without a Scrapy engine.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

import scrapy
from scrapy.exceptions import DownloadCancelledError, ResponseDataLossError
from scrapy.http import Response
from twisted.python.failure import Failure

from repwatch.config import Target
from repwatch.records import now_utc_iso
from spiders.encoding import PageParseError
from spiders.items import PageReject


@dataclass
class Page:
    """What one page gave: its records, and the next page's URL (None: this was the last)."""

    records: list[dict] = field(default_factory=list)
    next_url: str | None = None


class ReviewSpider(scrapy.Spider):
    """Arguments: the site's target parameters, since (YYYY-MM-DD), base_url, max_pages."""

    default_base_url: ClassVar[str]
    target_keys: ClassVar[tuple[str, ...]] = ()
    optional_target_keys: ClassVar[tuple[str, ...]] = ()
    default_max_pages: ClassVar[int] = 10
    # Sites whose pages are numbered implement page_url(n) and may have pages fetched ahead.
    numbered_pages: ClassVar[bool] = False

    def __init__(
        self,
        since: str | None = None,
        base_url: str | None = None,
        max_pages: int | str | None = None,
        **kwargs: Any,
    ):
        missing = [key for key in self.target_keys if not kwargs.get(key)]
        if missing:
            raise ValueError(f"{self.name}: missing target parameter(s): {', '.join(missing)}")
        self.params = {
            key: str(kwargs.pop(key))
            for key in (*self.target_keys, *self.optional_target_keys)
            if kwargs.get(key) not in (None, "")
        }
        super().__init__(**kwargs)
        self.target_id = Target(params=self.params).target_id
        self.since = date.fromisoformat(since) if since else None
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.max_pages = int(max_pages) if max_pages else self.default_max_pages
        self.stopped_because: str | None = None
        # The lowest page that ended the listing; pages fetched ahead beyond it are ignored.
        self.stop_page = self.max_pages + 1
        self.requested: set[int] = set()
        # From the first page request to the last page handled: the listing's own time,
        # without process start-up and robots.txt.
        self.listing_started: float | None = None
        self.listing_finished: float | None = None

    @property
    def listing_seconds(self) -> float | None:
        if self.listing_started is None or self.listing_finished is None:
            return None
        return self.listing_finished - self.listing_started

    @property
    def prefetch(self) -> int:
        """Pages kept in flight: REPWATCH_PREFETCH_PAGES for numbered sites, else one."""
        if not self.numbered_pages:
            return 1
        return max(1, self.crawler.settings.getint("REPWATCH_PREFETCH_PAGES", 1))

    # What a site implements.
    def first_url(self) -> str:
        return self.page_url(1)

    def page_url(self, page: int) -> str:
        """URL of page `page` (1-based), for sites with numbered pages."""
        raise NotImplementedError

    def parse_page(self, response: Response, page: int, crawled_at: str) -> Page:
        raise NotImplementedError

    # Shared machinery.
    def page_request(self, url: str, page: int) -> scrapy.Request:
        self.requested.add(page)
        return scrapy.Request(
            url, callback=self.on_page, errback=self.on_error, cb_kwargs={"page": page}
        )

    async def start(self) -> AsyncIterator[scrapy.Request]:
        self.listing_started = time.perf_counter()
        yield self.page_request(self.first_url(), 1)
        for page in range(2, min(self.prefetch, self.max_pages) + 1):
            yield self.page_request(self.page_url(page), page)

    def stop(self, page: int, reason: str) -> None:
        if page <= self.stop_page:
            self.stop_page, self.stopped_because = page, reason

    def follow(self, next_url: str, page: int) -> Iterator[scrapy.Request]:
        """The next request after `page`: the next link, or with pages in flight, the page
        `prefetch` ahead (those in between are already requested)."""
        if self.prefetch == 1:
            yield self.page_request(next_url, page + 1)
            return
        ahead = page + self.prefetch
        if ahead < self.stop_page and ahead <= self.max_pages and ahead not in self.requested:
            yield self.page_request(self.page_url(ahead), ahead)

    def is_wanted(self, record: dict) -> bool:
        published = record["published_at"]
        return self.since is None or published is None or published[:10] >= str(self.since)

    def reached_since(self, records: list[dict]) -> bool:
        days = [record["published_at"][:10] for record in records if record["published_at"]]
        return self.since is not None and bool(days) and min(days) < str(self.since)

    def on_page(
        self, response: Response, page: int
    ) -> Iterator[dict | PageReject | scrapy.Request]:
        self.listing_finished = time.perf_counter()
        if page > self.stop_page:
            return  # fetched ahead, but the listing ended on an earlier page
        try:
            result = self.parse_page(response, page, now_utc_iso())
        except PageParseError as exc:
            self.stop(page, "error")
            yield PageReject.from_body(response.url, response.status, str(exc), response.body)
            return
        if not result.records:
            self.stop(page, "empty page")
            return
        yield from (record for record in result.records if self.is_wanted(record))
        if self.reached_since(result.records):
            self.stop(page, "older than since")
        elif result.next_url is None:
            self.stop(page, "last page")
        elif page >= self.max_pages:
            self.stop(page, "max pages")
        else:
            yield from self.follow(result.next_url, page)

    def on_error(self, failure: Failure) -> Iterator[PageReject]:
        self.stop(failure.request.cb_kwargs.get("page", 1), "error")
        response = getattr(failure.value, "response", None)
        error = f"{failure.type.__name__}: {failure.getErrorMessage()}"
        if failure.check(DownloadCancelledError):
            # Scrapy cancels a download over DOWNLOAD_MAXSIZE, with no message when the page
            # came without a Content-Length.
            limit = self.crawler.settings.getint("DOWNLOAD_MAXSIZE")
            error = f"page larger than the download limit of {limit} bytes, not read ({error})"
        elif failure.check(ResponseDataLossError):
            # The connection closed before the announced Content-Length: a download failure,
            # which Scrapy reports without a message.
            error = f"page cut off before its announced length, not read ({error})"
        yield PageReject.from_body(
            failure.request.url,
            response.status if response is not None else None,
            error,
            response.body if response is not None else b"",
        )
