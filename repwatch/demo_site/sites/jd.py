"""JD.com's product comment service, at its real path, in its real shape and encodings.

    /comment/productPageComments.action?productId=ID&score=0&sortType=6&page=N&pageSize=10

As on JD: `page` counts from 0, ten comments a page, at most 100 pages (`maxPage`), so the
oldest comments of a busy product are out of reach; sortType=6 is newest first, anything
else JD's "recommended" order (most useful first). With a `callback` the answer is JSONP.
Times are Beijing local time without a zone. Acme Shop's product answers in GBK with a GBK
header (GB18030 bytes for the few characters GBK lacks, as JD's servers do), RivalMart's
in UTF-8, so clients must cope with both. `/{product_id}.html` is a stub product page, the
target of the review links.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from html import escape
from http import HTTPStatus

from repwatch.demo_site import catalog
from repwatch.demo_site.routing import Request, Response

PAGE_SIZE = 10
MAX_PAGES = 100
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
ACME_PRODUCT = "100012043978"
RIVAL_PRODUCT = "100009077475"

PROFILES = {
    ACME_PRODUCT: catalog.Profile(
        name="Acme Shop",
        language="zh",
        daily_reviews=(8, 14),
        star_weights={5: 0.45, 4: 0.25, 3: 0.10, 2: 0.08, 1: 0.12},
        surge=True,
        replies=catalog.ReplyPolicy(negative_share=0.75, other_share=0.3),
        id_prefix=190,  # ids of about 1.9e10, as JD's comment ids are today
    ),
    RIVAL_PRODUCT: catalog.Profile(
        name="RivalMart",
        language="zh",
        daily_reviews=(6, 10),
        star_weights={5: 0.42, 4: 0.26, 3: 0.12, 2: 0.08, 1: 0.12},
        replies=catalog.ReplyPolicy(negative_share=0.4, other_share=0.1),
        id_prefix=191,
    ),
}
# How each product's pages are encoded: the charset label and the codec writing the bytes.
ENCODINGS = {ACME_PRODUCT: ("GBK", "gb18030"), RIVAL_PRODUCT: ("utf-8", "utf-8")}
PRODUCT_TITLES = {
    ACME_PRODUCT: "Acme 智能保温杯 316不锈钢 长效保温",
    RIVAL_PRODUCT: "RivalMart 真空保温杯 大容量 便携",
}
COLORS = ("曜石黑", "珍珠白", "雾霾蓝")
SIZES = ("500ml", "750ml")
PROVINCES = ("北京", "上海", "广东", "浙江", "四川", "")
LEVELS = (("PLUS会员", "105"), ("金牌会员", "62"), ("银牌会员", "61"), ("铜牌会员", "56"))
CLIENTS = (
    (2, "来自京东iPhone客户端", True),
    (4, "来自京东Android客户端", True),
    (0, "", False),
)
_CALLBACK = re.compile(r"^[A-Za-z_$][\w$.]{0,63}$")
_PATH = re.compile(r"^/comment/productPageComments\.action$")
_ITEM_PATH = re.compile(r"^/(?P<product_id>\d+)\.html$")


def beijing_time(moment: datetime) -> str:
    """E.g. "2026-11-20 22:03:22": JD's local time, without a zone."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def _pick(review_id: str, salt: str, choices: tuple):
    digest = hashlib.sha256(f"{review_id}/{salt}".encode()).digest()
    return choices[digest[0] % len(choices)]


def is_anonymous(review: dict) -> bool:
    return int(review["review_id"]) % 3 != 0


def display_nickname(review: dict) -> str:
    """JD shows anonymous buyers as first and last character around three stars."""
    name = review["author"]
    return f"{name[0]}***{name[-1]}" if is_anonymous(review) else name


def count_str(count: int) -> str:
    """JD's rounded counts: "7", "10+", "600+", "1500+", "4.9万+", "400万+"."""
    if count < 10:
        return str(count)
    if count < 1000:
        step = 10 ** int(math.log10(count))
        return f"{count // step * step}+"
    if count < 10_000:
        return f"{count // 100 * 100}+"
    if count < 100_000:
        return f"{math.floor(count / 1000) / 10:g}万+"
    return f"{count // 10_000}万+"


