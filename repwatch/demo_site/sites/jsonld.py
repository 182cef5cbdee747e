"""Pages with schema.org reviews, as hotel and shop sites publish them.

    /hotels/acme-shop-downtown?page=N   a hotel page: reviews in JSON-LD (Hotel.review[],
                                        10-point scale, day-only dates), rel=next <link>
    /shop/rivalmart-flagship?page=N     a shop page: reviews in microdata only (5-point,
                                        times with an offset, some undated, no ids), an
                                        absolute rel=next <a> to the shop's own host

Both weigh ~100 KB a page like real ones (inline CSS, a mega-menu, descriptions, a
footer) around 20 reviews, newest first; a page past the end lists no reviews. Ids and
links inside the data name the sites' real hosts, as a real page does.
"""

from __future__ import annotations

import json
import math
import random
import re
from functools import cache
from html import escape
from zoneinfo import ZoneInfo

from repwatch.demo_site import catalog
from repwatch.demo_site.routing import Request, Response

PAGE_SIZE = 20
HOTEL_PATH = "/hotels/acme-shop-downtown"
SHOP_PATH = "/shop/rivalmart-flagship"
SITE_ORIGINS = {
    HOTEL_PATH: "https://www.acme-hotels.example",
    SHOP_PATH: "https://www.rivalmart.example",
}
# The shop writes review times in its own zone, with the offset.
SHOP_TIME_ZONE = ZoneInfo("America/Chicago")
PROFILES = {
    HOTEL_PATH: catalog.Profile(
        name="Acme Shop",
        language="en",
        daily_reviews=(3, 6),
        star_weights={5: 0.40, 4: 0.27, 3: 0.13, 2: 0.08, 1: 0.12},
        weekly_seasonality=True,
    ),
    SHOP_PATH: catalog.Profile(
        name="RivalMart",
        language="en",
        daily_reviews=(2, 5),
        star_weights={5: 0.36, 4: 0.28, 3: 0.14, 2: 0.09, 1: 0.13},
        undated_share=1 / 60,
    ),
}

_WORDS = ("bright", "quiet", "spacious", "modern", "classic", "cosy", "central", "elegant",
          "friendly", "generous", "historic", "local", "seasonal", "walkable", "sunny")  # fmt: skip
_NOUNS = ("rooms", "lobby", "terrace", "breakfast", "bar", "spa", "gym", "pool", "suites",
          "lounge", "courtyard", "library", "restaurant", "market", "museum")  # fmt: skip


def ten_point(review: dict) -> int:
    """A 1–5 star review on the hotel's 10-point scale: 2·stars or one less."""
    return 2 * review["rating"] - int(review["review_id"]) % 2


def page_of(items: list, page: int) -> list:
    return items[(page - 1) * PAGE_SIZE : page * PAGE_SIZE] if page >= 1 else []


def last_page(items: list) -> int:
    return max(1, math.ceil(len(items) / PAGE_SIZE))


def script_json(document: object) -> str:
    """JSON safe inside <script>: a review saying "</script>" cannot end the block."""
    return json.dumps(document, ensure_ascii=False).replace("<", "\\u003c")


@cache
def page_chrome(site: str) -> tuple[str, str, str]:
    """(inline CSS, header with mega-menu, footer): the weight of a real page, per site."""
    rng = random.Random(f"chrome/{site}")
    rules = "\n".join(
        f".{rng.choice(_WORDS)}-{rng.choice(_NOUNS)}-{n} {{ margin: {n % 7 * 4}px auto; "
        f"padding: {n % 5 * 2}px {n % 3 * 6}px; color: #{rng.randrange(0x1000000):06x}; "
        f"font: {12 + n % 6}px/1.{n % 9} system-ui, sans-serif; }}"
        for n in range(260)
    )
    menu = "".join(
        f'<li class="menu-item"><a href="/{rng.choice(_NOUNS)}/{rng.choice(_WORDS)}-{n}">'
        f"{rng.choice(_WORDS).title()} {rng.choice(_NOUNS)}</a></li>"
        for n in range(220)
    )
    footer_links = "".join(
        f'<a class="footer-link" href="/help/{n}">{rng.choice(_WORDS).title()} '
        f"{rng.choice(_NOUNS)} and {rng.choice(_NOUNS)}</a>"
        for n in range(160)
    )
    header = f'<header><nav aria-label="Main"><ul class="mega-menu">{menu}</ul></nav></header>'
    footer = f'<footer><div class="footer-links">{footer_links}</div></footer>'
    return rules, header, footer


