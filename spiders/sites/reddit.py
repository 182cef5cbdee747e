"""Reddit posts that mention a brand, from Reddit's public search listings (JSON).

    {base_url}/search.json?q={query}&sort=new&limit=100[&after=t3_xxx]
    {base_url}/r/{subreddit}/search.json?q={query}&restrict_sr=1&sort=new&limit=100[&after=...]

A page is a `Listing`: `data.children[]` of kind "t3" (posts), newest first, and
`data.after` the cursor of the next page (null on the last). Without `raw_json=1` Reddit
escapes `&`, `<` and `>` in titles and bodies as HTML entities; clean_text decodes them.

Withdrawn posts are kept, as mentions that happened: a post deleted by its author comes
back with author and selftext "[deleted]", one removed by moderators with selftext
"[removed]". Such markers become None (author, text) and `extra.withdrawn` says which;
the title, which Reddit keeps, stays.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from scrapy.http import Response

from spiders import mentions
from spiders.base import Page, ReviewSpider
from spiders.encoding import PageParseError
from spiders.values import web_url

SOURCE = "reddit"
REDDIT_BASE_URL = "https://www.reddit.com"
# The most Reddit returns per listing page.
PAGE_LIMIT = 100


class ListingParseError(PageParseError):
    """The payload is not a Reddit Listing."""


def listing_posts(payload: str | bytes | dict) -> tuple[list[dict], str | None]:
    """(the t3 children's `data` objects, the `after` cursor) of one Listing page."""
    try:
        document = mentions.load_document(payload, "the listing")
    except PageParseError as exc:
        raise ListingParseError(str(exc)) from None
    data = document.get("data")
    if document.get("kind") != "Listing" or not isinstance(data, dict):
        # e.g. {"message": "Too Many Requests", "error": 429}
        raise ListingParseError(
            f"not a Reddit Listing (kind {document.get('kind')!r}, keys {sorted(document)[:5]})"
        )
    children = data.get("children")
    if not isinstance(children, list) or not all(isinstance(child, dict) for child in children):
        raise ListingParseError("not a Reddit Listing: `data.children` is not a list of objects")
    posts = [
        child["data"]
        for child in children
        if child.get("kind") == "t3" and isinstance(child.get("data"), dict)
    ]
    after = data.get("after")
    return posts, after if isinstance(after, str) and after else None


def _post_url(post: dict, base_url: str) -> str | None:
    permalink = post.get("permalink")
    if isinstance(permalink, str) and permalink.startswith("/"):
        return f"{base_url}{permalink}"
    return web_url(post.get("url"))


def parse_post(post: dict, *, target_id: str, base_url: str, crawled_at: str) -> dict:
    """One t3 `data` object as a normalised mention."""
    name = mentions.item_id(post.get("name"))
    post_id = mentions.item_id(post.get("id"))
    link = web_url(post.get("url"))
    return mentions.mention_record(
        source=SOURCE,
        target_id=target_id,
        review_id=name or (f"t3_{post_id}" if post_id else None),
        author=mentions.unless_withdrawn(post.get("author")),
        title=post.get("title") if isinstance(post.get("title"), str) else None,
        # A link post has an empty selftext: title only.
        text=mentions.unless_withdrawn(post.get("selftext")),
        published_at=mentions.unix_time_iso(post.get("created_utc")),
        url=_post_url(post, base_url),
        likes=mentions.count(post.get("score")),
        extra={
            "num_comments": mentions.count(post.get("num_comments")),
            "subreddit": mentions.item_id(post.get("subreddit")),
            "link": link if post.get("is_self") is False else None,
            "withdrawn": mentions.withdrawn_marker(post.get("selftext"), post.get("author")),
        },
        crawled_at=crawled_at,
        raw=post,
    )


class RedditSpider(ReviewSpider):
    """Arguments: query, subreddit (optional), since (YYYY-MM-DD), base_url, max_pages."""

    name = SOURCE
    default_base_url = REDDIT_BASE_URL
    target_keys = ("query",)
    optional_target_keys = ("subreddit",)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.query = self.params["query"]
        self.subreddit = self.params.get("subreddit", "").removeprefix("r/").strip("/") or None

    def search_url(self, after: str | None = None) -> str:
        if self.subreddit:
            path = f"/r/{quote(self.subreddit)}/search.json"
            query = {"q": self.query, "restrict_sr": "1", "sort": "new", "limit": PAGE_LIMIT}
        else:
            path = "/search.json"
            query = {"q": self.query, "sort": "new", "limit": PAGE_LIMIT}
        if after:
            query["after"] = after
        return f"{self.base_url}{path}?{urlencode(query)}"

    def first_url(self) -> str:
        return self.search_url()

    def parse_page(self, response: Response, page: int, crawled_at: str) -> Page:
        posts, after = listing_posts(response.body)
        records = [
            parse_post(
                post, target_id=self.target_id, base_url=self.base_url, crawled_at=crawled_at
            )
            for post in posts
        ]
        return Page(records=records, next_url=self.search_url(after) if after else None)
