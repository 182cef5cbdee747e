"""Hacker News stories and comments that mention a brand, from the Algolia HN Search API.

    {base_url}/api/v1/search_by_date?query={query}&tags=(story,comment)&hitsPerPage=100
        &page={n}[&numericFilters=created_at_i>{unix seconds}]

Newest first; `page` counts from 0 and `nbPages` says how many there are (Algolia serves
at most 1,000 hits of one search). An incremental run sends `numericFilters` so the API
returns only hits newer than the start of the `since` day, instead of paging back to it.

Hits differ by type: a story has `title`, `points`, `num_comments` and maybe `story_text`
(Ask HN); a comment has `comment_text`, `story_title`, `story_id`, `parent_id` and no
points (null in older responses, absent in newer ones). Both texts are HTML: paragraphs
as `<p>`, links, `<i>`, `<pre><code>`, entities such as `&#x27;`. A hit without
`created_at_i` takes its time from `created_at`; with neither it is kept undated.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from scrapy.http import Response

from spiders import mentions
from spiders.base import Page, ReviewSpider
from spiders.encoding import PageParseError
from spiders.values import utc_iso_or_none

SOURCE = "hackernews"
ALGOLIA_BASE_URL = "https://hn.algolia.com"
ITEM_URL = "https://news.ycombinator.com/item?id={}"
HITS_PER_PAGE = 100
ITEM_TYPES = ("story", "comment", "poll", "pollopt", "job")
# Tags that end a paragraph or line in HN's HTML: they become line breaks, not glue.
# `[^<>]`, not `[^>]`: a text of many "<" and no ">" made each match attempt scan to the end.
_BREAK_TAGS = re.compile(r"<\s*/?\s*(?:p|br|pre|div|li|blockquote)\b[^<>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^<>]*>")


class SearchParseError(PageParseError):
    """The payload is not an Algolia search result."""


def html_to_text(html: Any) -> str | None:
    """HN's comment/story HTML as plain text, entities left for clean_text to decode once.

    HN escapes `<` in what people write, so any `<...>` left is markup.
    """
    if not isinstance(html, str):
        return None
    return _TAG.sub("", _BREAK_TAGS.sub("\n", html))


def search_hits(payload: str | bytes | dict) -> tuple[list[dict], int | None, int | None]:
    """(hits, page, nbPages) of one search result page; page/nbPages None when absent."""
    try:
        document = mentions.load_document(payload, "the search result")
    except PageParseError as exc:
        raise SearchParseError(str(exc)) from None
    hits = document.get("hits")
    if not isinstance(hits, list):
        # e.g. {"message": "Invalid value for numericFilters", "status": 400}
        message = document.get("message")
        raise SearchParseError(
            "not an Algolia search result: no `hits` list"
            + (f" (the API says: {message})" if isinstance(message, str) else "")
        )
    if not all(isinstance(hit, dict) for hit in hits):
        raise SearchParseError("not an Algolia search result: `hits` holds a non-object")

    def number(key: str) -> int | None:
        value = document.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return hits, number("page"), number("nbPages")


def item_type(hit: dict) -> str:
    tags = hit.get("_tags")
    for tag in tags if isinstance(tags, list) else []:
        if tag in ITEM_TYPES:
            return tag
    return "comment" if hit.get("comment_text") else "story"


def _published_at(hit: dict) -> str | None:
    exact = mentions.unix_time_iso(hit.get("created_at_i"))
    if exact or not isinstance(hit.get("created_at"), str):
        return exact
    try:  # "2026-11-19T08:01:02.000Z" (older responses) or "2026-11-19T08:01:02Z"
        moment = datetime.fromisoformat(hit["created_at"].strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return utc_iso_or_none(moment) if moment.tzinfo is not None else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_hit(hit: dict, *, target_id: str, crawled_at: str) -> dict:
    """One search hit (story or comment) as a normalised mention."""
    object_id = mentions.item_id(hit.get("objectID"))
    body = hit.get("story_text") or hit.get("comment_text")
    story_title = _text(hit.get("story_title"))
    return mentions.mention_record(
        source=SOURCE,
        target_id=target_id,
        review_id=object_id,
        author=mentions.unless_withdrawn(hit.get("author")),
        # A comment has no title of its own: the story's tells what it is about.
        title=_text(hit.get("title")) or story_title,
        text=mentions.unless_withdrawn(html_to_text(body)),
        published_at=_published_at(hit),
        url=ITEM_URL.format(object_id) if object_id else None,
        likes=mentions.count(hit.get("points")),
        extra={
            "num_comments": mentions.count(hit.get("num_comments")),
            "item_type": item_type(hit),
            "story_title": story_title,
            "story_id": mentions.item_id(hit.get("story_id")),
            "parent_id": mentions.item_id(hit.get("parent_id")),
            "withdrawn": mentions.withdrawn_marker(body, hit.get("author")),
        },
        crawled_at=crawled_at,
        raw=hit,
    )


def _page_in_url(url: str) -> int:
    values = parse_qs(urlsplit(url).query).get("page", ["0"])
    return int(values[-1]) if values[-1].isdigit() else 0


class HackerNewsSpider(ReviewSpider):
    """Arguments: query, since (YYYY-MM-DD), base_url, max_pages."""

    name = SOURCE
    default_base_url = ALGOLIA_BASE_URL
    target_keys = ("query",)
    numbered_pages = True

    @property
    def newer_than(self) -> int | None:
        """Unix seconds of `since` 00:00 UTC: the API returns only hits from then on."""
        if self.since is None:
            return None
        return int(datetime.combine(self.since, time(), UTC).timestamp())

    def search_url(self, page: int) -> str:
        query: dict[str, object] = {
            "query": self.params["query"],
            "tags": "(story,comment)",
            "hitsPerPage": HITS_PER_PAGE,
            "page": page,
        }
        if self.newer_than is not None:
            query["numericFilters"] = f"created_at_i>={self.newer_than}"
        return f"{self.base_url}/api/v1/search_by_date?{urlencode(query, safe='(),')}"

    def page_url(self, page: int) -> str:
        return self.search_url(page - 1)

    def parse_page(self, response: Response, page: int, crawled_at: str) -> Page:
        hits, current, pages = search_hits(response.body)
        records = [parse_hit(hit, target_id=self.target_id, crawled_at=crawled_at) for hit in hits]
        if current is None:
            current = _page_in_url(response.url)
        has_next = pages is not None and current + 1 < pages
        return Page(records=records, next_url=self.search_url(current + 1) if has_next else None)
