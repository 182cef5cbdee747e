"""Turning a page's bytes into text when sites declare the wrong charset (or none)."""

from __future__ import annotations

import codecs
import json
import re

# Tried in order when the declared charset does not decode cleanly. GB18030 is a superset
# of GBK and GB2312, which Chinese sites often send unlabelled or labelled as UTF-8.
FALLBACK_ENCODINGS = ("utf-8", "gb18030")
# Real pages nest their data a dozen levels at most. Deeper documents are refused before
# anything walks them: the parsers, the JSON writer and the quality gate all recurse, and
# Python's stack ends near 1,000 levels (json.loads itself raises RecursionError there).
MAX_JSON_DEPTH = 100
# A \uD800-\uDFFF escape: half of a UTF-16 surrogate pair, which JSON may carry alone (a
# site cutting a string inside an emoji) but no UTF-8 file or database can store.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


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


def too_deep(document: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects nest more than `limit` levels (walked without recursion)."""
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def without_lone_surrogates(value: object) -> object:
    """The document with every unpaired surrogate (keys and values) replaced by U+FFFD."""
    if isinstance(value, str):
        if not _SURROGATE.search(value):
            return value
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {without_lone_surrogates(k): without_lone_surrogates(v) for k, v in value.items()}
    return value


def loads_checked(text: str, what: str, *, strict: bool = True) -> object:
    """json.loads for page data: PageParseError for a document nested deeper than
    MAX_JSON_DEPTH; lone surrogate escapes become U+FFFD. Other ValueErrors propagate."""
    too_deep_error = PageParseError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        document = json.loads(text, strict=strict)
    except RecursionError:
        raise too_deep_error from None
    if isinstance(document, dict | list) and too_deep(document):
        raise too_deep_error
    if _SURROGATE_ESCAPE.search(text):
        document = without_lone_surrogates(document)
    return document


def load_json(text: str | bytes, what: str = "page") -> object:
    """json.loads with a PageParseError that says what was wrong (truncated, not JSON,
    nested too deeply)."""
    if isinstance(text, bytes):
        text, _ = decode_body(text)
    try:
        return loads_checked(text, what)
    except PageParseError:
        raise
    except ValueError as exc:
        hint = " (truncated?)" if "Unterminated" in str(exc) or "Expecting" in str(exc) else ""
        raise PageParseError(f"{what} is not valid JSON{hint}: {exc}") from None
