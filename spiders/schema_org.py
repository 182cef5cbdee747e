"""schema.org reviews on web pages, as normalised records: shared by the `jsonld` and
`trustpilot` spiders.

Pages are ~100 KB of markup around a few KB of data, so the JSON-LD blocks are cut out
with a regular expression and `json.loads`-ed; lxml (through parsel) only builds a tree
for pages that carry their reviews in microdata instead.

Quirks handled, all seen on real sites: a block holding one object, an array or an
`@graph`; reviews nested in `Product.review` / `LocalBusiness.review` / `Hotel.review`, or
listed in `@graph` and referenced by `{"@id": ...}` (Yoast, Trustpilot); authors as a
string, a Person, a list or a reference; ratings as numbers or strings ("8", "4,5") on
any `worstRating`..`bestRating` scale; dates as a day, a time with an offset, a time
without one, or "November 20, 2026"; raw control characters and HTML comment / CDATA
wrappers inside the script.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from html import unescape
from typing import Any
from urllib.parse import urlsplit

from repwatch.records import clean_text, make_record
from spiders.encoding import PageParseError, loads_checked
from spiders.values import utc_iso_or_none, web_link

LD_JSON_TYPE = "application/ld+json"
# schema.org types whose instances are reviews of something (not ClaimReview fact checks).
REVIEW_TYPES = frozenset({"Review", "UserReview", "CriticReview", "EmployerReview"})
LIKE_INTERACTIONS = frozenset({"LikeAction", "AgreeAction", "VoteAction"})
DEFAULT_BEST_RATING = Decimal(5)
DEFAULT_WORST_RATING = Decimal(1)
DAY_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y")

# A start tag's attributes stop at the next `<` as well as at `>`: with `[^>]*` alone, a page
# of "<a " without any ">" made every match attempt scan to the end (quadratic; minutes).
_SCRIPT_OPEN = re.compile(r"<script\b([^<>]*)>", re.IGNORECASE)
_SCRIPT_CLOSE = re.compile(r"</script\s*>", re.IGNORECASE)
_LINK_TAG = re.compile(r"<(?:link|a)\b([^<>]*)>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")
_HTML_OPEN = re.compile(r"<html\b", re.IGNORECASE)
_HTML_CLOSE = re.compile(r"</html\s*>", re.IGNORECASE)
_WRAPPERS = re.compile(r"^\s*(?://\s*)?(?:<!--|<!\[CDATA\[)|(?://\s*)?(?:-->|\]\]>)\s*$")
_DAY_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# ---------------------------------------------------------------- markup


def tag_attributes(source: str) -> dict[str, str]:
    """The attributes inside a start tag, names lower-cased, entities decoded."""
    attributes: dict[str, str] = {}
    for name, double, single, bare in _ATTRIBUTE.findall(source):
        attributes.setdefault(name.lower(), unescape(double or single or bare))
    return attributes


def script_texts(html: str, script_type: str, element_id: str | None = None) -> list[str]:
    """The contents of every <script> of that type (and id); a script that never closes
    means the page was cut off."""
    texts = []
    position = 0
    while opening := _SCRIPT_OPEN.search(html, position):
        attributes = tag_attributes(opening.group(1))
        wanted = attributes.get("type", "").strip().lower() == script_type and (
            element_id is None or attributes.get("id") == element_id
        )
        closing = _SCRIPT_CLOSE.search(html, opening.end())
        if closing is None:
            if not wanted:
                break  # the rest of the page is that script's text
            what = f'<script id="{element_id}">' if element_id else f"a {script_type} script"
            raise PageParseError(f"{what} is never closed: the page is truncated")
        if wanted:
            texts.append(html[opening.end() : closing.start()])
        # A script's text is not markup: a "<script" inside it opens nothing.
        position = closing.end()
    return texts


def check_complete(html: str) -> None:
    """A document that opens <html> but never closes it was cut off in transit (or by the
    site); reading half a page would silently lose reviews."""
    if _HTML_OPEN.search(html) and not _HTML_CLOSE.search(html):
        raise PageParseError("the page is truncated: it opens <html> but never closes it")


def next_page_link(html: str, page_url: str) -> str | None:
    """The absolute URL of the first <link rel="next"> or <a rel="next">, if any."""
    for tag in _LINK_TAG.finditer(html):
        attributes = tag_attributes(tag.group(1))
        if "next" in attributes.get("rel", "").lower().split() and attributes.get("href"):
            return web_link(page_url, attributes["href"])
    return None


def load_ld_json(text: str, number: int) -> object:
    """One JSON-LD block as data; a PageParseError saying which block and why otherwise."""
    text = _WRAPPERS.sub("", text.strip()) if "<!" in text or "]]>" in text else text
    what = f"JSON-LD block {number}"
    try:
        # strict=False: CMSs paste review text with raw newlines and tabs into the strings.
        document = loads_checked(text, what, strict=False)
    except PageParseError:
        raise
    except ValueError as exc:
        hint = " (truncated?)" if "Unterminated" in str(exc) else ""
        raise PageParseError(f"JSON-LD block {number} is not valid JSON{hint}: {exc}") from None
    if not isinstance(document, dict | list):
        kind = type(document).__name__
        raise PageParseError(f"JSON-LD block {number} is a {kind}, not an object or array")
    return document


def ld_json_documents(html: str) -> list[object]:
    """Every non-empty JSON-LD block of the page, parsed."""
    return [
        load_ld_json(text, number)
        for number, text in enumerate(script_texts(html, LD_JSON_TYPE), start=1)
        if text.strip()
    ]


# ---------------------------------------------------------------- JSON-LD graph


def type_names(node: dict) -> set[str]:
    """Local type names: "Review" for "Review", "schema:Review", "https://schema.org/Review"."""
    types = node.get("@type")
    names = types if isinstance(types, list) else [types]
    return {re.split(r"[/#:]", name)[-1] for name in names if isinstance(name, str)}


def is_review(node: object) -> bool:
    return isinstance(node, dict) and bool(type_names(node) & REVIEW_TYPES)


def _is_reference(node: dict) -> bool:
    return set(node) <= {"@id", "@type"}


def _nodes(value: object) -> Iterator[dict]:
    if isinstance(value, list):
        for item in value:
            yield from _nodes(item)
    elif isinstance(value, dict):
        yield value
        for key, item in value.items():
            if key != "@context" and isinstance(item, dict | list):
                yield from _nodes(item)


def node_index(documents: list[object]) -> dict[str, dict]:
    """Every fully described node by its @id, to resolve {"@id": ...} references."""
    index: dict[str, dict] = {}
    for node in _nodes(documents):
        identifier = node.get("@id")
        if isinstance(identifier, str) and not _is_reference(node):
            index.setdefault(identifier, node)
    return index


def resolve(value: object, index: dict[str, dict]) -> object:
    if isinstance(value, dict) and _is_reference(value):
        return index.get(value.get("@id"), value)
    return value


@dataclass
class FoundReview:
    node: dict  # the Review as published: the record's `raw`
    reviewed: str | None  # name of the thing reviewed, when the page says


def _walk(value: object, reviewed: str | None, found: list[FoundReview], seen: set) -> None:
    if isinstance(value, list):
        for item in value:
            _walk(item, reviewed, found, seen)
        return
    if not isinstance(value, dict) or _is_reference(value):
        return
    if is_review(value):
        key = value.get("@id") if isinstance(value.get("@id"), str) else id(value)
        if key not in seen:
            seen.add(key)
            found.append(FoundReview(value, reviewed))
        return
    name = value.get("name") if isinstance(value.get("name"), str) else None
    for key, item in value.items():
        if key != "@context" and isinstance(item, dict | list):
            _walk(item, name or reviewed, found, seen)


def find_reviews(documents: list[object]) -> list[FoundReview]:
    """Every Review in the documents once, in page order: top-level, in arrays, in @graph,
    nested in the entity it reviews, or listed in @graph and referenced elsewhere."""
    found: list[FoundReview] = []
    _walk(documents, None, found, set())
    return found


# ---------------------------------------------------------------- values


def _number(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    try:
        number = Decimal(value.strip().replace(",", "."))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def scaled_rating(rating: object) -> int | None:
    """ratingValue mapped linearly from worstRating..bestRating (default 1..5) onto 1..5,
    rounded half up (8 of 10 → 4); None when missing, unreadable or outside its scale."""
    if not isinstance(rating, dict):
        rating = {"ratingValue": rating}
    value = _number(rating.get("ratingValue"))
    best = _number(rating.get("bestRating"))
    worst = _number(rating.get("worstRating"))
    best = DEFAULT_BEST_RATING if best is None else best
    worst = DEFAULT_WORST_RATING if worst is None else worst
    if value is None or best <= worst or not worst <= value <= best:
        return None
    stars = 1 + (value - worst) * 4 / (best - worst)
    return int(stars.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def published(value: object) -> tuple[str | None, str]:
    """(UTC ISO time, date precision) of a datePublished value. A day alone, or a time
    without an offset (whose day is right but whose hour is in an unknown zone), is kept
    as that day at 00:00Z with precision "day"."""
    if not isinstance(value, str) or not value.strip():
        return None, "unknown"
    text = value.strip()
    if _DAY_ONLY.match(text):
        try:
            date.fromisoformat(text)
        except ValueError:  # "2026-13-45"
            return None, "unknown"
        return f"{text}T00:00:00Z", "day"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
        for day_format in DAY_FORMATS:
            try:
                moment = datetime.strptime(text, day_format)
                break
            except ValueError:
                continue
        if moment is None:
            return None, "unknown"
    if moment.tzinfo is None:
        return f"{moment.date().isoformat()}T00:00:00Z", "day"
    exact = utc_iso_or_none(moment)
    return (exact, "exact") if exact else (None, "unknown")


def author_name(author: object, index: dict[str, dict]) -> str | None:
    """The author's name as published (not yet cleaned)."""
    if isinstance(author, list):
        author = author[0] if author else None
    author = resolve(author, index)
    if isinstance(author, dict):
        author = author.get("name")
    return author if isinstance(author, str) else None


