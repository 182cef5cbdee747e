"""Apple App Store customer reviews, from the public RSS feed in its JSON flavour.

    {base_url}/{country}/rss/customerreviews/page={n}/id={app_id}/sortby=mostrecent/json

Newest first, 50 entries a page, at most 10 pages on Apple's side. The parsing is the
pure function `parse_feed`, so saved responses can be tested without a Scrapy engine.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime
from typing import Any

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from repwatch.config import Target
from repwatch.records import clean_text, detect_language, now_utc_iso, utc_iso
from spiders.items import PageReject

SOURCE = "appstore"
APPLE_BASE_URL = "https://itunes.apple.com"
APPLE_MAX_PAGES = 10
_INTEGER = re.compile(r"^[+-]?\d+$")


class FeedParseError(ValueError):
    """The payload is not an App Store review feed."""


def _label(node: Any, *path: str) -> Any:
    """The `label` at the end of a path of keys, or None wherever the path breaks."""
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node.get("label") if isinstance(node, dict) else None


def _as_int(value: Any) -> int | None:
    if isinstance(value, str) and _INTEGER.match(value.strip()):
        return int(value.strip())
    return None


def _published_at(value: Any) -> str | None:
    """UTC ISO for a timestamp with an offset; None when missing or unusable."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return utc_iso(moment) if moment.tzinfo is not None else None


def _content_text(entry: dict) -> Any:
    content = entry.get("content")
    if isinstance(content, list):  # older feeds: a "text" and an "html" rendering
        parts = [part for part in content if isinstance(part, dict)]
        plain = [part for part in parts if _attribute(part, "type") == "text"]
        content = (plain or parts or [None])[0]
    return content.get("label") if isinstance(content, dict) else None


def _attribute(node: Any, name: str) -> Any:
    attributes = node.get("attributes") if isinstance(node, dict) else None
    return attributes.get(name) if isinstance(attributes, dict) else None


def _link_href(entry: dict) -> str | None:
    links = entry.get("link")
    for link in links if isinstance(links, list) else [links]:
        href = _attribute(link, "href")
        if isinstance(href, str) and href:
            return href
    return None


def _is_app_metadata(entry: dict) -> bool:
    return "im:name" in entry and "im:rating" not in entry


def feed_entries(payload: str | bytes | dict) -> list[dict]:
    """The entries of a feed document; [] for a page past the end."""
    if isinstance(payload, dict):
        document = payload
    else:
        try:
            document = json.loads(payload)
        except ValueError as exc:  # includes bad UTF-8
            raise FeedParseError(f"not valid JSON: {exc}") from None
    feed = document.get("feed") if isinstance(document, dict) else None
    if not isinstance(feed, dict):
        raise FeedParseError("not a review feed: no `feed` object at the top level")
    entries = feed.get("entry", [])
    if isinstance(entries, dict):  # a page with a single entry
        entries = [entries]
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise FeedParseError("not a review feed: `feed.entry` is not a list of objects")
    return [entry for entry in entries if not _is_app_metadata(entry)]


def parse_entry(entry: dict, *, target_id: str, page_url: str, crawled_at: str) -> dict:
    """One feed entry as a normalised record (`repwatch.records.RECORD_FIELDS`)."""
    title = clean_text(_label(entry, "title"))
    text = clean_text(_content_text(entry))
    published_at = _published_at(_label(entry, "updated"))
    likes = _as_int(_label(entry, "im:voteSum"))
    return {
        "source": SOURCE,
        "target_id": target_id,
        "review_id": clean_text(_label(entry, "id")),
        "kind": "review",
        "author": clean_text(_label(entry, "author", "name")),
        "rating": _as_int(_label(entry, "im:rating")),
        "title": title,
        "text": text,
        "language": detect_language(" ".join(part for part in (title, text) if part)),
        "published_at": published_at,
        "date_precision": "exact" if published_at else "unknown",
        "reply_text": None,
        "reply_at": None,
        "url": _link_href(entry) or page_url,
        "likes": likes if likes is not None and likes >= 0 else 0,
        "crawled_at": crawled_at,
        "raw": entry,
    }


def parse_feed(
    payload: str | bytes | dict, *, target_id: str, page_url: str, crawled_at: str
) -> list[dict]:
    """Every review on one feed page as records; raises FeedParseError for anything else."""
    return [
        parse_entry(entry, target_id=target_id, page_url=page_url, crawled_at=crawled_at)
        for entry in feed_entries(payload)
    ]


class AppStoreSpider(scrapy.Spider):
    """Arguments: app_id, country, since (YYYY-MM-DD), base_url, max_pages."""

    name = SOURCE

    def __init__(
        self,
        app_id: str,
        country: str,
        since: str | None = None,
        base_url: str = APPLE_BASE_URL,
        max_pages: int | str = APPLE_MAX_PAGES,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if not app_id.isdigit():
            raise ValueError(f"app_id must be numeric, got {app_id!r}")
        self.app_id = app_id
        self.country = country.lower()
        self.since = date.fromisoformat(since) if since else None
        self.base_url = base_url.rstrip("/")
        self.max_pages = int(max_pages)
        self.target_id = Target(params={"app_id": app_id, "country": country}).target_id
        self.stopped_because: str | None = None

    def page_url(self, page: int) -> str:
        return (
            f"{self.base_url}/{self.country}/rss/customerreviews"
            f"/page={page}/id={self.app_id}/sortby=mostrecent/json"
        )

    def page_request(self, page: int) -> scrapy.Request:
        return scrapy.Request(
            self.page_url(page),
            callback=self.parse,
            errback=self.page_failed,
            cb_kwargs={"page": page},
        )

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield self.page_request(1)

    def is_wanted(self, record: dict) -> bool:
        published = record["published_at"]
        return self.since is None or published is None or published[:10] >= str(self.since)

    def parse(self, response: Response, page: int) -> Iterator[dict | PageReject | scrapy.Request]:
        try:
            records = parse_feed(
                response.body,
                target_id=self.target_id,
                page_url=response.url,
                crawled_at=now_utc_iso(),
            )
        except FeedParseError as exc:
            self.stopped_because = "error"
            yield PageReject.from_body(response.url, response.status, str(exc), response.body)
            return
        if not records:
            self.stopped_because = "empty page"
            return
        yield from (record for record in records if self.is_wanted(record))
        dates = [record["published_at"][:10] for record in records if record["published_at"]]
        if self.since is not None and dates and min(dates) < str(self.since):
            self.stopped_because = "older than since"
        elif page >= self.max_pages:
            self.stopped_because = "max pages"
        else:
            yield self.page_request(page + 1)

    def page_failed(self, failure: Failure) -> Iterator[PageReject]:
        self.stopped_because = "error"
        response = getattr(failure.value, "response", None)
        yield PageReject.from_body(
            failure.request.url,
            response.status if response is not None else None,
            f"{failure.type.__name__}: {failure.getErrorMessage()}",
            response.body if response is not None else b"",
        )
