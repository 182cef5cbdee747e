"""Property-based fuzzing of every parser: each site's `parse_page` (called on an in-process
Scrapy response, as the golden-fixture tests do) and the drops CSV/XLSX reader.

The property, for any input: the parser either gives records that are valid per the shared
record schema (repwatch.records) or raises its documented "bad page" error (PageParseError
for pages, DropFileError for a drop file); nothing else escapes. Texts that go in come out
NFC-normalised with entities decoded and whitespace collapsed, and nothing else changed:
emoji, right-to-left marks and zero-width characters survive.

Hypothesis runs derandomized (the same examples on every run), with no example database.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
import unicodedata
from datetime import date, datetime
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from scrapy.http import TextResponse

from repwatch.drops import ColumnMapping, DropFileError, read_drop_file
from repwatch.records import DATE_PRECISIONS, LANGUAGES, RECORD_FIELDS
from spiders.base import ReviewSpider
from spiders.encoding import MAX_JSON_DEPTH, PageParseError
from tests.conftest import page_response, spider_class

reliability = pytest.mark.reliability

# On a failure Hypothesis writes a patch of @example lines with libcst, which trips over the
# zope.interface that Scrapy imports ("INTERNALERROR AttributeError: __provides__") and hides
# the failing example. The examples are printed either way; only the patch file is lost.
with contextlib.suppress(ImportError):
    from hypothesis.extra import _patching

    _patching.get_patch_for = lambda *args, **kwargs: None

CRAWLED_AT = "2026-11-21T06:00:00Z"
FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---------------------------------------------------------------- the sites


SITES = {
    "appstore": {
        "params": {"app_id": "1000001", "country": "us"},
        "url": "https://itunes.apple.com/us/rss/customerreviews/page=1/id=1000001/sortby=mostrecent/json",
        "content_type": "application/json; charset=utf-8",
    },
    "jd": {
        "params": {"product_id": "100012043978"},
        "url": "https://club.jd.com/comment/productPageComments.action?callback=fetchJSON_comment98"
        "&productId=100012043978&score=0&sortType=6&page=0&pageSize=10&isShadowSku=0&fold=1",
        "content_type": "text/html;charset=GBK",
    },
    "jsonld": {
        "params": {"url": "https://shop.example/p/1"},
        "url": "https://shop.example/p/1",
        "content_type": "text/html; charset=utf-8",
    },
    "trustpilot": {
        "params": {"domain": "shop.example"},
        "url": "https://www.trustpilot.com/review/shop.example?sort=recency",
        "content_type": "text/html; charset=utf-8",
    },
    "reddit": {
        "params": {"query": "acme"},
        "url": "https://www.reddit.com/search.json?q=acme&sort=new&limit=100",
        "content_type": "application/json; charset=UTF-8",
    },
    "hackernews": {
        "params": {"query": "acme"},
        "url": "https://hn.algolia.com/api/v1/search_by_date?query=acme&page=0",
        "content_type": "application/json; charset=utf-8",
    },
}


@cache
def spider(site: str) -> ReviewSpider:
    return spider_class(site)(**SITES[site]["params"])


def site_response(site: str, body: bytes, content_type: str | None = None) -> TextResponse:
    """`body` as a page of `site`, with the site's content type unless `content_type` says."""
    content_type = content_type or SITES[site]["content_type"]
    return page_response(SITES[site]["url"], body, {"Content-Type": content_type})


def parse(site: str, body: bytes, content_type: str | None = None) -> list[dict] | None:
    """The records of one page, checked against the schema; None when the page is refused
    with PageParseError. Any other exception fails the calling test."""
    try:
        page = spider(site).parse_page(site_response(site, body, content_type), 1, CRAWLED_AT)
    except PageParseError:
        return None
    for record in page.records:
        check_record(record, source=site, target_id=spider(site).target_id)
    return page.records


# ---------------------------------------------------------------- the record schema