@lru_cache(maxsize=32)
def cached_summary(product_id: str, last_day: date) -> dict:
    """The summary is the same on every page: count once per product and day."""
    return comment_summary(product_id, catalog.items("jd", product_id, last_day))


def comment_summary(product_id: str, reviews: list[dict]) -> dict:
    """productCommentSummary: the product's totals, from every comment it has."""
    total = len(reviews)
    by_score = {stars: sum(r["rating"] == stars for r in reviews) for stars in range(1, 6)}
    good, general, poor = by_score[4] + by_score[5], by_score[3], by_score[1] + by_score[2]

    def rate(count: int) -> float:
        return round(count / total, 3) if total else 0.0

    average = round(sum(r["rating"] for r in reviews) / total) if total else 0
    return {
        "skuId": int(product_id),
        "averageScore": average,
        "defaultGoodCount": 0,
        "defaultGoodCountStr": "0",
        "commentCount": total,
        "commentCountStr": count_str(total),
        "goodCount": good,
        "goodCountStr": count_str(good),
        "goodRate": rate(good),
        "goodRateShow": round(rate(good) * 100),
        "generalCount": general,
        "generalCountStr": count_str(general),
        "generalRate": rate(general),
        "generalRateShow": round(rate(general) * 100),
        "poorCount": poor,
        "poorCountStr": count_str(poor),
        "poorRate": rate(poor),
        "poorRateShow": round(rate(poor) * 100),
        "videoCount": 0,
        "videoCountStr": "0",
        "afterCount": 0,
        "afterCountStr": "0",
        "showCount": 0,
        "showCountStr": "0",
        "productId": int(product_id),
        **{f"score{stars}Count": by_score[stars] for stars in range(1, 6)},
    }


def merchant_reply(review: dict, product_id: str) -> dict:
    """The shop's reply as JD lists it in `replies`."""
    reply_id = int(hashlib.sha256(review["review_id"].encode()).hexdigest()[:8], 16)
    shop = f"{review['app_name']}京东自营旗舰店"
    return {
        "commentId": review["review_id"],
        "content": review["reply_text"],
        "creationTime": beijing_time(review["reply_at"]),
        "creationTimeString": beijing_time(review["reply_at"]),
        "id": reply_id,
        "guid": str(reply_id),
        "isDelete": False,
        "parentId": "-1",
        "targetId": "null",
        "pin": f"{review['app_name']}客服",
        "nickname": f"{review['app_name']}客服",
        "userClient": 98,
        "venderShopInfo": {
            "id": int(product_id) % 1_000_000,
            "appName": f"//mall.jd.com/index-{int(product_id) % 1_000_000}.html",
            "title": shop,
        },
        "replyCount": 0,
        "replyList": [],
        "userClientShow": "",
        "isMobile": False,
    }