@cache
def description(site: str, paragraphs: int) -> str:
    """Deterministic descriptive prose: the about, rooms and FAQ sections of a page."""
    rng = random.Random(f"description/{site}")
    sentences = [
        f"Our {rng.choice(_WORDS)} {rng.choice(_NOUNS)} sit a short walk from the "
        f"{rng.choice(_WORDS)} {rng.choice(_NOUNS)}, with {rng.choice(_WORDS)} "
        f"{rng.choice(_NOUNS)} open every day of the week."
        for _ in range(paragraphs * 5)
    ]
    return "".join(
        f'<section class="about"><h3>{rng.choice(_WORDS).title()} {rng.choice(_NOUNS)}</h3>'
        f"<p>{' '.join(sentences[n * 5 : n * 5 + 5])}</p></section>"
        for n in range(paragraphs)
    )


def html_page(site: str, title: str, head: str, main: str, paragraphs: int = 40) -> str:
    rules, header, footer = page_chrome(site)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{rules}</style>{head}</head>"
        f"<body>{header}<main>{main}{description(site, paragraphs)}</main>{footer}"
        f"</body></html>\n"
    )


def page_number(request: Request) -> int:
    value = request.query.get("page", "1")
    return int(value) if re.fullmatch(r"\d{1,6}", value) else 1


# ---------------------------------------------------------------- the hotel (JSON-LD)


def hotel_review(review: dict, origin: str) -> dict:
    node: dict = {
        "@type": "Review",
        "url": f"{origin}{HOTEL_PATH}/reviews/{review['review_id']}",
        "author": {"@type": "Person", "name": review["author"]},
    }
    if review["published_at"] is not None:
        node["datePublished"] = review["published_at"].date().isoformat()
    node |= {
        "name": review["title"],
        "reviewBody": review["text"],
        "reviewRating": {
            "@type": "Rating",
            "ratingValue": str(ten_point(review)),
            "bestRating": "10",
            "worstRating": "1",
        },
        "interactionStatistic": {
            "@type": "InteractionCounter",
            "interactionType": "https://schema.org/LikeAction",
            "userInteractionCount": review["vote_sum"],
        },
    }
    return node


