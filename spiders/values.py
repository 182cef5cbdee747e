"""Values as sites send them, made safe to store: times as UTC ISO-8601, links as web URLs."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

from repwatch.records import utc_iso

# Years a UTC ISO-8601 time can be written in with four digits: strftime writes year 999 as
# "999-…", and a moment in year 1 east of UTC has no UTC time at all (OverflowError).
FIRST_YEAR, LAST_YEAR = 1000, 9999


def utc_iso_or_none(moment: datetime) -> str | None:
    """utc_iso of an aware moment; None when it has no four-digit UTC year (a garbage
    timestamp such as 0001-01-01 or a huge negative epoch), like any other unusable time."""
    try:
        utc = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return utc_iso(utc) if FIRST_YEAR <= utc.year <= LAST_YEAR else None


def web_url(value: object) -> str | None:
    """The value when it is an http(s) URL with a host; None otherwise. A link from a page
    ends up in reports and exports: `javascript:` or `data:` must never become one."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. "http://[::1" (an unclosed IPv6 bracket)
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def web_link(page_url: str, link: object) -> str | None:
    """A link of the page made absolute, when it is a web URL; None otherwise."""
    if not isinstance(link, str):
        return None
    try:
        return web_url(urljoin(page_url, link.strip()))
    except ValueError:  # "http://[::1": urljoin refuses an unclosed IPv6 bracket
        return None