def comment(review: dict, product_id: str) -> dict:
    """One review in the shape of an entry of JD's `comments` (key order as JD sends it)."""
    review_id = review["review_id"]
    written = review["written_at"]
    bought = written - timedelta(days=1 + int(review_id) % 9, hours=int(review_id) % 17)
    level_name, level_id = _pick(review_id, "level", LEVELS)
    client, client_show, mobile = _pick(review_id, "client", CLIENTS)
    replies = [merchant_reply(review, product_id)] if review["reply_text"] else []
    entry = {
        "id": int(review_id),
        "topped": 0,
        "guid": str(uuid.UUID(bytes=hashlib.sha256(review_id.encode()).digest()[:16])),
        "content": review["text"],
    }
    if review["published_at"] is not None:
        entry["creationTime"] = beijing_time(review["published_at"])
    entry |= {
        "isDelete": False,
        "isTop": False,
        "userImageUrl": "misc.360buyimg.com/user/myjd-2015/css/i/peisong.jpg",
        "replies": replies,
        "replyCount": 0,
        "replyCount2": len(replies),
        "score": review["rating"],
        "imageStatus": 1,
        "title": "",
        "usefulVoteCount": review["vote_sum"],
        "userClient": client,
        "discussionId": int(review_id) // 1000,
        "imageCount": 0,
        "anonymousFlag": 1 if is_anonymous(review) else 0,
        "plusAvailable": 201 if level_name == "PLUS会员" else 0,
        "mobileVersion": "",
        "mergeOrderStatus": 2,
        "productColor": _pick(review_id, "color", COLORS),
        "productSize": _pick(review_id, "size", SIZES),
        "textIntegral": 20,
        "imageIntegral": 0,
        "status": 1,
        "referenceId": product_id,
        "referenceTime": beijing_time(bought),
        "nickname": display_nickname(review),
        "userProvince": _pick(review_id, "province", PROVINCES),
        "userLevelName": level_name,
        "userLevelId": level_id,
        "referenceName": PRODUCT_TITLES.get(product_id, ""),
        "referenceType": "Product",
        "firstCategory": 1620,
        "secondCategory": 1625,
        "thirdCategory": 13788,
        "userClientShow": client_show,
        "isMobile": mobile,
        "days": (written - bought).days,
        "afterDays": 0,
    }
    return entry


def listing(product_id: str, request: Request) -> list[dict]:
    """The comments the query asks for, in the order it asks for."""
    reviews = catalog.items("jd", product_id, request.last_day)
    score_filter = {"1": (1, 2), "2": (3,), "3": (4, 5)}.get(request.query.get("score", "0"))
    if score_filter:
        reviews = [review for review in reviews if review["rating"] in score_filter]
    if request.query.get("sortType", "5") != "6":  # "recommended": most useful first
        reviews = sorted(reviews, key=lambda review: -review["vote_sum"])
    return reviews


def comments_page(request: Request) -> dict:
    """The whole document for one page of one product's comments."""
    product_id = request.query.get("productId", "")
    every_review = catalog.items("jd", product_id, request.last_day) if product_id else []
    reviews = listing(product_id, request) if every_review else []
    page = request.query.get("page", "0")
    index = int(page) if page.isdigit() else 0
    max_page = min(MAX_PAGES, math.ceil(len(reviews) / PAGE_SIZE))
    on_page = reviews[index * PAGE_SIZE : (index + 1) * PAGE_SIZE] if index < max_page else []
    return {
        "productAttr": None,
        "productCommentSummary": cached_summary(product_id, request.last_day)
        if every_review
        else None,
        "hotCommentTagStatistics": [],
        "jwotestProduct": "99",
        "maxPage": max_page,
        "testId": "cfg",
        "score": int(request.query.get("score", "0") or 0),
        "soType": int(request.query.get("sortType", "5") or 5),
        "imageListCount": 0,
        "vTagStatistics": None,
        "csv": "comment,0.00,0.00,0.00,0.00,0.00,0.00",
        "comments": [comment(review, product_id) for review in on_page],
    }


def serve_comments(request: Request, match: re.Match) -> Response:
    product_id = request.query.get("productId", "")
    label, codec = ENCODINGS.get(product_id, ("GBK", "gb18030"))
    text = json.dumps(comments_page(request), ensure_ascii=False, separators=(",", ":"))
    callback = request.query.get("callback", "")
    if _CALLBACK.match(callback):
        return Response(f"{callback}({text});".encode(codec), f"text/html;charset={label}")
    return Response(text.encode(codec), f"application/json;charset={label}")


def serve_item_page(request: Request, match: re.Match) -> Response:
    product_id = match["product_id"]
    title = PRODUCT_TITLES.get(product_id)
    if title is None:
        return Response.html("<h1>商品不存在</h1>", status=HTTPStatus.NOT_FOUND)
    return Response.html(
        f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>"
        f"<title>{escape(title)} - 京东</title></head><body><h1>{escape(title)}</h1>"
        f"<div id='comment'>商品评价</div></body></html>"
    )


ROUTES = [(_PATH, serve_comments), (_ITEM_PATH, serve_item_page)]
