"""Trustpilot business pages at their real path, `/review/{domain}?page=N`.

`acme-shop.example` is rendered as Trustpilot renders it: the Next.js page data in
`<script id="__NEXT_DATA__">` (`props.pageProps.reviews[]`, 20 a page, newest first, with
business replies; `filters.pagination`) beside a JSON-LD `@graph` of the same reviews.
`rivalmart.example` is served WITHOUT the __NEXT_DATA__ block (JSON-LD and a rel=next
pagination link only), as a changed front end or a stripped cached copy would be.
Review ids are 24 hex digits like Trustpilot's; `?sort=` and other filters are accepted
and ignored (the order is always newest first).
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime, timedelta
from html import escape

from repwatch.demo_site import catalog
from repwatch.demo_site.routing import Request, Response
from repwatch.demo_site.sites.jsonld import html_page, page_number, script_json

PAGE_SIZE = 20
TRUSTPILOT_ORIGIN = "https://www.trustpilot.com"
BUILD_ID = "businessunitprofile-consumersite-2.6787.0"
# Domains whose pages carry no __NEXT_DATA__ block.
WITHOUT_NEXT_DATA = frozenset({"rivalmart.example"})
PROFILES = {
    "acme-shop.example": catalog.Profile(
        name="Acme Shop",
        language="en",
        daily_reviews=(4, 8),
        star_weights={5: 0.45, 4: 0.22, 3: 0.10, 2: 0.09, 1: 0.14},
        weekly_seasonality=True,
        surge=True,
        replies=catalog.ReplyPolicy(negative_share=0.7, other_share=0.2),
    ),
    "rivalmart.example": catalog.Profile(
        name="RivalMart",
        language="en",
        daily_reviews=(3, 6),
        star_weights={5: 0.38, 4: 0.25, 3: 0.12, 2: 0.10, 1: 0.15},
    ),
}
_COUNTRIES = ("US", "GB", "CA", "AU", "IE", "NZ")


def trustpilot_id(review: dict) -> str:
    """A stable 24-hex-digit id for a catalogue review, the shape of Trustpilot's."""
    return hashlib.sha256(f"trustpilot/{review['review_id']}".encode()).hexdigest()[:24]