def serve_hotel(request: Request, match: re.Match) -> Response:
    path = match["path"]
    profile = catalog.profile_of("jsonld", path)
    if profile is None:
        return Response.text("no such hotel\n", status=404)
    origin = SITE_ORIGINS.get(path, SITE_ORIGINS[HOTEL_PATH])
    reviews = catalog.items("jsonld", path, request.last_day)
    page = page_number(request)
    on_page = page_of(reviews, page)
    average = sum(ten_point(r) for r in reviews) / max(1, len(reviews))
    hotel = {
        "@context": "https://schema.org",
        "@type": "Hotel",
        "@id": f"{origin}{path}#hotel",
        "name": f"{path.rsplit('/', 1)[-1].replace('-', ' ').title()} Hotel",
        "address": {
            "@type": "PostalAddress",
            "streetAddress": "1 Market Street",
            "addressLocality": "Springfield",
            "addressCountry": "US",
        },
        "aggregateRating": {
            "@type": "AggregateRating",
            "ratingValue": f"{average:.1f}",
            "bestRating": "10",
            "worstRating": "1",
            "reviewCount": len(reviews),
        },
        "review": [hotel_review(review, origin) for review in on_page],
    }
    breadcrumbs = {
        "@context": "https://schema.org",
        "@type": "BreadcrumbList",
        "itemListElement": [
            {"@type": "ListItem", "position": 1, "name": "Hotels", "item": f"{origin}/hotels"},
            {"@type": "ListItem", "position": 2, "name": hotel["name"]},
        ],
    }
    head = "".join(
        f'<script type="application/ld+json">{script_json(document)}</script>'
        for document in (breadcrumbs, hotel)
    )
    if page < last_page(reviews):
        head += f'<link rel="next" href="{path}?page={page + 1}">'
    cards = "".join(
        f'<article class="review-card"><h4>{escape(r["title"])}</h4>'
        f'<p class="score">{ten_point(r)}/10 · {escape(r["author"])}</p>'
        f"<p>{escape(r['text'])}</p></article>"
        for r in on_page
    )
    main = f'<h1>{hotel["name"]}</h1><section class="reviews">{cards}</section>'
    return Response.html(html_page("jsonld-hotel", hotel["name"], head, main))


# ---------------------------------------------------------------- the shop (microdata)


def shop_review(review: dict) -> str:
    when = review["published_at"] and review["published_at"].astimezone(SHOP_TIME_ZONE)
    date_markup = (
        f'<time itemprop="datePublished" datetime="{when.isoformat(timespec="seconds")}">'
        f"{when:%b %d, %Y}</time>"
        if when is not None
        else ""
    )
    return (
        '<li class="review" itemprop="review" itemscope itemtype="https://schema.org/Review">'
        f'<h3 itemprop="name">{escape(review["title"])}</h3>'
        '<span itemprop="author" itemscope itemtype="https://schema.org/Person">'
        f'by <span itemprop="name">{escape(review["author"])}</span></span> {date_markup}'
        '<div itemprop="reviewRating" itemscope itemtype="https://schema.org/Rating">'
        '<meta itemprop="worstRating" content="1">'
        f'<span itemprop="ratingValue">{review["rating"]}</span> out of '
        '<span itemprop="bestRating">5</span></div>'
        f'<p itemprop="reviewBody">{escape(review["text"])}</p>'
        f'<button class="helpful">Helpful ({review["vote_sum"]})</button></li>'
    )


def serve_shop(request: Request, match: re.Match) -> Response:
    origin = SITE_ORIGINS[SHOP_PATH]
    reviews = catalog.items("jsonld", SHOP_PATH, request.last_day)
    page = page_number(request)
    on_page = page_of(reviews, page)
    rated = [r["rating"] for r in reviews]
    pager = (
        f'<a class="pager-next" rel="next" href="{origin}{SHOP_PATH}?page={page + 1}">Next</a>'
        if page < last_page(reviews)
        else ""
    )
    main = (
        '<div itemscope itemtype="https://schema.org/Product">'
        '<h1 itemprop="name">RivalMart Flagship Store</h1>'
        '<div itemprop="aggregateRating" itemscope itemtype="https://schema.org/AggregateRating">'
        f'<span itemprop="ratingValue">{sum(rated) / max(1, len(rated)):.1f}</span> of '
        f'<span itemprop="bestRating">5</span> from <span itemprop="reviewCount">{len(rated)}'
        "</span> reviews</div>"
        f'<ol class="reviews">{"".join(shop_review(r) for r in on_page)}</ol>{pager}</div>'
    )
    return Response.html(html_page("jsonld-shop", "RivalMart Flagship Store", "", main))


ROUTES = [
    # Any hotel with a profile; the demo's own is HOTEL_PATH.
    (re.compile(r"^(?P<path>/hotels/[a-z0-9-]+)/?$"), serve_hotel),
    (re.compile(rf"^{re.escape(SHOP_PATH)}/?$"), serve_shop),
]
