"""Trustpilot business pages, read from the data the page is rendered from.

    {base_url}/review/{domain}?sort=recency            page 1
    {base_url}/review/{domain}?page={n}&sort=recency   page n

A Trustpilot business page is a Next.js page: `<script id="__NEXT_DATA__"
type="application/json">` holds `props.pageProps` with `reviews[]` (20 a page: id, rating,
title, text, likes, dates.publishedDate, consumer.displayName, reply.message /
reply.publishedDate, ...) and `filters.pagination` (currentPage, totalPages). When that
block is missing (a changed front end, a cached or proxied copy), the page's JSON-LD
`@graph` still lists the reviews (without replies or likes); the review's id is the last
segment of its `@id`. `sort=recency` keeps the newest first, which `since` relies on.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from scrapy.http import Response

from spiders.base import Page, ReviewSpider
from spiders.encoding import PageParseError, load_json, response_text
from spiders.schema_org import (
    build_record,
    check_complete,
    find_reviews,
    ld_json_documents,
    next_page_link,
    node_index,
    published,
    review_record,
    script_texts,
)

SOURCE = "trustpilot"
TRUSTPILOT_BASE_URL = "https://www.trustpilot.com"
NEXT_DATA_ID = "__NEXT_DATA__"
_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")


def _get(node: Any, *path: str) -> Any:
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _moment(value: Any) -> str | None:
    """UTC ISO of Trustpilot's "2026-11-20T14:45:14.000Z"; None when missing or unusable."""
    moment, precision = published(value)
    return moment if precision == "exact" else None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _stars(value: Any) -> int | None:
    return (
        value
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5
        else None
    )


def review_url(base_url: str, review_id: str) -> str:
    return f"{base_url}/reviews/{quote(review_id, safe='')}"


def page_props(html: str) -> dict | None:
    """`props.pageProps` of the page's __NEXT_DATA__; None when the page has no such block."""
    blocks = script_texts(html, "application/json", element_id=NEXT_DATA_ID)
    if not blocks:
        return None
    document = load_json(blocks[0], "the __NEXT_DATA__ block")
    props = _get(document, "props", "pageProps")
    if not isinstance(props, dict):
        raise PageParseError("the __NEXT_DATA__ block has no props.pageProps object")
    reviews = props.get("reviews")
    if not isinstance(reviews, list) or not all(isinstance(r, dict) for r in reviews):
        raise PageParseError("__NEXT_DATA__ props.pageProps.reviews is not a list of objects")
    return props


def next_data_record(review: dict, *, target_id: str, base_url: str, crawled_at: str) -> dict:
    """One `pageProps.reviews[]` entry as a normalised record."""
    review_id = str(review.get("id") or "")
    if not review_id:
        raise PageParseError("a review in __NEXT_DATA__ has no id")
    published_at = _moment(_get(review, "dates", "publishedDate"))
    reply = review.get("reply") if isinstance(review.get("reply"), dict) else {}
    return build_record(
        source=SOURCE,
        target_id=target_id,
        review_id=review_id,
        author=_get(review, "consumer", "displayName"),
        rating=_stars(review.get("rating")),
        title=review.get("title"),
        text=review.get("text"),
        published_at=published_at,
        date_precision="exact" if published_at else "unknown",
        url=review_url(base_url, review_id),
        crawled_at=crawled_at,
        raw=review,
        reply_text=reply.get("message"),
        reply_at=_moment(reply.get("publishedDate")) if reply.get("message") else None,
        likes=_count(review.get("likes")),
        extra={
            "source_data": "__NEXT_DATA__",
            "country": _get(review, "consumer", "countryCode"),
            "verified": _get(review, "labels", "verification", "isVerified"),
            "experienced_at": _moment(_get(review, "dates", "experiencedDate")),
            "updated_at": _moment(_get(review, "dates", "updatedDate")),
            "review_language": review.get("language"),
        },
    )


def next_page_number(props: dict) -> int | None:
    """The page after `filters.pagination.currentPage`, None on the last page."""
    pagination = _get(props, "filters", "pagination")
    current, total = _get(pagination, "currentPage"), _get(pagination, "totalPages")
    if isinstance(current, int) and isinstance(total, int):
        return current + 1 if current < total else None
    return None


def ld_json_fallback(
    html: str, *, target_id: str, base_url: str, page_url: str, crawled_at: str
) -> list[dict]:
    """The reviews of a page without __NEXT_DATA__, from its JSON-LD @graph."""
    documents = ld_json_documents(html)
    if not documents:
        # Neither block: a bot challenge or error page, not an empty business page.
        raise PageParseError("no __NEXT_DATA__ and no JSON-LD: not a Trustpilot review page")
    index = node_index(documents)
    records = []
    for found in find_reviews(documents):
        # "https://www.trustpilot.com/#/schema/Review/www.example.com/6264418c0c4813f7..."
        node_id = found.node.get("@id")
        review_id = node_id.rstrip("/").rsplit("/", 1)[-1] if isinstance(node_id, str) else None
        record = review_record(
            found,
            index,
            source=SOURCE,
            target_id=target_id,
            page_url=page_url,
            crawled_at=crawled_at,
            markup="json-ld",
            review_id=review_id or None,
            url=review_url(base_url, review_id) if review_id else None,
        )
        record["extra"]["source_data"] = "json-ld"
        records.append(record)
    return records


class TrustpilotSpider(ReviewSpider):
    """Arguments: domain, since (YYYY-MM-DD), base_url, max_pages."""

    name = SOURCE
    default_base_url = TRUSTPILOT_BASE_URL
    target_keys = ("domain",)
    numbered_pages = True

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.domain = self.params["domain"].strip().lower()
        if not _DOMAIN.match(self.domain):
            raise ValueError(f"domain must be a host name like example.com, got {self.domain!r}")

    def page_url(self, page: int) -> str:
        number = f"page={page}&" if page > 1 else ""
        return f"{self.base_url}/review/{self.domain}?{number}sort=recency"

    def parse_page(self, response: Response, page: int, crawled_at: str) -> Page:
        html = response_text(response)
        check_complete(html)
        context = {"target_id": self.target_id, "base_url": self.base_url}
        props = page_props(html)
        if props is None:
            records = ld_json_fallback(
                html, page_url=response.url, crawled_at=crawled_at, **context
            )
            link = next_page_link(html, response.url)
            return Page(records, self.page_url(page + 1) if link and records else None)
        records = [
            next_data_record(review, crawled_at=crawled_at, **context)
            for review in props["reviews"]
        ]
        number = next_page_number(props)
        return Page(records, self.page_url(number) if number else None)
