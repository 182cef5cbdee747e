"""Turning a page's bytes into text when sites declare the wrong charset (or none)."""

from __future__ import annotations

import codecs
import json

# Tried in order when the declared charset does not decode cleanly. GB18030 is a superset
# of GBK and GB2312, which Chinese sites often send unlabelled or labelled as UTF-8.
FALLBACK_ENCODINGS = ("utf-8", "gb18030")


class PageParseError(ValueError):
    """A page that is not what the spider expects: kept as a reject, never a crash."""


def _normalised(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def decode_body(body: bytes, declared: str | None = None) -> tuple[str, str]:
    """(text, encoding used): UTF-8 when the bytes are valid UTF-8, else the declared charset,
    else GB18030. Raises PageParseError when nothing decodes without errors.

    UTF-8 goes first because it is self-checking: GBK bytes are almost never valid UTF-8,
    while UTF-8 bytes often "decode" as GBK into nonsense when a site mislabels them."""
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8) :]
    candidates = ["utf-8", _normalised(declared), *FALLBACK_ENCODINGS]
    for encoding in dict.fromkeys(name for name in candidates if name):
        try:
            return body.decode(encoding, errors="strict"), encoding
        except UnicodeDecodeError:
            continue
    raise PageParseError(f"cannot decode the page (declared {declared!r}; tried UTF-8 and GB18030)")


def declared_charset(content_type: bytes | str | None) -> str | None:
    """The charset parameter of a Content-Type header, if any."""
    if not content_type:
        return None
    text = content_type.decode("latin-1") if isinstance(content_type, bytes) else content_type
    for parameter in text.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip() or None
    return None


def response_text(response) -> str:
    """A Scrapy response's body as text, trusting its Content-Type only if it decodes."""
    text, _ = decode_body(response.body, declared_charset(response.headers.get(b"Content-Type")))
    return text


def load_json(text: str | bytes, what: str = "page") -> object:
    """json.loads with a PageParseError that says what was wrong (truncated, not JSON)."""
    if isinstance(text, bytes):
        text, _ = decode_body(text)
    try:
        return json.loads(text)
    except ValueError as exc:
        hint = " (truncated?)" if "Unterminated" in str(exc) or "Expecting" in str(exc) else ""
        raise PageParseError(f"{what} is not valid JSON{hint}: {exc}") from None