_UTC_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
TEXT_FIELDS = ("author", "title", "text", "reply_text")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_record(record: dict, *, source: str, target_id: str) -> None:
    """The shape and types of repwatch.records that the quality gate and the writer rely on."""
    assert tuple(record) == RECORD_FIELDS
    assert record["source"] == source
    assert record["target_id"] == target_id
    assert record["kind"] in ("review", "mention")
    assert record["review_id"] is None or (isinstance(record["review_id"], str))
    # A value out of its range (a rating of 7, a date in 2099) is the quality gate's to
    # quarantine with a reason (tests/test_quality.py); parsers pass it on as the site sent it.
    assert record["rating"] is None or _is_int(record["rating"])
    assert _is_int(record["likes"]) and record["likes"] >= 0
    assert record["language"] in LANGUAGES
    assert record["date_precision"] in DATE_PRECISIONS
    for field in ("published_at", "reply_at"):
        moment = record[field]
        if moment is not None:
            assert _UTC_ISO.match(moment), (field, moment)
            datetime.fromisoformat(moment.replace("Z", "+00:00"))
    assert (record["published_at"] is None) == (record["date_precision"] == "unknown")
    assert record["crawled_at"] == CRAWLED_AT
    assert record["extra"] is None or isinstance(record["extra"], dict)
    # A link ends up in reports and exports: only a web address may be one.
    if source == "files":
        assert record["url"].startswith("file://")
    else:
        assert record["url"] is None or urlsplit(record["url"]).scheme in ("http", "https")
    for field in TEXT_FIELDS:
        text = record[field]
        if text is not None:
            assert isinstance(text, str) and text, field
            assert text == text.strip(), field
            assert unicodedata.is_normalized("NFC", text), field
    # What the crawl writes: one JSON line, valid UTF-8 (no lone surrogates).
    line = json.dumps(record, ensure_ascii=False)
    assert json.loads(line.encode("utf-8").decode("utf-8")) == json.loads(line)


def cleaned(text: str | None) -> str | None:
    """What records.clean_text documents, independently: HTML entities decoded, Unicode NFC,
    whitespace runs as one space, trimmed; None when nothing is left."""
    if text is None:
        return None
    result = " ".join(unicodedata.normalize("NFC", html.unescape(text)).split())
    return result or None


# ---------------------------------------------------------------- strategies

# The characters that break naive text handling: emoji (astral, joined, flags), right-to-left
# text and marks, zero-width characters, combining accents (NFC), CJK, quotes and markup.
TRICKY = [
    "😀",
    "👩‍👩‍👧",
    "🇨🇳",
    "مرحبا",
    "שלום",
    "\u202e",  # right-to-left override
    "\u200f",  # right-to-left mark
    "\u200b",  # zero-width space
    "\u200d",  # zero-width joiner
    "\ufeff",  # zero-width no-break space (a BOM mid-text)
    "\u2060",  # word joiner
    "e\u0301",  # e + combining acute: NFC makes it é
    "\u212b",  # Angstrom sign: NFC makes it Å
    "好评",
    "质量很差",
    "'",
    '"',
    "\\",
    "</script>",
    "<script>alert(1)</script>",
    "&amp;",
    "&lt;b&gt;",
    "\u00a0",
    "\u3000",
    "\t",
    "\n",
]
tricky_text = st.lists(
    st.one_of(st.sampled_from(TRICKY), st.text(max_size=8)), min_size=1, max_size=12
).map("".join)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    tricky_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


hostile_url = st.sampled_from(
    [
        "javascript:alert(document.cookie)",
        " JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/x",
        "http://[::1",
        "https://shop.example/r/1",
    ]
)


def maybe(strategy):
    """A field's usual value or anything at all (missing, wrong type, nested)."""
    return st.one_of(strategy, json_values)


def to_json(document: object) -> str:
    return json.dumps(document, ensure_ascii=False)


def in_script(document: object) -> str:
    """JSON as a page embeds it in a <script>: "<" escaped, as Next.js and CMSs do."""
    return to_json(document).replace("<", "\\u003c")


# One review as each site sends it, with every field perturbable.
@st.composite
def appstore_entry(draw, text=tricky_text):
    return {
        "author": {"name": {"label": draw(maybe(text))}},
        "im:rating": {"label": draw(maybe(st.sampled_from(["1", "3", "5", "0", "6", "x"])))},
        "id": {"label": draw(maybe(st.integers(0, 10**9).map(str)))},
        "title": {"label": draw(maybe(text))},
        "content": {"label": draw(maybe(text)), "attributes": {"type": "text"}},
        "updated": {"label": draw(maybe(st.just("2026-11-19T08:00:00-07:00")))},
        "im:voteSum": {"label": draw(maybe(st.just("3")))},
        "link": {"attributes": {"href": draw(maybe(hostile_url))}},
    }


def appstore_page(entries: list[dict]) -> bytes:
    return to_json({"feed": {"entry": entries}}).encode("utf-8")