def like_count(review: dict) -> int:
    """upvoteCount, or an interactionStatistic counting likes or agreements; 0 if neither."""
    counts = [review.get("upvoteCount")]
    statistics = review.get("interactionStatistic")
    for statistic in statistics if isinstance(statistics, list) else [statistics]:
        if isinstance(statistic, dict):
            kind = statistic.get("interactionType")
            kind = type_names(kind) if isinstance(kind, dict) else {str(kind).split("/")[-1]}
            if kind & LIKE_INTERACTIONS:
                counts.append(statistic.get("userInteractionCount"))
    for count in counts:
        number = _number(count)
        if number is not None and number >= 0 and number == number.to_integral_value():
            return int(number)
    return 0


def stable_review_id(page_url: str, author: str | None, day: object, body: str | None) -> str:
    """For reviews the page gives no id: the same review gets the same id on any page
    number and through any host (the path only), and a different review another."""
    parts = (urlsplit(page_url).path, author or "", str(day or ""), body or "")
    return "sha256:" + hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


# ---------------------------------------------------------------- records


def build_record(
    *,
    source: str,
    target_id: str,
    review_id: str,
    author: object,
    rating: int | None,
    title: object,
    text: object,
    published_at: str | None,
    date_precision: str,
    url: str,
    crawled_at: str,
    raw: object,
    reply_text: object = None,
    reply_at: str | None = None,
    likes: int = 0,
    extra: dict | None = None,
) -> dict:
    """A normalised record (`repwatch.records.RECORD_FIELDS`, in order) of a review."""
    return make_record(
        source=source,
        target_id=target_id,
        review_id=review_id,
        author=clean_text(author),
        rating=rating,
        title=clean_text(title),
        text=clean_text(text),
        published_at=published_at,
        date_precision=date_precision,
        reply_text=clean_text(reply_text),
        reply_at=reply_at,
        url=url,
        likes=likes,
        extra=extra,
        crawled_at=crawled_at,
        raw=raw,
    )


