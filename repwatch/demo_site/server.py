"""A local stand-in for Apple's App Store customer-reviews RSS feed (JSON flavour).

Same paths, same shape and the same quirks as the real feed: 50 entries per page,
newest first; a page with exactly one entry has `entry` as an object; a page past
the end (or an unknown app) is a feed without `entry`.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

from repwatch.demo_site import catalog

PAGE_SIZE = 50
# Apple writes feed times in the store's home time zone, with an offset.
FEED_TIME_ZONE = ZoneInfo("America/Los_Angeles")
ROBOTS_TXT = "User-agent: *\nAllow: /\n"
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

log = logging.getLogger(__name__)


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
    reviews = catalog.reviews_for(country, app_id, last_day)
    last_page = max(1, math.ceil(len(reviews) / PAGE_SIZE))
    on_page = reviews[(page - 1) * PAGE_SIZE : page * PAGE_SIZE] if page >= 1 else []
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


class ReviewFeedHandler(BaseHTTPRequestHandler):
    server: DemoReviewServer
    server_version = "repwatch-demo-site/0.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        if path == "/robots.txt":
            self._send(HTTPStatus.OK, ROBOTS_TXT.encode(), "text/plain; charset=utf-8")
            return
        for pattern in _FEED_PATHS:
            match = pattern.match(path)
            if match:
                page = int(match["page"] or 1)
                country = match["country"].lower()
                document = feed_page(
                    self.base_url, country, match["app_id"], page, self.server.last_day
                )
                body = json.dumps(document, ensure_ascii=False).encode("utf-8")
                self._send(HTTPStatus.OK, body, "application/json; charset=utf-8")
                return
        self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

    @property
    def base_url(self) -> str:
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        return f"http://{host}"

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (base signature)
        log.debug("%s " + format, self.address_string(), *args)


class DemoReviewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], last_day: date):
        super().__init__(address, ReviewFeedHandler)
        self.last_day = last_day


def default_last_day() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


def make_server(
    host: str = "127.0.0.1", port: int = 0, last_day: date | None = None
) -> ThreadingHTTPServer:
    """A server bound to host:port (0 picks a free port), not yet serving."""
    return DemoReviewServer((host, port), last_day or default_last_day())


def base_url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


@contextmanager
def serve_in_thread(port: int = 0, last_day: date | None = None) -> Iterator[str]:
    """Serve in a background thread; yields the base URL, shuts down on exit."""
    server = make_server(port=port, last_day=last_day)
    thread = threading.Thread(target=server.serve_forever, name="demo-review-site", daemon=True)
    thread.start()
    try:
        yield base_url_of(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def serve_forever(port: int, last_day: date | None = None) -> None:
    """Serve until interrupted (the `repwatch demo-site` command)."""
    server = make_server(port=port, last_day=last_day)
    print(
        f"Demo review site on {base_url_of(server)} (reviews up to {server.last_day}); "
        "Ctrl+C stops it",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
