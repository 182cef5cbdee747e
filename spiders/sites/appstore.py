"""Apple App Store customer reviews, from the public RSS feed in its JSON flavour.

    {base_url}/{country}/rss/customerreviews/page={n}/id={app_id}/sortby=mostrecent/json

Newest first, 50 entries a page, at most 10 pages on Apple's side. The parsing is the
pure function `parse_feed`, so saved responses can be tested without a Scrapy engine.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from scrapy.http import Response

from repwatch.records import clean_text, make_record
from spiders.base import Page, ReviewSpider
from spiders.encoding import PageParseError, load_json
from spiders.values import utc_iso_or_none, web_url

SOURCE = "appstore"
APPLE_BASE_URL = "https://itunes.apple.com"
APPLE_MAX_PAGES = 10
_INTEGER = re.compile(r"^[+-]?\d+$")


class FeedParseError(PageParseError):
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
    return utc_iso_or_none(moment) if moment.tzinfo is not None else None


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
        href = web_url(_attribute(link, "href"))
        if href:
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
            document = load_json(payload, "the feed")
        except PageParseError as exc:
            raise FeedParseError(str(exc)) from None
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
    return make_record(
        source=SOURCE,
        target_id=target_id,
        review_id=clean_text(_label(entry, "id")),
        author=clean_text(_label(entry, "author", "name")),
        rating=_as_int(_label(entry, "im:rating")),
        title=title,
        text=text,
        published_at=published_at,
        url=_link_href(entry) or page_url,
        likes=likes,
        extra={
            "app_version": clean_text(_label(entry, "im:version")),
            "vote_count": _as_int(_label(entry, "im:voteCount")),
        },
        crawled_at=crawled_at,
        raw=entry,
    )


def parse_feed(
    payload: str | bytes | dict, *, target_id: str, page_url: str, crawled_at: str
) -> list[dict]:
    """Every review on one feed page as records; raises FeedParseError for anything else."""
    return [
        parse_entry(entry, target_id=target_id, page_url=page_url, crawled_at=crawled_at)
        for entry in feed_entries(payload)
    ]


class AppStoreSpider(ReviewSpider):
    """Arguments: app_id, country, since (YYYY-MM-DD), base_url, max_pages."""

    name = SOURCE
    default_base_url = APPLE_BASE_URL
    default_max_pages = APPLE_MAX_PAGES
    target_keys = ("app_id", "country")
    numbered_pages = True

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not self.params["app_id"].isdigit():
            raise ValueError(f"app_id must be numeric, got {self.params['app_id']!r}")
        self.app_id = self.params["app_id"]
        self.country = self.params["country"].lower()

    def page_url(self, page: int) -> str:
        return (
            f"{self.base_url}/{self.country}/rss/customerreviews"
            f"/page={page}/id={self.app_id}/sortby=mostrecent/json"
        )

    def parse_page(self, response: Response, page: int, crawled_at: str) -> Page:
        records = parse_feed(
            response.body, target_id=self.target_id, page_url=response.url, crawled_at=crawled_at
        )
        # Apple's `next` link points back at the last page; counting pages is what works.
        return Page(records=records, next_url=self.page_url(page + 1))