def review_record(
    found: FoundReview,
    index: dict[str, dict],
    *,
    source: str,
    target_id: str,
    page_url: str,
    crawled_at: str,
    markup: str,
    review_id: str | None = None,
    url: str | None = None,
) -> dict:
    """A schema.org Review as a record. The id is the caller's, else the Review's @id or
    url, else a stable hash; the link is the caller's, else the Review's url, else the page."""
    node = found.node
    # Cleaned once, by build_record: a second unescape would turn "&amp;lt;" into "<".
    author = author_name(node.get("author"), index)
    body = node.get("reviewBody") or node.get("description")
    body = body if isinstance(body, str) else None
    published_at, precision = published(node.get("datePublished"))
    own_url = node.get("url") if isinstance(node.get("url"), str) else None
    own_id = next((v for v in (node.get("@id"), own_url) if isinstance(v, str) and v), None)
    rating = resolve(node.get("reviewRating"), index)
    reviewed = resolve(node.get("itemReviewed"), index)
    reviewed_name = reviewed.get("name") if isinstance(reviewed, dict) else None
    scale = rating if isinstance(rating, dict) else {}
    return build_record(
        source=source,
        target_id=target_id,
        review_id=review_id
        or own_id
        or stable_review_id(
            page_url, clean_text(author), node.get("datePublished"), clean_text(body)
        ),
        author=author,
        rating=scaled_rating(rating),
        title=node.get("name") or node.get("headline"),
        text=body,
        published_at=published_at,
        date_precision=precision,
        url=url or web_link(page_url, own_url) or page_url,
        crawled_at=crawled_at,
        raw=node,
        likes=like_count(node),
        extra={
            "markup": markup,
            "item_reviewed": clean_text(reviewed_name) or clean_text(found.reviewed),
            "rating_value": scale.get("ratingValue") if scale else rating,
            "best_rating": scale.get("bestRating"),
            "worst_rating": scale.get("worstRating"),
        },
    )