@st.composite
def jd_comment(draw, text=tricky_text):
    return {
        "id": draw(maybe(st.integers(1, 10**12))),
        "content": draw(maybe(text)),
        "nickname": draw(maybe(text)),
        "score": draw(maybe(st.integers(0, 6))),
        "creationTime": draw(maybe(st.just("2026-11-19 08:00:00"))),
        "usefulVoteCount": draw(maybe(st.integers(-5, 50))),
        "replies": draw(maybe(st.just([{"content": "谢谢", "creationTime": "2026-11-19 09:00"}]))),
    }


def jd_page(comments: list[dict], encoding: str = "gb18030", jsonp: bool = True) -> bytes:
    text = to_json({"comments": comments, "maxPage": 3})
    return (f"fetchJSON_comment98({text});" if jsonp else text).encode(encoding)


@st.composite
def reddit_post(draw, text=tricky_text):
    return {
        "name": draw(maybe(st.just("t3_abc"))),
        "title": draw(maybe(text)),
        "selftext": draw(maybe(text)),
        "author": draw(maybe(text)),
        "created_utc": draw(maybe(st.floats(min_value=-1e20, max_value=1e20))),
        "score": draw(maybe(st.integers(-100, 10**6))),
        "permalink": draw(maybe(st.one_of(st.just("/r/x/comments/abc/t/"), hostile_url))),
        "url": draw(maybe(hostile_url)),
        "is_self": draw(maybe(st.booleans())),
    }


def reddit_page(posts: list[dict]) -> bytes:
    children = [{"kind": "t3", "data": post} for post in posts]
    return to_json({"kind": "Listing", "data": {"children": children, "after": None}}).encode()


@st.composite
def hn_hit(draw, text=tricky_text):
    return {
        "objectID": draw(maybe(st.integers(1, 10**8).map(str))),
        "comment_text": draw(maybe(text)),
        "story_title": draw(maybe(text)),
        "author": draw(maybe(text)),
        "created_at_i": draw(maybe(st.integers(-(2**63), 2**63))),
        "created_at": draw(maybe(st.just("2026-11-19T08:01:02.000Z"))),
        "points": draw(maybe(st.integers(-5, 500))),
        "_tags": draw(maybe(st.just(["comment", "author_x"]))),
    }


def hn_page(hits: list[dict]) -> bytes:
    return to_json({"hits": hits, "page": 0, "nbPages": 1}).encode()


@st.composite
def trustpilot_review(draw, text=tricky_text):
    return {
        "id": draw(maybe(st.just("6264418c0c4813f7"))),
        "rating": draw(maybe(st.integers(0, 6))),
        "title": draw(maybe(text)),
        "text": draw(maybe(text)),
        "likes": draw(maybe(st.integers(-1, 99))),
        "consumer": {"displayName": draw(maybe(text))},
        "dates": {"publishedDate": draw(maybe(st.just("2026-11-20T14:45:14.000Z")))},
        "reply": draw(maybe(st.fixed_dictionaries({"message": text}))),
    }


def trustpilot_page(reviews: list[dict]) -> bytes:
    data = {"props": {"pageProps": {"reviews": reviews, "filters": {"pagination": {}}}}}
    return (
        '<!DOCTYPE html><html><head><script id="__NEXT_DATA__" type="application/json">'
        f"{in_script(data)}</script></head><body></body></html>"
    ).encode()


@st.composite
def ld_review(draw, text=tricky_text):
    return {
        "@type": draw(maybe(st.sampled_from(["Review", "UserReview", "schema:Review"]))),
        "author": draw(maybe(st.fixed_dictionaries({"@type": st.just("Person"), "name": text}))),
        "reviewBody": draw(maybe(text)),
        "name": draw(maybe(text)),
        "reviewRating": draw(maybe(st.fixed_dictionaries({"ratingValue": json_scalars}))),
        "datePublished": draw(
            maybe(st.sampled_from(["2026-11-19", "November 20, 2026", "x", "2026-13-45"]))
        ),
        "url": draw(maybe(hostile_url)),
    }


def jsonld_page(reviews: list[dict], charset: str = "utf-8") -> bytes:
    product = {"@context": "https://schema.org", "@type": "Product", "name": "P", "review": reviews}
    return (
        f'<!DOCTYPE html><html><head><meta charset="{charset}">'
        f'<script type="application/ld+json">{in_script(product)}</script>'
        "</head><body></body></html>"
    ).encode(charset)


