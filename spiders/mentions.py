"""What the mention spiders (reddit, hackernews) share: reading their JSON documents,
the numbers and times they send, and the normalised mention record.

Mentions carry no stars: `kind` is "mention", `rating` None, and `likes` the site's
score or points.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from repwatch.records import clean_text, make_record
from spiders.encoding import PageParseError, load_json
from spiders.values import utc_iso_or_none

# What sites put in place of a withdrawn author or body: kept as an item, shown as None.
WITHDRAWN_MARKERS = frozenset({"[deleted]", "[removed]", "[dead]", "[flagged]"})


def unless_withdrawn(value: Any) -> str | None:
    """The text as sent (mention_record cleans it once), or None when it is missing or only
    a deletion marker."""
    if not isinstance(value, str) or value.strip() in WITHDRAWN_MARKERS:
        return None
    return value


def withdrawn_marker(*values: Any) -> str | None:
    """The name of the first deletion marker among the values ("deleted", ...), else None."""
    for value in values:
        if isinstance(value, str) and value.strip() in WITHDRAWN_MARKERS:
            return value.strip().strip("[]")
    return None


def load_document(payload: str | bytes | dict, what: str) -> dict:
    """The JSON object of a page; PageParseError for anything else (HTML, truncated, a list)."""
    document = payload if isinstance(payload, dict) else load_json(payload, what)
    if not isinstance(document, dict):
        raise PageParseError(f"{what} is not a JSON object")
    return document


def count(value: Any) -> int:
    """A score, point or comment count as an int ≥ 0; 0 when missing or unusable.

    Reddit's score can be negative (downvoted posts); a mention's reach is then nil.
    """
    if isinstance(value, bool):
        return 0
    if isinstance(value, float) and math.isfinite(value):
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and value > 0 else 0


def item_id(value: Any) -> str | None:
    """Ids as strings (sites send some as numbers); None when missing."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return clean_text(value)


def unix_time_iso(value: Any) -> str | None:
    """Seconds since the epoch (int or float) as UTC ISO; None when missing or unusable."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return utc_iso_or_none(datetime.fromtimestamp(value, UTC))
    except (OverflowError, OSError, ValueError):
        return None


def mention_record(
    *,
    source: str,
    target_id: str,
    review_id: str | None,
    author: str | None,
    title: str | None,
    text: str | None,
    published_at: str | None,
    url: str | None,
    likes: int,
    extra: dict,
    crawled_at: str,
    raw: dict,
) -> dict:
    """A normalised mention (`repwatch.records.RECORD_FIELDS`); texts are cleaned here."""
    return make_record(
        source=source,
        target_id=target_id,
        review_id=review_id,
        kind="mention",
        author=clean_text(author),
        title=clean_text(title),
        text=clean_text(text),
        published_at=published_at,
        url=url,
        likes=likes,
        extra=extra,
        crawled_at=crawled_at,
        raw=raw,
    )