def ld_json_records(documents: list[object], **context: Any) -> list[dict]:
    """Records of every Review in parsed JSON-LD documents (see `review_record`)."""
    index = node_index(documents)
    return [
        review_record(found, index, markup="json-ld", **context)
        for found in find_reviews(documents)
    ]


# ---------------------------------------------------------------- microdata

_URL_VALUED = {"a": "href", "link": "href", "area": "href"}
# Elements nested deeper than this around a property are refused rather than walked: the
# walk recurses, and lxml builds trees far deeper than Python's stack (huge_tree).
MAX_MARKUP_DEPTH = 400
_SRC_VALUED = {"img", "audio", "video", "source", "embed", "iframe", "track"}


def _property_value(element) -> str:
    """A microdata property's value, by the HTML rules for each element."""
    tag = element.tag.lower()
    if tag == "meta":
        return element.get("content", "")
    if tag in _URL_VALUED:
        return element.get("href", "")
    if tag in _SRC_VALUED:
        return element.get("src", "")
    if tag == "object":
        return element.get("data", "")
    if tag in ("data", "meter"):
        return element.get("value", "")
    if tag == "time" and element.get("datetime"):
        return element.get("datetime")
    return element.text_content()


def _collect(element, properties: dict, depth: int) -> None:
    if not isinstance(element.tag, str):  # comments, processing instructions
        return
    if depth > MAX_MARKUP_DEPTH:
        raise PageParseError(f"the page's markup nests deeper than {MAX_MARKUP_DEPTH} elements")
    names = element.get("itemprop")
    scoped = element.get("itemscope") is not None
    if names:
        value = microdata_item(element, depth + 1) if scoped else _property_value(element)
        for name in names.split():
            properties.setdefault(name, value)
    if scoped:  # a nested item's properties are its own
        return
    for child in element:
        _collect(child, properties, depth + 1)


def _local_types(element) -> list[str]:
    return [re.split(r"[/#]", name)[-1] for name in element.get("itemtype", "").split()]


def microdata_item(element, depth: int = 0) -> dict:
    """An itemscope element as a JSON-LD-like object: @type, @id and its properties."""
    item: dict[str, Any] = {}
    types = _local_types(element)
    if types:
        item["@type"] = types
    if element.get("itemid"):
        item["@id"] = element.get("itemid")
    for child in element:
        _collect(child, item, depth + 1)
    return item


def microdata_records(html: str, **context: Any) -> list[dict]:
    """Records of every Review item in the page's microdata (nested in a Product or not)."""
    if "itemscope" not in html:
        return []
    from parsel import Selector

    root = Selector(text=html).root
    owner_names: dict[Any, str | None] = {}
    reviews = []
    for element in root.xpath("//*[@itemscope][@itemtype]"):
        if not REVIEW_TYPES.intersection(_local_types(element)):
            continue
        owner = next(element.iterancestors(), None)
        while owner is not None and owner.get("itemscope") is None:
            owner = owner.getparent()
        if owner is not None and owner not in owner_names:
            name = microdata_item(owner).get("name")
            owner_names[owner] = name if isinstance(name, str) else None
        found = FoundReview(microdata_item(element), owner_names.get(owner))
        reviews.append(review_record(found, {}, markup="microdata", **context))
    return reviews
