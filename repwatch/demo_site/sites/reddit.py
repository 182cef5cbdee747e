"""Reddit's search listings (JSON), at their real paths, for brand mentions.

    /search.json?q=Q&sort=new&limit=N&after=t3_xxx
    /r/{subreddit}/search.json?q=Q&restrict_sr=1&sort=new&limit=N&after=t3_xxx

Same shape and quirks as Reddit: a `Listing` of `t3` children, newest first, 25 a page
unless `limit` (at most 100); `after` is the last post's fullname, null on the last page;
`&`, `<` and `>` in titles and bodies come HTML-escaped (no `raw_json=1`); link posts have
an empty selftext; a post deleted by its author shows author and selftext "[deleted]",
one removed by moderators selftext "[removed]". Posts are the catalogue's real review texts;
the query names the brand (PROFILES); an unknown query finds nothing.

`brand_items` and `item_rng` also serve the hackernews demo.
"""

from __future__ import annotations

import random
import re
from datetime import date
from functools import lru_cache
from html import escape, unescape

from repwatch.demo_site import catalog
from repwatch.demo_site.routing import Request, Response

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
SUBREDDITS = (
    ("shopping", 0.3),
    ("BuyItForLife", 0.15),
    ("Frugal", 0.15),
    ("onlineshopping", 0.15),
    ("CustomerService", 0.1),
    ("mildlyinfuriating", 0.1),
    ("AskReddit", 0.05),
)
TITLE_TEMPLATES = ("{brand}: {title}", "{title} ({brand})", "{title} - anyone else with {brand}?")
DELETED_SHARE = 0.03
REMOVED_SHARE = 0.02
LINK_POST_SHARE = 0.15
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_SLUG_JUNK = re.compile(r"[^a-z0-9]+")


def english_mentions(name: str, daily: tuple[int, int], weights: dict, **kw) -> catalog.Profile:
    """A brand's mentions on one site: real English texts, (low, high) a day."""
    return catalog.Profile(name, "en", daily, weights, **kw)


# Keyed by the search query. Mentions have no stars: the weights only pick how positive
# or negative the real texts are. Ids: seven base-36 digits, like Reddit's today.
PROFILES = {
    "Acme Shop": english_mentions(
        "Acme Shop",
        (3, 8),
        {5: 0.30, 4: 0.25, 3: 0.15, 2: 0.12, 1: 0.18},
        id_prefix=30,
        weekly_seasonality=True,
        surge=True,
    ),
    "RivalMart": english_mentions(
        "RivalMart", (2, 6), {5: 0.32, 4: 0.25, 3: 0.15, 2: 0.12, 1: 0.16}, id_prefix=31
    ),
}


def brand_items(site: str, query: str, last_day: date, profiles: dict) -> list[dict]:
    """The catalogue's items for the profile a search query names (case-insensitive)."""
    wanted = " ".join(query.split()).casefold()
    known = [*profiles, *(key for (name, key) in catalog.PROFILES if name == site)]
    key = next((key for key in known if key.casefold() == wanted), None)
    return catalog.items(site, key, last_day) if key else []


def item_rng(site: str, item: dict) -> random.Random:
    """Per-item randomness that does not shift when other items change."""
    return random.Random(f"{site}/{item['review_id']}")


def base36(number: int) -> str:
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = _BASE36[digit] + digits
        if not number:
            return digits


def _slug(title: str) -> str:
    return _SLUG_JUNK.sub("_", title.lower()).strip("_")[:50].rstrip("_")


