"""JD.com product comments, from the comment service behind every product page.

    {base_url}/comment/productPageComments.action?callback=fetchJSON_comment98
        &productId={id}&score=0&sortType=6&page={n}&pageSize=10&isShadowSku=0&fold=1

`page` counts from 0, ten comments a page, newest first with sortType=6; the document's
`maxPage` is how many pages JD will serve (never more than 100). The answer is JSONP when
a callback is sent (as JD's own pages do) and plain JSON otherwise, usually GBK-encoded and
not always labelled so. Times are Beijing local time without a zone. The parsing is the pure
function `parse_comments_page`, so saved responses are tested without a Scrapy engine.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import scrapy
from scrapy.http import Response

from repwatch.records import clean_text, make_record
from spiders.base import Page, ReviewSpider
from spiders.encoding import PageParseError, declared_charset, decode_body, load_json
from spiders.values import utc_iso_or_none

SOURCE = "jd"
JD_BASE_URL = "https://club.jd.com"
JD_ITEM_URL = "https://item.jd.com"
JD_MAX_PAGES = 100
JSONP_CALLBACK = "fetchJSON_comment98"
COMMENTS_PATH = "/comment/productPageComments.action"
# China has kept UTC+8 without daylight saving since 1991: no tz database needed.
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
# What JD shows when a buyer left the stars but wrote nothing: not the buyer's words.
PLACEHOLDER_TEXTS = frozenset({"此用户未填写评价内容", "您没有填写内容，默认好评", "默认好评"})
_JSONP_START = re.compile(r"^\s*[A-Za-z_$][\w$.]*\s*\(")


class CommentsPageError(PageParseError):
    """The payload is not a page of JD product comments."""


def page_text(body: bytes, content_type: bytes | str | None) -> str:
    """The page as text. Valid UTF-8 is taken as UTF-8 whatever the label says: UTF-8 bytes
    labelled GBK often "decode" as GBK into nonsense, while GBK text is almost never valid
    UTF-8. Otherwise the declared charset, then GB18030 (a superset of GBK)."""
    try:
        body.decode("utf-8")
        declared = "utf-8"
    except UnicodeDecodeError:
        declared = declared_charset(content_type)
    text, _ = decode_body(body, declared)
    return text


def unwrap_jsonp(text: str) -> str:
    """The JSON inside `callback({...});`, or the text itself when it is plain JSON."""
    start = _JSONP_START.match(text)
    if start is None:
        return text
    # `);` and spaces at the end, found by stripping: a regular expression searching for
    # them backtracked quadratically over a long run of spaces after a ")".
    end = text.rstrip()
    end = end.removesuffix(";").rstrip()
    if not end.endswith(")") or len(end) <= start.end():
        raise CommentsPageError("JSONP page without its closing parenthesis (truncated?)")
    return text[start.end() : len(end) - 1]


def comments_document(body: bytes, content_type: bytes | str | None = None) -> dict:
    """The comments document of one page; raises CommentsPageError for anything else."""
    text = page_text(body, content_type)
    if not text.strip():
        raise CommentsPageError("empty page (JD answers blocked requests with nothing)")
    stripped = text.lstrip()
    if not (stripped.startswith("{") or _JSONP_START.match(stripped)):
        raise CommentsPageError("not JSON or JSONP (an HTML error or verification page?)")
    json_text = unwrap_jsonp(text)
    try:
        document = load_json(json_text, "the comments page")
    except PageParseError as exc:
        raise CommentsPageError(str(exc)) from None
    if not isinstance(document, dict) or "comments" not in document:
        raise CommentsPageError("not a comments page: no `comments` in the document")
    comments = document["comments"] or []
    if not isinstance(comments, list) or not all(isinstance(item, dict) for item in comments):
        raise CommentsPageError("not a comments page: `comments` is not a list of objects")
    document["comments"] = comments
    return document


def as_int(value: Any) -> int | None:
    """An int from a JSON number or a digit string; None for anything else (bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    return None


def beijing_to_utc(value: Any) -> str | None:
    """ "2026-11-20 14:03:22" (Beijing time) as UTC ISO; None when missing or unreadable."""
    if not isinstance(value, str):
        return None
    for time_format in TIME_FORMATS:
        try:
            moment = datetime.strptime(value.strip(), time_format)
        except ValueError:
            continue
        return utc_iso_or_none(moment.replace(tzinfo=BEIJING))
    return None


def merchant_reply(comment: dict) -> tuple[str | None, str | None]:
    """(text, UTC time) of the first reply in `replies` (JD's customer-service replies);
    first by time when the replies carry times, so late follow-ups never hide the answer."""
    replies = comment.get("replies")
    replies = [
        reply
        for reply in (replies if isinstance(replies, list) else [])
        if isinstance(reply, dict) and clean_text(reply.get("content"))
    ]
    if not replies:
        return None, None
    dated = [
        (moment, reply)
        for reply in replies
        if (moment := beijing_to_utc(reply.get("creationTime"))) is not None
    ]
    if not dated:
        return clean_text(replies[0].get("content")), None
    first_at, first = min(dated, key=lambda pair: pair[0])
    return clean_text(first.get("content")), first_at


def comment_text(comment: dict) -> str | None:
    text = clean_text(comment.get("content"))
    return None if text in PLACEHOLDER_TEXTS else text


def item_url(product_id: str, base_url: str = JD_BASE_URL) -> str:
    """The product page's comment tab; on the base URL's host when it is not JD's."""
    host = JD_ITEM_URL if base_url.rstrip("/") == JD_BASE_URL else base_url.rstrip("/")
    return f"{host}/{product_id}.html#comment"


def summary_extra(document: dict) -> dict:
    """The product's totals as JD states them, for every record of the page."""
    summary = document.get("productCommentSummary")
    summary = summary if isinstance(summary, dict) else {}
    good_rate = summary.get("goodRate")
    return {
        "product_comment_count": as_int(summary.get("commentCount")),
        "product_good_rate": good_rate if isinstance(good_rate, int | float) else None,
    }


def parse_comment(
    comment: dict, *, product_id: str, target_id: str, url: str, crawled_at: str, totals: dict
) -> dict:
    """One comment as a normalised record (`repwatch.records.RECORD_FIELDS`)."""
    text = comment_text(comment)
    title = clean_text(comment.get("title"))
    published_at = beijing_to_utc(comment.get("creationTime"))
    reply_text, reply_at = merchant_reply(comment)
    rating = as_int(comment.get("score"))
    likes = as_int(comment.get("usefulVoteCount"))
    comment_id = comment.get("id")
    return make_record(
        source=SOURCE,
        target_id=target_id,
        review_id=clean_text(comment_id if comment_id is not None else comment.get("guid")),
        author=clean_text(comment.get("nickname")),
        rating=rating if rating is not None and 1 <= rating <= 5 else None,
        title=title,
        text=text,
        published_at=published_at,
        reply_text=reply_text,
        reply_at=reply_at,
        url=url,
        likes=likes,
        extra={
            "product_id": product_id,
            "product_color": clean_text(comment.get("productColor")),
            "product_size": clean_text(comment.get("productSize")),
            **totals,
        },
        crawled_at=crawled_at,
        raw=comment,
    )


def parse_comments_page(
    body: bytes,
    content_type: bytes | str | None = None,
    *,
    product_id: str,
    target_id: str,
    crawled_at: str,
    base_url: str = JD_BASE_URL,
) -> tuple[list[dict], int | None]:
    """(records, maxPage) of one page; raises CommentsPageError for anything else."""
    document = comments_document(body, content_type)
    url = item_url(product_id, base_url)
    totals = summary_extra(document)
    records = [
        parse_comment(
            comment,
            product_id=product_id,
            target_id=target_id,
            url=url,
            crawled_at=crawled_at,
            totals=totals,
        )
        for comment in document["comments"]
    ]
    return records, as_int(document.get("maxPage"))


def page_index(url: str, default: int) -> int:
    """JD's 0-based page number of a comments URL."""
    values = parse_qs(urlsplit(url).query).get("page")
    number = as_int(values[-1]) if values else None
    return number if number is not None and number >= 0 else default


class JdSpider(ReviewSpider):
    """Arguments: product_id, since (YYYY-MM-DD), base_url, max_pages."""

    name = SOURCE
    default_base_url = JD_BASE_URL
    default_max_pages = JD_MAX_PAGES
    target_keys = ("product_id",)
    numbered_pages = True

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.product_id = self.params["product_id"].strip()
        if not self.product_id.isdigit():
            raise ValueError(f"product_id must be numeric, got {self.product_id!r}")

    def comments_url(self, index: int) -> str:
        """The comments URL of JD's page `index` (0-based), as JD's product page asks for it."""
        return (
            f"{self.base_url}{COMMENTS_PATH}?callback={JSONP_CALLBACK}"
            f"&productId={self.product_id}&score=0&sortType=6&page={index}&pageSize=10"
            "&isShadowSku=0&fold=1"
        )

    def page_url(self, page: int) -> str:
        return self.comments_url(page - 1)

    def page_request(self, url: str, page: int) -> scrapy.Request:
        # JD answers comment requests without the product page as Referer with an empty page.
        referer = item_url(self.product_id, self.base_url).removesuffix("#comment")
        return super().page_request(url, page).replace(headers={"Referer": referer})

    def parse_page(self, response: Response, page: int, crawled_at: str) -> Page:
        records, max_page = parse_comments_page(
            response.body,
            response.headers.get(b"Content-Type"),
            product_id=self.product_id,
            target_id=self.target_id,
            crawled_at=crawled_at,
            base_url=self.base_url,
        )
        index = page_index(response.url, page - 1)
        # Without maxPage, keep going until JD serves an empty page.
        has_next = bool(records) and (max_page is None or index + 1 < max_page)
        return Page(records=records, next_url=self.comments_url(index + 1) if has_next else None)
