"""Apple's App Store customer-reviews RSS feed (JSON flavour), at its real paths.

Same shape and the same quirks as the real feed: 50 entries per page, newest first; a
page with exactly one entry has `entry` as an object; a page past the end (or an unknown
app) is a feed without `entry`.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from repwatch.demo_site import catalog
from repwatch.demo_site.routing import Request, Response

PAGE_SIZE = 50
# Apple writes feed times in the store's home time zone, with an offset.
FEED_TIME_ZONE = ZoneInfo("America/Los_Angeles")
_FEED_PATHS = (
    re.compile(
        r"^/(?P<country>[a-z]{2})/rss/customerreviews/page=(?P<page>\d+)/id=(?P<app_id>\d+)"
        r"/sortby=mostrecent/json$",
        re.IGNORECASE,
    ),
    re.compile(
        r"^/(?P<country>[a-z]{2})/rss/customerreviews/id=(?P<app_id>\d+)"
        r"/sortby=mostrecent(?:/page=(?P<page>\d+))?/json$",
        re.IGNORECASE,
    ),
)


def _label(value: object) -> dict:
    return {"label": str(value)}


def feed_time(moment: datetime) -> str:
    """E.g. "2026-11-20T07:14:02-07:00", as Apple's feed writes it."""
    return moment.astimezone(FEED_TIME_ZONE).isoformat(timespec="seconds")


def feed_entry(review: dict, base_url: str) -> dict:
    """One review in the feed's entry shape (key order as Apple sends it)."""
    country = review["country"]
    entry: dict = {
        "author": {
            "uri": _label(f"{base_url}/{country}/reviews/id{review['author_id']}"),
            "name": _label(review["author"]),
            "label": "",
        },
    }
    if review["published_at"] is not None:
        entry["updated"] = _label(feed_time(review["published_at"]))
    entry |= {
        "im:rating": _label(review["rating"]),
        "im:version": _label(review["version"]),
        "id": _label(review["review_id"]),
        "title": _label(review["title"]),
        "content": {"label": review["text"], "attributes": {"type": "text"}},
        "link": {
            "attributes": {
                "rel": "related",
                "href": f"{base_url}/{country}/review?id={review['app_id']}&type=Purple%20Software",
            }
        },
        "im:voteSum": _label(review["vote_sum"]),
        "im:contentType": {"attributes": {"term": "Application", "label": "Application"}},
        "im:voteCount": _label(review["vote_count"]),
    }
    return entry


def page_url(base_url: str, country: str, app_id: str, page: int) -> str:
    return (
        f"{base_url}/{country}/rss/customerreviews/page={page}/id={app_id}/sortby=mostrecent/json"
    )


def feed_page(base_url: str, country: str, app_id: str, page: int, last_day: date) -> dict:
    """The whole JSON document for one page of one app's reviews."""
    key = f"{country}/{app_id}"
    last_page = max(1, math.ceil(catalog.count("appstore", key, last_day) / PAGE_SIZE))
    on_page = (
        catalog.window("appstore", key, last_day, (page - 1) * PAGE_SIZE, page * PAGE_SIZE)
        if page >= 1
        else []
    )
    this_url = page_url(base_url, country, app_id, page)

    def link(rel: str, target_page: int) -> dict:
        href = page_url(base_url, country, app_id, target_page)
        return {"attributes": {"rel": rel, "href": href}}

    feed: dict = {
        "author": {"name": _label("iTunes Store"), "uri": _label("http://www.apple.com/itunes/")}
    }
    if on_page:
        entries = [feed_entry(review, base_url) for review in on_page]
        feed["entry"] = entries[0] if len(entries) == 1 else entries
    end_of_last_day = datetime.combine(last_day, time(23, 59, 59), UTC)
    feed |= {
        "updated": _label(feed_time(end_of_last_day)),
        "rights": _label("Copyright 2008 Apple Inc."),
        "title": _label("iTunes Store: Customer Reviews"),
        "icon": _label("http://itunes.apple.com/favicon.ico"),
        "link": [
            {"attributes": {"rel": "alternate", "type": "text/html", "href": f"{base_url}/"}},
            {"attributes": {"rel": "self", "href": this_url}},
            link("first", 1),
            link("last", last_page),
            link("previous", max(1, page - 1)),
            link("next", min(last_page, page + 1)),
        ],
        "id": _label(this_url),
    }
    return {"feed": feed}


def serve_feed(request: Request, match: re.Match) -> Response:
    document = feed_page(
        request.base_url,
        match["country"].lower(),
        match["app_id"],
        int(match["page"] or 1),
        request.last_day,
    )
    return Response.json(document)


ROUTES = [(pattern, serve_feed) for pattern in _FEED_PATHS]
