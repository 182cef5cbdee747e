"""schema.org reviews on any page: product pages, shops, hotels, restaurants, blogs.

    target: url=https://www.example-hotel.com/hotels/downtown

One record per schema.org Review, read from the page's JSON-LD, or from its microdata
when the JSON-LD has no reviews; ratings are scaled onto 1–5 from the review's own scale.
The crawl follows the page's `<link rel="next">` / `<a rel="next">` up to max_pages.
`base_url` (a proxy, the demo site) replaces only the scheme and host of the URL (and of
next-page links pointing at the original host); paths stay the site's own.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from scrapy.http import Response

from spiders.base import Page, ReviewSpider
from spiders.encoding import response_text
from spiders.schema_org import (
    check_complete,
    ld_json_documents,
    ld_json_records,
    microdata_records,
    next_page_link,
)

SOURCE = "jsonld"


def parse_reviews(html: str, *, target_id: str, page_url: str, crawled_at: str) -> list[dict]:
    """Every review on a page as records: JSON-LD first, microdata when JSON-LD has none.
    Raises PageParseError for a truncated page or a JSON-LD block that is not JSON."""
    check_complete(html)
    context = {"source": SOURCE, "target_id": target_id, "page_url": page_url}
    records = ld_json_records(ld_json_documents(html), crawled_at=crawled_at, **context)
    return records or microdata_records(html, crawled_at=crawled_at, **context)


def rebased(url: str, base_url: str | None) -> str:
    """The URL with the scheme and host of base_url (and its path as a prefix, for a proxy
    mounted under a path); unchanged without a base_url."""
    if not base_url:
        return url
    parts, base = urlsplit(url), urlsplit(base_url)
    return urlunsplit(
        (base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query, "")
    )


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class JsonLdSpider(ReviewSpider):
    """Arguments: url, since (YYYY-MM-DD), base_url, max_pages."""

    name = SOURCE
    default_base_url = ""  # the target URL's own origin
    target_keys = ("url",)

    def __init__(self, *args: Any, base_url: str | None = None, **kwargs: Any):
        super().__init__(*args, base_url=base_url, **kwargs)
        self.target_url = self.params["url"]
        parts = urlsplit(self.target_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"url must be a full http(s) URL, got {self.target_url!r}")
        self.site_host = parts.netloc.lower()
        self.base_url = base_url.rstrip("/") if base_url else origin(self.target_url)

    def first_url(self) -> str:
        return rebased(self.target_url, self.base_url)

    def through_base(self, link: str | None, current_url: str) -> str | None:
        """Where the next-page link leads through our base URL; None off-site or in a loop."""
        if link is None:
            return None
        host = urlsplit(link).netloc.lower()
        if host == self.site_host:
            link = rebased(link, self.base_url)
        elif host != urlsplit(self.base_url).netloc.lower():
            return None
        return None if link.split("#")[0] == current_url.split("#")[0] else link

    def parse_page(self, response: Response, page: int, crawled_at: str) -> Page:
        html = response_text(response)
        # Ids and links name the site's own page, whichever host served it.
        site_url = rebased(response.url, origin(self.target_url))
        records = parse_reviews(
            html, target_id=self.target_id, page_url=site_url, crawled_at=crawled_at
        )
        return Page(records, self.through_base(next_page_link(html, response.url), response.url))
