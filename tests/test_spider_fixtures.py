"""Golden pages for every spider: tests/fixtures/<site>/<case>.expected.json names the
target, the page URL and headers, and the records (and next page) the spider must get from
the saved response beside it, tests/fixtures/<site>/<case>.<ext>; or, with "error", the
reason it must reject the page. One parametrised test finds every pair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repwatch.config import KNOWN_SOURCES
from repwatch.records import RECORD_FIELDS
from spiders.encoding import PageParseError
from tests.conftest import page_response, spider_class

FIXTURES = Path(__file__).parent / "fixtures"
CRAWLED_AT = "2026-11-21T06:00:00Z"
CASES = sorted(
    (path.parent.name, path.name.removesuffix(".expected.json"))
    for path in FIXTURES.glob("*/*.expected.json")
)
# Every site has these; sites add their own quirks (JSONP, GBK, microdata, ...).
REQUIRED_CASES = {"malformed", "truncated"}


def saved_page(site: str, case: str) -> Path:
    (page,) = [
        path
        for path in (FIXTURES / site).glob(f"{case}.*")
        if not path.name.endswith(".expected.json")
    ]
    return page


@pytest.mark.parametrize(("site", "case"), CASES, ids=[f"{s}/{c}" for s, c in CASES])
def test_spider_gets_the_golden_records_from_the_saved_page(site, case):
    expected = json.loads((FIXTURES / site / f"{case}.expected.json").read_text("utf-8"))
    spider = spider_class(site)(**expected["params"])
    body = saved_page(site, case).read_bytes()
    response = page_response(expected["url"], body, expected.get("headers", {}))

    if "error" in expected:
        with pytest.raises(PageParseError, match=expected["error"]):
            spider.parse_page(response, 1, CRAWLED_AT)
        return
    page = spider.parse_page(response, 1, CRAWLED_AT)
    assert page.records == expected["records"]
    for record in page.records:
        assert tuple(record) == RECORD_FIELDS
        assert record["source"] == site
    if "next_url" in expected:
        assert page.next_url == expected["next_url"]


@pytest.mark.parametrize("site", sorted({site for site, _ in CASES}))
def test_every_site_has_its_required_cases(site):
    cases = {case for s, case in CASES if s == site}
    assert cases >= REQUIRED_CASES, f"{site} lacks {REQUIRED_CASES - cases}"


def test_every_crawled_source_has_golden_pages():
    crawled = set(KNOWN_SOURCES) - {"files"}  # files reads drops, not web pages
    sites_with_cases = {site for site, _ in CASES}
    missing = crawled - sites_with_cases
    assert not missing, f"no golden pages for {sorted(missing)}"
