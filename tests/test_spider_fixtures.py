"""Golden pairs for the appstore parser: tests/fixtures/appstore/<case>.json (a saved feed
page) and <case>.expected.json (the call's target and page URL, and the expected records)."""

import json
from pathlib import Path

import pytest

from repwatch.records import RECORD_FIELDS
from spiders.sites.appstore import FeedParseError, parse_feed

FIXTURES = Path(__file__).parent / "fixtures" / "appstore"
CASES = sorted(
    path.name.removesuffix(".expected.json") for path in FIXTURES.glob("*.expected.json")
)
CRAWLED_AT = "2026-11-21T06:00:00Z"


def test_every_required_case_has_a_golden_pair():
    required = {
        "normal_page",
        "single_entry_object",
        "missing_date",
        "malformed_rating",
        "metadata_entry_first",
        "past_the_end",
    }
    assert required <= set(CASES)
    for case in CASES:
        assert (FIXTURES / f"{case}.json").exists(), f"{case}.expected.json has no saved page"


@pytest.mark.parametrize("case", CASES)
def test_parse_feed_matches_golden_records(case):
    expected = json.loads((FIXTURES / f"{case}.expected.json").read_text(encoding="utf-8"))
    payload = (FIXTURES / f"{case}.json").read_bytes()

    records = parse_feed(
        payload,
        target_id=expected["target_id"],
        page_url=expected["page_url"],
        crawled_at=CRAWLED_AT,
    )

    assert records == expected["records"]
    for record in records:
        assert tuple(record) == RECORD_FIELDS


def test_parse_feed_accepts_text_and_parsed_documents_alike():
    payload = (FIXTURES / "normal_page.json").read_text(encoding="utf-8")
    arguments = {
        "target_id": "app_id=1000001&country=us",
        "page_url": "u",
        "crawled_at": CRAWLED_AT,
    }

    from_text = parse_feed(payload, **arguments)

    assert from_text == parse_feed(json.loads(payload), **arguments)
    assert from_text == parse_feed(payload.encode("utf-8"), **arguments)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html><body>Service Unavailable</body></html>", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "cannot decode the page"),
        (b'{"error": "rate limited"}', "no `feed` object"),
        (b"[1, 2, 3]", "no `feed` object"),
        (b'{"feed": {"entry": "nope"}}', "not a list of objects"),
    ],
)
def test_a_page_that_is_not_a_feed_raises_a_clear_parse_error(body, message):
    with pytest.raises(FeedParseError, match=message):
        parse_feed(body, target_id="t", page_url="u", crawled_at=CRAWLED_AT)