def microdata_page(reviews: list[tuple[str, str]]) -> bytes:
    items = "".join(
        '<div itemprop="review" itemscope itemtype="https://schema.org/Review">'
        f'<span itemprop="author">{html.escape(author)}</span>'
        f'<p itemprop="reviewBody">{html.escape(body)}</p>'
        '<meta itemprop="datePublished" content="2026-11-19"></div>'
        for author, body in reviews
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
        f'<div itemscope itemtype="https://schema.org/Product"><h1 itemprop="name">P</h1>{items}'
        "</div></body></html>"
    ).encode()


MANGLED_PAGES = {
    "appstore": st.lists(appstore_entry(), max_size=4).map(appstore_page),
    "jd": st.lists(jd_comment(), max_size=4).map(jd_page),
    "reddit": st.lists(reddit_post(), max_size=4).map(reddit_page),
    "hackernews": st.lists(hn_hit(), max_size=4).map(hn_page),
    "trustpilot": st.lists(trustpilot_review(), max_size=4).map(trustpilot_page),
    "jsonld": st.lists(ld_review(), max_size=4).map(jsonld_page),
}

random_html = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "<html>",
                "</html>",
                "<script>",
                '<script type="application/ld+json">',
                '<script id="__NEXT_DATA__" type="application/json">',
                "</script>",
                "<!--",
                "-->",
                "<![CDATA[",
                "]]>",
                '<div itemscope itemtype="https://schema.org/Review">',
                '<span itemprop="reviewBody">',
                '<a rel="next" href="?page=2">',
                "<link rel=next href=//evil.example/>",
                "</div>",
                "{",
                "}",
                "[",
                "]",
                '"@type": "Review"',
                ",",
                ":",
                "<",
                ">",
            ]
        ),
        tricky_text,
    ),
    max_size=30,
).map("".join)

any_body = st.one_of(
    st.binary(max_size=2000),
    json_values.map(lambda value: to_json(value).encode()),
    random_html.map(lambda text: text.encode("utf-8")),
    random_html.map(lambda text: text.encode("gb18030")),
    tricky_text.map(lambda text: text.encode("utf-16")),
)


# ---------------------------------------------------------------- properties


@reliability(
    row="Random bytes, JSON and HTML fragments as a page (every site)",
    expected="Records valid per the record schema, or the page rejected (PageParseError); "
    "never another exception",
)
@pytest.mark.parametrize("site", sorted(SITES))
@FUZZ
@given(body=any_body)
def test_any_bytes_give_valid_records_or_a_rejected_page(site, body):
    parse(site, body)


@reliability(
    row="A site's own format with fields missing, of the wrong type or nested (every site)",
    expected="Records valid per the record schema, or the page rejected; never a crash",
)
@reliability(
    row="A page cut off at any byte (every site)",
    expected="The records read so far are valid, or the page is rejected as truncated",
)
@reliability(
    row="Invalid UTF-8 bytes inside a page (every site)",
    expected="Decoded as GB18030 when that works, else the page is rejected; never a crash",
)
@pytest.mark.parametrize("site", sorted(SITES))
@FUZZ
@given(data=st.data(), junk=st.binary(min_size=1, max_size=12))
def test_mangled_cut_and_corrupted_pages_of_the_sites_own_format(site, data, junk):
    body = data.draw(MANGLED_PAGES[site], label="page")
    parse(site, body)
    cut = data.draw(st.integers(0, len(body)), label="cut at")
    parse(site, body[:cut])
    parse(site, body[:cut] + junk + body[cut:])


# Per site: a page holding one review whose text fields are the drawn texts, and where
# each text comes out in the record.
def _appstore(author, title, text):
    entry = {
        "author": {"name": {"label": author}},
        "im:rating": {"label": "4"},
        "id": {"label": "1"},
        "title": {"label": title},
        "content": {"label": text, "attributes": {"type": "text"}},
        "updated": {"label": "2026-11-19T08:00:00-07:00"},
    }
    return appstore_page([entry]), {"author": author, "title": title, "text": text}


def _jd(author, title, text):
    comment = {"id": 1, "content": text, "nickname": author, "score": 5, "title": title}
    return jd_page([comment], encoding="utf-8"), {"author": author, "title": title, "text": text}


def _reddit(author, title, text):
    post = {"name": "t3_a", "title": title, "selftext": text, "author": author}
    return reddit_page([post]), {"author": author, "title": title, "text": text}