def trustpilot_time(moment: datetime | None) -> str | None:
    """E.g. "2026-11-20T14:45:14.000Z", as Trustpilot writes times."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def next_data_review(review: dict, domain: str) -> dict:
    """One review in the shape of `props.pageProps.reviews[]` (key order as Trustpilot's)."""
    written = review["written_at"]
    reply = None
    if review["reply_text"] is not None:
        reply = {
            "message": review["reply_text"],
            "publishedDate": trustpilot_time(review["reply_at"]),
            "updatedDate": None,
        }
    return {
        "id": trustpilot_id(review),
        "filtered": False,
        "isPending": False,
        "text": review["text"],
        "rating": review["rating"],
        "labels": {
            "merged": None,
            "verification": {
                "isVerified": int(review["author_id"]) % 3 == 0,
                "createdDateTime": trustpilot_time(written),
                "reviewSourceName": "Organic",
                "verificationSource": "invitation",
                "verificationLevel": "not-verified",
                "hasDachExclusion": False,
            },
        },
        "title": review["title"],
        "likes": review["vote_sum"],
        "source": "Organic",
        "dates": {
            "experiencedDate": trustpilot_time(
                datetime.combine(written.date() - timedelta(days=1), datetime.min.time()).replace(
                    tzinfo=written.tzinfo
                )
            ),
            "publishedDate": trustpilot_time(review["published_at"]),
            "updatedDate": None,
            "submittedDate": None,
        },
        "report": None,
        "hasUnhandledReports": False,
        "consumer": {
            "id": f"{int(review['author_id']):024x}",
            "displayName": review["author"],
            "imageUrl": "",
            "numberOfReviews": 1 + int(review["author_id"]) % 9,
            "countryCode": _COUNTRIES[int(review["author_id"]) % len(_COUNTRIES)],
            "hasImage": False,
            "isVerified": False,
        },
        "reply": reply,
        "consumersReviewCountOnSameDomain": 1,
        "consumersReviewCountOnSameLocation": None,
        "productReviews": [],
        "language": "en",
        "location": None,
    }


def ld_json_graph(reviews: list[dict], domain: str, name: str, total: int) -> dict:
    """The page's JSON-LD: Trustpilot, the business, and each review as a graph node."""
    business_id = f"{TRUSTPILOT_ORIGIN}/#/schema/LocalBusiness/{domain}"
    review_ids = [
        f"{TRUSTPILOT_ORIGIN}/#/schema/Review/{domain}/{trustpilot_id(r)}" for r in reviews
    ]
    nodes: list[dict] = [
        {"@id": f"{TRUSTPILOT_ORIGIN}/#/schema/Organization/1", "@type": "Organization",
         "name": "Trustpilot", "url": f"{TRUSTPILOT_ORIGIN}/"},
        {"@id": business_id, "@type": "LocalBusiness", "name": name,
         "url": f"https://{domain}", "aggregateRating": {
             "@type": "AggregateRating", "bestRating": "5", "worstRating": "1",
             "ratingValue": "3.9", "reviewCount": str(total)},
         "review": [{"@id": review_id} for review_id in review_ids]},
    ]  # fmt: skip
    for review, review_id in zip(reviews, review_ids, strict=True):
        nodes.append(
            {
                "@type": "Review",
                "@id": review_id,
                "itemReviewed": {"@id": business_id},
                "author": {
                    "@type": "Person",
                    "name": review["author"],
                    "url": f"{TRUSTPILOT_ORIGIN}/users/{int(review['author_id']):024x}",
                },
                "datePublished": trustpilot_time(review["published_at"]),
                "headline": review["title"],
                "reviewBody": review["text"],
                "reviewRating": {
                    "@type": "Rating",
                    "bestRating": "5",
                    "worstRating": "1",
                    "ratingValue": str(review["rating"]),
                },
                "publisher": {"@id": f"{TRUSTPILOT_ORIGIN}/#/schema/Organization/1"},
                "inLanguage": "en",
            }
        )
    return {"@context": "https://schema.org", "@graph": nodes}


def next_data(reviews: list[dict], domain: str, name: str, page: int, total: int) -> dict:
    total_pages = max(1, math.ceil(total / PAGE_SIZE))
    return {
        "props": {
            "pageProps": {
                "businessUnit": {
                    "id": hashlib.sha256(domain.encode()).hexdigest()[:24],
                    "displayName": name,
                    "identifyingName": domain,
                    "numberOfReviews": total,
                    "trustScore": 3.9,
                    "stars": 4,
                    "websiteUrl": f"https://{domain}",
                    "isClaimed": True,
                },
                "reviews": [next_data_review(review, domain) for review in reviews],
                "filters": {
                    "hasActiveFilters": False,
                    "totalNumberOfReviews": total,
                    "totalNumberOfFilteredReviews": total,
                    "pagination": {
                        "currentPage": page,
                        "perPage": PAGE_SIZE,
                        "totalCount": total,
                        "totalPages": total_pages,
                    },
                    "selected": {"languages": "all", "stars": [], "sort": "recency"},
                },
            },
            "__N_SSP": True,
        },
        "page": "/review/[businessUnit]",
        "query": {"businessUnit": domain, "page": str(page)},
        "buildId": BUILD_ID,
        "isFallback": False,
        "gssp": True,
        "locale": "en-US",
        "scriptLoader": [],
    }


def review_card(review: dict) -> str:
    return (
        f'<article data-service-review-card-paper="true"><section>'
        f'<span data-consumer-name-typography="true">{escape(review["author"])}</span>'
        f'<img alt="Rated {review["rating"]} out of 5 stars">'
        f'<h2 data-service-review-title-typography="true">{escape(review["title"])}</h2>'
        f'<p data-service-review-text-typography="true">{escape(review["text"])}</p>'
        f"</section></article>"
    )


def serve_business_page(request: Request, match: re.Match) -> Response:
    domain = match["domain"].lower()
    profile = PROFILES.get(domain)
    if profile is None:
        return Response.html("<html><body><h1>Page not found</h1></body></html>", status=404)
    reviews = catalog.items("trustpilot", domain, request.last_day)
    page = page_number(request)
    on_page = reviews[(page - 1) * PAGE_SIZE : page * PAGE_SIZE] if page >= 1 else []
    head = (
        '<script type="application/ld+json" data-business-unit-json-ld="true">'
        f"{script_json(ld_json_graph(on_page, domain, profile.name, len(reviews)))}</script>"
    )
    pager = ""
    if page * PAGE_SIZE < len(reviews):
        pager = (
            f'<a name="pagination-button-next" rel="next" '
            f'href="/review/{domain}?page={page + 1}">Next page</a>'
        )
    main = (
        f"<h1>{escape(profile.name)} Reviews</h1>"
        f'<section class="reviews">{"".join(review_card(r) for r in on_page)}</section>'
        f"<nav>{pager}</nav>"
    )
    if domain not in WITHOUT_NEXT_DATA:
        document = next_data(on_page, domain, profile.name, page, len(reviews))
        main += (
            f'<script id="__NEXT_DATA__" type="application/json">{script_json(document)}</script>'
        )
    title = f"{profile.name} Reviews | Read Customer Service Reviews of {domain}"
    return Response.html(html_page("trustpilot", title, head, main, paragraphs=10))


ROUTES = [(re.compile(r"^/review/(?P<domain>[A-Za-z0-9.-]+)/?$"), serve_business_page)]
