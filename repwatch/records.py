"""The normalised record every source yields, and small helpers shared by the spiders."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from html import unescape

# Order is the column order of raw landing files and of stg_reviews.
RECORD_FIELDS = (
    "source",  # spider name, e.g. "appstore"
    "target_id",  # which configured target the item came from, e.g. "app_id=123&country=us"
    "review_id",  # the site's own id, unique per source
    "kind",  # "review" (has a rating) or "mention"
    "author",
    "rating",  # int 1–5, or None
    "title",
    "text",
    "language",  # "zh", "en" or "other"
    "published_at",  # UTC ISO-8601 ("2026-11-27T08:15:00Z") or None
    "date_precision",  # "exact", "day" or "unknown"
    "reply_text",  # the business's public reply, or None
    "reply_at",  # UTC ISO-8601 or None
    "url",
    "likes",  # int >= 0: helpful votes, likes, points or score
    "extra",  # source-specific fields as an object (e.g. app version, subreddit), or None
    "crawled_at",  # UTC ISO-8601
    "raw",  # the original payload of this item, untouched
)
DATE_PRECISIONS = ("exact", "day", "unknown")
LANGUAGES = ("zh", "en", "other")

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_SPACES = re.compile(r"\s+")


def utc_iso(moment: datetime) -> str:
    """UTC ISO-8601 with a Z suffix, seconds precision."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the source's time zone must be known")
    try:
        utc = moment.astimezone(UTC)
    except OverflowError as error:  # e.g. 0001-01-01 00:00 at +08:00
        raise ValueError(f"{moment.isoformat()} has no UTC time in years 1–9999") from error
    # isoformat pads the year to four digits; strftime's %Y does not below the year 1000.
    return utc.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def now_utc_iso() -> str:
    return utc_iso(datetime.now(UTC))


def clean_text(value: object) -> str | None:
    """Unicode NFC, HTML entities decoded, whitespace collapsed; None for empty."""
    if value is None:
        return None
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", unescape(str(value)))).strip()
    return text or None


def detect_language(text: str | None) -> str:
    """zh when Han characters make up a fair share of the letters, en for Latin text.

    A placeholder until the enrichment step classifies language properly.
    """
    if not text:
        return "other"
    han = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    if han and han * 3 >= latin:
        return "zh"
    if latin:
        return "en"
    return "other"


def make_record(
    *,
    source: str,
    target_id: str,
    review_id: str | None,
    crawled_at: str,
    raw: object,
    kind: str = "review",
    author: str | None = None,
    rating: int | None = None,
    title: str | None = None,
    text: str | None = None,
    language: str | None = None,
    published_at: str | None = None,
    date_precision: str | None = None,
    reply_text: str | None = None,
    reply_at: str | None = None,
    url: str | None = None,
    likes: int | None = None,
    extra: dict | None = None,
) -> dict:
    """A record with every field of RECORD_FIELDS, in order. Texts are taken as given (clean
    them once, with clean_text, before); language and date precision are derived when not
    given; likes default to 0 and are never negative."""
    return {
        "source": source,
        "target_id": target_id,
        "review_id": review_id,
        "kind": kind,
        "author": author,
        "rating": rating,
        "title": title,
        "text": text,
        "language": language or detect_language(" ".join(p for p in (title, text) if p)),
        "published_at": published_at,
        "date_precision": date_precision or ("exact" if published_at else "unknown"),
        "reply_text": reply_text,
        "reply_at": reply_at,
        "url": url,
        "likes": likes if isinstance(likes, int) and likes >= 0 else 0,
        "extra": extra,
        "crawled_at": crawled_at,
        "raw": raw,
    }