def _hackernews(author, title, text):
    # The comment is HTML: what people type is escaped ("<" as &lt;), and decoded once.
    sent = html.escape(text, quote=False)
    hit = {"objectID": "1", "comment_text": sent, "author": author, "title": title}
    return hn_page([hit]), {"author": author, "title": title, "text": sent}


def _trustpilot(author, title, text):
    review = {"id": "r1", "rating": 4, "title": title, "text": text}
    review["consumer"] = {"displayName": author}
    return trustpilot_page([review]), {"author": author, "title": title, "text": text}


def _jsonld(author, title, text):
    review = {"@type": "Review", "author": author, "name": title, "reviewBody": text}
    return jsonld_page([review]), {"author": author, "title": title, "text": text}


def _microdata(author, title, text):
    return microdata_page([(author, text)]), {"author": author, "text": text}


ONE_REVIEW_PAGES = {
    "appstore": ("appstore", _appstore),
    "jd": ("jd", _jd),
    "reddit": ("reddit", _reddit),
    "hackernews": ("hackernews", _hackernews),
    "trustpilot": ("trustpilot", _trustpilot),
    "jsonld": ("jsonld", _jsonld),
    "microdata": ("jsonld", _microdata),
}
# Markup-free text for the sites whose text passes through an HTML parser or tag stripper;
# a marker that a site uses for a withdrawn post, or JD's "no text" placeholder, means None.
_MARKER_TEXTS = {
    "[deleted]",
    "[removed]",
    "[dead]",
    "[flagged]",
    "默认好评",
    "此用户未填写评价内容",
}


@reliability(
    row="Emoji, right-to-left and zero-width characters, combining accents, quotes and markup "
    "in review texts and author names (every site)",
    expected="Text arrives NFC-normalised with entities decoded and whitespace collapsed; "
    "nothing else changed or lost",
)
@pytest.mark.parametrize("case", sorted(ONE_REVIEW_PAGES))
@FUZZ
@given(author=tricky_text, title=tricky_text, text=tricky_text)
@example(author="\u202eevil\u202c", title="e\u0301", text="👩‍👩‍👧 \u200b\ufeff שלום &amp; 好评")
def test_texts_survive_unchanged_but_normalised(case, author, title, text):
    site, page_of = ONE_REVIEW_PAGES[case]
    texts = [author, title, text]
    assume(not any(value.strip() in _MARKER_TEXTS for value in texts))
    if case == "microdata":
        # Through an HTML parser: control characters are not text there.
        assume(not any(_CONTROL.search(value) for value in texts))
    body, sent = page_of(author, title, text)
    records = parse(site, body)
    assert records is not None and len(records) == 1
    (record,) = records
    for field, value in sent.items():
        assert record[field] == cleaned(value), field


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\r]")


@reliability(
    row="GBK pages labelled UTF-8, GBK pages without a label, UTF-8 pages labelled GBK (jd, "
    "jsonld)",
    expected="Text decoded right whenever the bytes are not also valid UTF-8 (then UTF-8 wins, "
    "as it is self-checking)",
)
@FUZZ
@given(
    text=st.lists(st.one_of(st.sampled_from(TRICKY), st.text(max_size=6)), min_size=1).map(
        lambda parts: "质量" + "".join(parts)
    ),
    label=st.sampled_from(["text/html;charset=utf-8", "text/html", "application/json"]),
)
def test_gbk_pages_mislabelled_as_utf8(text, label):
    body = jd_page([{"id": 1, "content": text, "score": 1}], encoding="gb18030")
    is_utf8 = True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        is_utf8 = False
    assume(not is_utf8)
    assume(text.strip() not in _MARKER_TEXTS)
    (record,) = parse("jd", body, label)
    assert record["text"] == cleaned(text)

    page = jsonld_page([{"@type": "Review", "reviewBody": text}], charset="gb18030")
    (record,) = parse("jsonld", page, label)
    assert record["text"] == cleaned(text)

    utf8_labelled_gbk = jd_page([{"id": 1, "content": text, "score": 1}], encoding="utf-8")
    (record,) = parse("jd", utf8_labelled_gbk, "text/html;charset=GBK")
    assert record["text"] == cleaned(text)