def reddit_post(item: dict) -> dict:
    """One catalogue item as the `data` of a t3 child (a subset of Reddit's keys, in order)."""
    rng = item_rng("reddit", item)
    post_id = base36(int(item["review_id"]))
    subreddit = rng.choices([name for name, _ in SUBREDDITS], [w for _, w in SUBREDDITS])[0]
    template = rng.choice(TITLE_TEMPLATES)
    title = template.format(brand=item["app_name"], title=unescape(item["title"]))
    fate = rng.random()
    deleted, removed = fate < DELETED_SHARE, DELETED_SHARE <= fate < DELETED_SHARE + REMOVED_SHARE
    is_self = rng.random() >= LINK_POST_SHARE
    permalink = f"/r/{subreddit}/comments/{post_id}/{_slug(title)}/"
    # Some catalogue texts carry entities from their dataset: escape what they say, once.
    selftext = escape(unescape(item["text"]), quote=False) if is_self else ""
    if deleted:
        selftext = "[deleted]" if is_self else ""
    elif removed:
        selftext = "[removed]"
    author = "[deleted]" if deleted else item["author"]
    score = max(0, round(rng.lognormvariate(1.5, 1.2)) - rng.randint(0, 2))
    created = float(int(item["published_at"].timestamp()))
    brand_domain = item["app_name"].lower().replace(" ", "") + ".example"
    link = (
        f"https://www.reddit.com{permalink}" if is_self else f"https://{brand_domain}/p/{post_id}"
    )
    post = {
        "approved_at_utc": None,
        "subreddit": subreddit,
        "selftext": selftext,
        "title": escape(title, quote=False),
        "subreddit_name_prefixed": f"r/{subreddit}",
        "hidden": False,
        "downs": 0,
        "name": f"t3_{post_id}",
        "upvote_ratio": round(rng.uniform(0.55, 1.0), 2),
        "subreddit_type": "public",
        "ups": score,
        "score": score,
        "thumbnail": "self" if is_self else "default",
        "edited": False,
        "is_self": is_self,
        "created": created,
        "link_flair_type": "text",
        "removed_by_category": "deleted" if deleted else "moderator" if removed else None,
        "domain": f"self.{subreddit}" if is_self else brand_domain,
        "selftext_html": (
            escape(f'<!-- SC_OFF --><div class="md"><p>{selftext}</p>\n</div><!-- SC_ON -->')
            if selftext
            else None
        ),
        "archived": False,
        "over_18": False,
        "locked": False,
        "created_utc": created,
        "num_crossposts": 0,
        "id": post_id,
        "author": author,
        "num_comments": rng.choice((0, 0, 1, 2, 3, 5, 8, 13, 40)),
        "permalink": permalink,
        "url": link,
        "stickied": False,
        "is_video": False,
    }
    if not deleted:
        post["author_fullname"] = f"t2_{base36(int(item['author_id']))}"
    return post


def listing(posts: list[dict], after: str | None) -> dict:
    return {
        "kind": "Listing",
        "data": {
            "modhash": "",
            "dist": len(posts),
            "facets": {},
            "after": after,
            "geo_filter": "",
            "children": [{"kind": "t3", "data": post} for post in posts],
            "before": None,
        },
    }


@lru_cache(maxsize=32)
def _posts(query: str, last_day: date) -> tuple[dict, ...]:
    """Every post a query finds, built once per query and day (pages are slices of it)."""
    return tuple(reddit_post(item) for item in brand_items("reddit", query, last_day, PROFILES))


def search_page(
    query: str, subreddit: str | None, after: str | None, limit: int, last_day: date
) -> dict:
    posts = list(_posts(query, last_day))
    if subreddit:
        posts = [post for post in posts if post["subreddit"].lower() == subreddit.lower()]
    start = 0
    if after:
        names = [post["name"] for post in posts]
        # An unknown cursor finds nothing, as on Reddit.
        start = names.index(after) + 1 if after in names else len(posts)
    on_page = posts[start : start + limit]
    more = start + limit < len(posts)
    return listing(on_page, on_page[-1]["name"] if on_page and more else None)


def _limit(value: str | None) -> int:
    if value is None or not value.isdigit():
        return DEFAULT_LIMIT
    return min(max(int(value), 1), MAX_LIMIT)


def serve_search(request: Request, match: re.Match) -> Response:
    restricted = request.query.get("restrict_sr", "").lower() in ("1", "on", "true")
    subreddit = match.groupdict().get("subreddit") if restricted else None
    document = search_page(
        request.query.get("q", ""),
        subreddit,
        request.query.get("after") or None,
        _limit(request.query.get("limit")),
        request.last_day,
    )
    return Response.json(document)


ROUTES = [
    (re.compile(r"^/search\.json$"), serve_search),
    (re.compile(r"^/r/(?P<subreddit>[A-Za-z0-9_]{2,21})/search\.json$"), serve_search),
]
