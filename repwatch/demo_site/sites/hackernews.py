"""The Algolia Hacker News Search API's `search_by_date`, at its real path, for brand mentions.

    /api/v1/search_by_date?query=Q&tags=(story,comment)&numericFilters=created_at_i>T
        &hitsPerPage=N&page=P

As the real API answers today: hits newest first with their keys in alphabetical order;
stories carry `title`, `points`, `num_comments` (and `story_text` for Ask HN, `url` for
links), comments `comment_text`, `story_title`, `story_id`, `parent_id` and no points;
texts are HN's HTML (`<p>` between paragraphs, `&#x27;` for apostrophes). `tags` is an
AND of comma-separated terms, a term in parentheses an OR; `numericFilters` a comma-
separated AND of `field op number`; `page` counts from 0, `hitsPerPage` defaults to 20,
and no search pages past its first 1,000 hits. Lower volume than Reddit: a few a day.
"""

from __future__ import annotations

import math
import operator
import re
from datetime import date
from functools import lru_cache
from html import escape, unescape
from http import HTTPStatus
from urllib.parse import urlencode

from repwatch.demo_site.routing import Request, Response
from repwatch.demo_site.sites.reddit import brand_items, english_mentions, item_rng

DEFAULT_HITS_PER_PAGE = 20
MAX_HITS_PER_PAGE = 1000
PAGINATION_LIMIT = 1000
STORY_SHARE = 0.35
ASK_HN_SHARE = 0.5  # of stories; the others are links
STORY_TITLES = (
    "{brand} is changing its return policy",
    "Ask HN: Has anyone else had problems with {brand}?",
    "{brand} raises prices for the third time this year",
    "How {brand} handles two million orders a day",
    "Show HN: I built a price tracker for {brand}",
)
NUMERIC_FIELDS = ("created_at_i", "points", "num_comments")
_COMPARISONS = {
    ">=": operator.ge,
    "<=": operator.le,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    "=": operator.eq,
}
_NUMERIC_FILTER = re.compile(r"^\s*(?P<field>\w+)\s*(?P<op>>=|<=|!=|>|<|=)\s*(?P<value>-?\d+)\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

# Keyed by the search query; nine-digit item ids.
PROFILES = {
    "Acme Shop": english_mentions(
        "Acme Shop", (1, 4), {5: 0.28, 4: 0.24, 3: 0.18, 2: 0.12, 1: 0.18}, id_prefix=1
    ),
    "RivalMart": english_mentions(
        "RivalMart", (1, 3), {5: 0.30, 4: 0.24, 3: 0.18, 2: 0.12, 1: 0.16}, id_prefix=2
    ),
}


class BadRequest(ValueError):
    """A parameter the API would answer with a 400."""


def hn_html(text: str) -> str:
    """Plain text as HN stores it: entities for quotes and slashes, `<p>` between paragraphs."""
    # unescape first: some catalogue texts carry entities from their dataset.
    escaped = escape(unescape(text)).replace("/", "&#x2F;")  # with &#x27; and &quot;
    sentences = _SENTENCE_END.split(escaped)
    if len(sentences) < 2:
        return escaped
    middle = len(sentences) // 2
    return " ".join(sentences[:middle]) + "<p>" + " ".join(sentences[middle:])


def _highlight(value: str) -> dict:
    return {"matchLevel": "none", "matchedWords": [], "value": value}


def hn_hit(item: dict) -> dict:
    """One catalogue item as a search hit: a story or a comment."""
    rng = item_rng("hackernews", item)
    object_id = int(item["review_id"])
    brand, author = item["app_name"], item["author"]
    moment = item["published_at"]
    created_at = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    common = {
        "author": author,
        "created_at": created_at,
        "created_at_i": int(moment.timestamp()),
        "objectID": str(object_id),
        "updated_at": created_at,
    }
    if rng.random() < STORY_SHARE:
        ask = rng.random() < ASK_HN_SHARE
        subject = unescape(item["title"])  # titles are plain text on HN
        title = f"Ask HN: {subject} ({brand})" if ask else f"{brand}: {subject}"
        num_comments = rng.choice((0, 1, 2, 4, 9, 23))
        hit = common | {
            "_tags": ["story", f"author_{author}", f"story_{object_id}"] + (["ask_hn"] * ask),
            "num_comments": num_comments,
            "points": rng.choice((1, 1, 2, 3, 5, 8, 21, 55)),
            "story_id": object_id,
            "title": title,
        }
        if ask:
            hit["story_text"] = hn_html(item["text"])
        else:
            domain = brand.lower().replace(" ", "") + ".example"
            hit["url"] = f"https://{domain}/blog/{object_id}"
        highlights = {"author": _highlight(author), "title": _highlight(title)}
    else:
        story_id = object_id - rng.randint(50, 5000)
        story_title = rng.choice(STORY_TITLES).format(brand=brand)
        hit = common | {
            "_tags": ["comment", f"author_{author}", f"story_{story_id}"],
            "comment_text": hn_html(item["text"]),
            "parent_id": story_id if rng.random() < 0.6 else story_id + rng.randint(1, 49),
            "story_id": story_id,
            "story_title": story_title,
        }
        highlights = {
            "author": _highlight(author),
            "comment_text": _highlight(hit["comment_text"]),
            "story_title": _highlight(story_title),
        }
    return {"_highlightResult": highlights} | dict(sorted(hit.items()))


def _tag_terms(tags: str) -> list[set[str]]:
    """`story,(author_a,author_b)` → [{"story"}, {"author_a", "author_b"}]: AND of ORs."""
    terms = re.findall(r"\(([^()]*)\)|([^,()]+)", tags)
    return [
        {tag.strip() for tag in (group or single).split(",") if tag.strip()}
        for group, single in terms
    ]


def _numeric_filters(filters: str) -> list:
    conditions = []
    for part in filter(None, (piece.strip() for piece in filters.split(","))):
        match = _NUMERIC_FILTER.match(part)
        if not match or match["field"] not in NUMERIC_FIELDS:
            raise BadRequest(f"invalid numericFilters: {part!r}")
        conditions.append((match["field"], _COMPARISONS[match["op"]], int(match["value"])))
    return conditions


def _matches(hit: dict, tag_terms: list[set[str]], conditions: list) -> bool:
    if not all(term & set(hit["_tags"]) for term in tag_terms):
        return False
    # A hit without the field (a comment's points) matches no condition on it.
    return all(field in hit and compare(hit[field], value) for field, compare, value in conditions)


def _whole_number(value: str | None, default: int, what: str) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit():
        raise BadRequest(f"invalid {what}: {value!r}")
    return int(value)


@lru_cache(maxsize=32)
def _hits(query: str, last_day: date) -> tuple[dict, ...]:
    """Every hit a query finds, built once per query and day (filters and pages slice it)."""
    return tuple(hn_hit(item) for item in brand_items("hackernews", query, last_day, PROFILES))


@lru_cache(maxsize=128)
def _filtered(query: str, last_day: date, tags: str, filters: str) -> tuple[dict, ...]:
    """The hits one search matches; every page of that search slices the same tuple."""
    tag_terms, conditions = _tag_terms(tags), _numeric_filters(filters)
    return tuple(hit for hit in _hits(query, last_day) if _matches(hit, tag_terms, conditions))


def search_by_date(parameters: dict[str, str], last_day: date) -> dict:
    query = parameters.get("query", "")
    hits_per_page = min(
        _whole_number(parameters.get("hitsPerPage"), DEFAULT_HITS_PER_PAGE, "hitsPerPage"),
        MAX_HITS_PER_PAGE,
    )
    page = _whole_number(parameters.get("page"), 0, "page")
    # Parses (and rejects bad) tags and numericFilters; errors are not cached.
    hits = _filtered(
        query, last_day, parameters.get("tags", ""), parameters.get("numericFilters", "")
    )
    reachable = min(len(hits), PAGINATION_LIMIT)
    pages = math.ceil(reachable / hits_per_page) if hits_per_page else 0
    start = page * hits_per_page
    on_page = hits[start : min(start + hits_per_page, reachable)] if hits_per_page else []
    return {
        "exhaustive": {"nbHits": True, "typo": True},
        "exhaustiveNbHits": True,
        "exhaustiveTypo": True,
        "hits": on_page,
        "hitsPerPage": hits_per_page,
        "nbHits": len(hits),
        "nbPages": pages,
        "page": page,
        "params": urlencode({**parameters, "advancedSyntax": "true", "analyticsTags": "backend"}),
        "processingTimeMS": 1,
        "processingTimingsMS": {"_request": {"roundTrip": 12}},
        "query": query,
        "serverTimeMS": 2,
    }


def serve_search_by_date(request: Request, match: re.Match) -> Response:
    try:
        document = search_by_date(request.query, request.last_day)
    except BadRequest as exc:
        return Response.json({"message": str(exc), "status": 400}, status=HTTPStatus.BAD_REQUEST)
    return Response.json(document)


ROUTES = [(re.compile(r"^/api/v1/search_by_date$"), serve_search_by_date)]