@reliability(
    row="Half an emoji: a lone UTF-16 surrogate escape (\\ud83d) in JSON text (every JSON site)",
    expected="Replaced by U+FFFD; the record is kept and can be written as UTF-8 "
    "(before: the records writer raised UnicodeEncodeError and lost the item)",
)
@pytest.mark.parametrize("case", sorted(set(ONE_REVIEW_PAGES) - {"microdata"}))
def test_a_lone_surrogate_escape_becomes_a_replacement_character(case):
    # (HTML text has no such escapes: HTML decodes &#xD83D; to U+FFFD itself.)
    site, page_of = ONE_REVIEW_PAGES[case]
    body, _ = page_of("Ann", "Broken emoji", "cut here: LONE")
    (record,) = parse(site, body.replace(b"LONE", b"\\ud83d"))
    assert record["text"] == "cut here: \ufffd"


# Inputs the fuzzing found (or that sit next to them), kept so they are tried on every run
# whatever the random examples are.
FOUND_PAGES = {
    "jd: replies is true, not a list (TypeError)": (
        "jd",
        jd_page([{"id": 1, "content": "ok", "score": 5, "replies": True}]),
    ),
    "jd: replies is a number (TypeError)": (
        "jd",
        jd_page([{"id": 1, "content": "ok", "score": 5, "replies": 1.0}]),
    ),
    "jd: year 1 in Beijing has no UTC time (OverflowError)": (
        "jd",
        jd_page([{"id": 1, "content": "ok", "creationTime": "0001-01-01 00:00:00"}]),
    ),
    "appstore: year 1 at +08:00 (OverflowError)": (
        "appstore",
        appstore_page([{"id": {"label": "1"}, "updated": {"label": "0001-01-01T00:00:00+08:00"}}]),
    ),
    "appstore: a javascript: link": (
        "appstore",
        appstore_page([{"id": {"label": "1"}, "link": {"attributes": {"href": "javascript:x"}}}]),
    ),
    "hackernews: an epoch in the year 999 (not ISO-8601)": (
        "hackernews",
        hn_page([{"objectID": "1", "comment_text": "ok", "created_at_i": -30_610_224_001}]),
    ),
    "reddit: an epoch in the year 999 and a javascript: url": (
        "reddit",
        reddit_page(
            [
                {
                    "name": "t3_a",
                    "title": "ok",
                    "created_utc": -30_610_224_001.0,
                    "url": "javascript:x",
                }
            ]
        ),
    ),
    "jsonld: a day that does not exist, a javascript: url": (
        "jsonld",
        jsonld_page(
            [
                {
                    "@type": "Review",
                    "reviewBody": "ok",
                    "datePublished": "2026-13-45",
                    "url": "javascript:alert(1)",
                }
            ]
        ),
    ),
    "jsonld: an unclosed IPv6 host in a url and the next link (ValueError)": (
        "jsonld",
        jsonld_page([{"@type": "Review", "reviewBody": "ok", "url": "http://[::1"}]).replace(
            b"</head>", b'<link rel="next" href="http://[::1"></head>'
        ),
    ),
    "trustpilot: year 1 at +08:00": (
        "trustpilot",
        trustpilot_page(
            [{"id": "r1", "text": "ok", "dates": {"publishedDate": "0001-01-01T00:00:00+08:00"}}]
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(FOUND_PAGES))
def test_pages_the_fuzzing_found_give_valid_records(case):
    site, body = FOUND_PAGES[case]
    records = parse(site, body)
    assert records is not None and len(records) == 1


def nested(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


DEEP_PAGES = {
    "appstore": lambda inner: f'{{"feed": {{"entry": [{{"content": {inner}}}]}}}}',
    "jd": lambda inner: f'fetchJSON_comment98({{"comments": [{{"content": {inner}}}]}});',
    "reddit": lambda inner: (
        f'{{"kind": "Listing", "data": {{"children": [{{"kind": "t3", "data": {inner}}}]}}}}'
    ),
    "hackernews": lambda inner: f'{{"hits": [{{"objectID": "1", "x": {inner}}}]}}',
    "trustpilot": lambda inner: (
        '<html><script id="__NEXT_DATA__" type="application/json">'
        f'{{"props": {{"pageProps": {{"reviews": [{{"id": "1", "x": {inner}}}]}}}}}}'
        "</script></html>"
    ),
    "jsonld": lambda inner: (
        '<html><script type="application/ld+json">'
        f'{{"@type": "Review", "reviewBody": "x", "itemReviewed": {inner}}}</script></html>'
    ),
}


@reliability(
    row="JSON nested 100,000 levels deep, and just past the depth limit (every JSON site)",
    expected="Page rejected: 'nests deeper than 100 levels' (before: RecursionError escaped "
    "the parser and the page was neither parsed nor kept as a reject)",
)
@pytest.mark.parametrize("site", sorted(DEEP_PAGES))
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 100_000])
@pytest.mark.parametrize("kind", ["array", "object"])
def test_deeply_nested_json_is_a_rejected_page(site, depth, kind):
    body = DEEP_PAGES[site](nested(depth, kind)).encode()
    with pytest.raises(PageParseError, match="nests deeper than"):
        spider(site).parse_page(site_response(site, body), 1, CRAWLED_AT)


@pytest.mark.parametrize("site", ["appstore", "jsonld", "trustpilot"])
def test_json_nested_within_the_limit_is_read(site):
    # The page adds 3 to 5 levels around the nested value: stay within MAX_JSON_DEPTH.
    body = DEEP_PAGES[site](nested(MAX_JSON_DEPTH - 10, "object")).encode()
    assert parse(site, body) is not None


@reliability(
    row="Markup nested 100,000 elements deep around microdata",
    expected="Page rejected: 'markup nests deeper than 400 elements' (before: RecursionError)",
)
def test_deeply_nested_microdata_is_a_rejected_page():
    depth = 100_000
    body = (
        '<div itemscope itemtype="https://schema.org/Review">'
        + "<div>" * depth
        + '<span itemprop="reviewBody">x</span>'
        + "</div>" * depth
        + "</div>"
    ).encode()
    with pytest.raises(PageParseError, match="markup nests deeper than"):
        spider("jsonld").parse_page(site_response("jsonld", body), 1, CRAWLED_AT)


# Inputs that made a regular expression scan the rest of the page at every position: a
# 1 MB page took hours. They must now parse like any page (no time is measured: were the
# bug back, this test would not finish).
QUADRATIC_PAGES = {
    "jsonld: 1 MB of '<script ' and no '>'": ("jsonld", b"<script " * 130_000),
    "jsonld: 1 MB of '<a ' and no '>'": ("jsonld", b"<html><body>" + b"<a " * 350_000),
    "jsonld: 30,000 unclosed JSON-LD scripts before one </script>": (
        "jsonld",
        b'<script type="application/ld+json">[]' * 30_000 + b"</script>",
    ),
    "trustpilot: 1 MB of '<script ' and no '>'": ("trustpilot", b"<script " * 130_000),
    "jd: ')' and a megabyte of spaces": (
        "jd",
        b"fetchJSON_comment98(" + b")" + b" " * 10**6 + b"x",
    ),
    "hackernews: a comment of 1 MB of '<'": (
        "hackernews",
        to_json({"hits": [{"objectID": "1", "comment_text": "<" * 10**6}]}).encode(),
    ),
    "hackernews: a comment of '<p ' and no '>'": (
        "hackernews",
        to_json({"hits": [{"objectID": "1", "comment_text": "<p " * 300_000}]}).encode(),
    ),
}


@reliability(
    row="Pages built to make the parser's regular expressions backtrack: a megabyte of '<a ' "
    "or '<script ' without '>', thousands of unclosed scripts, ')' then a megabyte of spaces",
    expected="Parsed in linear time like any page (before: quadratic, hours for 1 MB)",
)
@pytest.mark.parametrize("case", sorted(QUADRATIC_PAGES))
def test_pages_built_to_backtrack_parse_in_linear_time(case):
    site, body = QUADRATIC_PAGES[case]
    parse(site, body)


# ---------------------------------------------------------------- drops (CSV, XLSX)

TARGET_ID = "folder=drops&mapping=survey"
MAPPING = ColumnMapping.from_config(
    "survey",
    {
        "review_id": "ID",
        "text": "Comment",
        "author": "Customer",
        "rating": "Score",
        "published_at": "Date",
        "channel": "Channel",
        "rating_scale": "10",
    },
)
HEADER = ["ID", "Comment", "Customer", "Score", "Date", "Channel"]


def read_drop(name: str, body: bytes, tmp_path: Path | None = None):
    """(records, rejects) of one drop file, checked; None when the file is refused."""
    path = Path(name) if tmp_path is None else tmp_path / name
    if tmp_path is not None:
        path.write_bytes(body)
    try:
        result = read_drop_file(
            path, MAPPING, target_id=TARGET_ID, crawled_at=CRAWLED_AT, body=body
        )
    except DropFileError:
        return None
    for record in result.records:
        check_record(record, source="files", target_id=TARGET_ID)
    for reject in result.rejects:
        assert set(reject) == {"url", "status", "error", "body", "source", "target_id"}
        assert isinstance(reject["error"], str) and reject["error"]
        assert isinstance(reject["body"], str)
        reject_line = json.dumps(reject, ensure_ascii=False).encode("utf-8")
        assert json.loads(reject_line) == reject
    return result.records, result.rejects


csv_cell = st.one_of(
    tricky_text,
    st.sampled_from(["", "n/a", "10", "0", "11", "7,5", "２", "-1", "1e309", "nan"]),
    st.sampled_from(
        ["2026-11-19", "2026/11/19 08:00", "19.11.2026", "2026-13-45", "2026年11月19日"]
    ),
    st.sampled_from(['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "@SUM(1)"]),
    # No UTC time with a four-digit year (an OverflowError in the reader before).
    st.sampled_from(
        ["0001-01-01T00:00:00+08:00", "0999-01-01T10:00:00Z", "9999-12-31T23:00-05:00"]
    ),
)
csv_rows = st.lists(st.lists(csv_cell, min_size=0, max_size=8), max_size=8)


def write_csv(rows: list[list[str]], delimiter: str) -> str:
    buffer = io.StringIO()
    import csv

    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue()


@reliability(
    row="CSV drops: random bytes, random cells (formulas, dates, numbers, emoji, quotes), "
    "any delimiter and encoding (UTF-8, UTF-8 BOM, UTF-16, GBK), cut at any byte",
    expected="Valid records and rejects that name file and line, or the file refused "
    "(DropFileError); never another exception",
)
@FUZZ
@given(
    rows=csv_rows,
    delimiter=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "gb18030"]),
    cut=st.one_of(st.none(), st.integers(0, 4000)),
    junk=st.binary(max_size=40),
)
def test_csv_drops_give_valid_records_rejects_or_a_refused_file(
    rows, delimiter, encoding, cut, junk
):
    body = write_csv(rows, delimiter).encode(encoding)
    if cut is not None:
        body = body[:cut]
    read_drop("drop.csv", body)
    read_drop("drop.csv", junk + body)


def test_a_drop_date_without_a_utc_time_is_a_row_reject():
    cells = [["1", "ok", "Ann", "8", "0001-01-01T00:00:00+08:00", "web"]]
    outcome = read_drop("drop.csv", write_csv(cells, ",").encode("utf-8"))
    assert outcome is not None
    records, (reject,) = outcome
    assert records == [] and "out of range" in reject["error"]


@FUZZ
@given(rows=st.lists(st.tuples(tricky_text, tricky_text), min_size=1, max_size=5))
def test_csv_texts_survive_unchanged_but_normalised(rows):
    assume(all(cleaned(text) for text, _ in rows))
    cells = [
        [str(number), text, author, "8", "2026-11-19", "web"]
        for number, (text, author) in enumerate(rows, start=1)
    ]
    outcome = read_drop("drop.csv", write_csv(cells, ",").encode("utf-8"))
    assert outcome is not None
    records, rejects = outcome
    assert rejects == []
    assert [(r["text"], r["author"]) for r in records] == [
        (cleaned(text), cleaned(author)) for text, author in rows
    ]


# Characters a workbook cannot hold (XML 1.0 forbids most control characters).
_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
xlsx_cell = st.one_of(
    st.none(),
    tricky_text.filter(lambda text: not _NOT_IN_XML.search(text)),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.dates(min_value=date(1900, 3, 1), max_value=date(2100, 1, 1)),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(2100, 1, 1)),
    st.booleans(),
)


@reliability(
    row="XLSX drops: random bytes, a ZIP that is no workbook, random typed cells",
    expected="Valid records and rejects, or the file refused (DropFileError)",
)
@settings(FUZZ, max_examples=60)
@given(
    rows=st.lists(st.lists(xlsx_cell, max_size=7), max_size=6),
    junk=st.binary(max_size=200),
)
def test_xlsx_drops_give_valid_records_rejects_or_a_refused_file(tmp_path_factory, rows, junk):
    from openpyxl import Workbook

    folder = tmp_path_factory.mktemp("xlsx")
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    body = buffer.getvalue()
    read_drop("drop.xlsx", body, folder)
    assert read_drop("junk.xlsx", junk, folder) is None
    zipped = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("hello.txt", junk)
    assert read_drop("zip.xlsx", zipped.getvalue(), folder) is None
