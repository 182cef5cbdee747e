"""Quarantine: every rejected row and page is kept with its source, reason, payload and time;
`repwatch quarantine list` shows it; `repwatch quarantine replay` loads what passes after a
fix, keeps the rest with its current reason, and changes nothing when run again."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from click.testing import CliRunner

from repwatch.cli import main
from repwatch.quality import check_raw_batch
from repwatch.quarantine import replay
from repwatch.warehouse import load_batch, read_quarantine

REPO = Path(__file__).resolve().parents[1]
JD_FIXTURES = REPO / "tests" / "fixtures" / "jd"
JD_TARGET = "product_id=100012043978"
APPSTORE_TARGET = "app_id=1000001&country=us"
CRAWL_TIME = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)


def _record(review_id: str, *, rating=4, published_at="2026-11-20T10:00:00Z") -> dict:
    return {
        "source": "appstore",
        "target_id": APPSTORE_TARGET,
        "review_id": review_id,
        "kind": "review",
        "author": "someone",
        "rating": rating,
        "title": "t",
        "text": f"text {review_id}",
        "language": "en",
        "published_at": published_at,
        "date_precision": "exact",
        "reply_text": None,
        "reply_at": None,
        "url": f"https://example.test/{review_id}",
        "likes": 0,
        "extra": None,
        "crawled_at": "2026-11-21T01:00:00Z",
        "raw": {"id": review_id},
    }


def _land(raw_dir: Path, source: str, target_id: str, params: dict, name: str, records, pages):
    """A crawl's three landing files: records, page rejects and statistics."""
    folder = raw_dir / source / "crawl_date=2026-11-21"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    path.with_suffix(".rejects.jsonl").write_text(
        "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pages), "utf-8"
    )
    stats = {
        "source": source,
        "target_id": target_id,
        "params": params,
        "base_url": None,
        "started_at": "2026-11-21T01:00:00Z",
        "finished_at": "2026-11-21T01:00:05Z",
        "requests": len(records) + len(pages),
        "responses": len(records) + len(pages),
        "items": len(records),
        "rejects": len(pages),
        "errors": 0,
        "finish_reason": "finished",
        "stopped_because": "error" if pages else "last page",
    }
    path.with_suffix(".stats.json").write_text(json.dumps(stats), "utf-8")
    return path


def _jd_page(body: str, error: str) -> dict:
    url = (
        "https://club.jd.com/comment/productPageComments.action?callback=fetchJSON_comment98"
        "&productId=100012043978&score=0&sortType=6&page=0&pageSize=10&isShadowSku=0&fold=1"
    )
    return {"url": url, "status": 200, "error": error, "body": body}


def _load(config, files, *, now=CRAWL_TIME):
    checked = check_raw_batch(files, now=now)
    files_read = [Path(name) for name in checked.summary["files_read"]]
    return load_batch(config, checked.valid, checked.quarantined, batch_id="b1", files=files_read)


def _landed(config):
    """An App Store crawl with one future-dated row (clock skew at crawl time) and one bad
    rating; a JD crawl whose every page failed: one page the fixed parser reads (a saved
    JSONP comments page) and one that is still an HTML error page."""
    raw_dir = config.paths.raw_dir
    future = (CRAWL_TIME + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    appstore = _land(
        raw_dir,
        "appstore",
        APPSTORE_TARGET,
        {"app_id": "1000001", "country": "us"},
        "run1.appstore",
        [_record("ok-1"), _record("late-1", published_at=future), _record("bad-1", rating=9)],
        [],
    )
    jsonp = (JD_FIXTURES / "jsonp_page.js").read_text(encoding="utf-8")
    html = (JD_FIXTURES / "malformed.html").read_text(encoding="utf-8")
    jd = _land(
        raw_dir,
        "jd",
        JD_TARGET,
        {"product_id": "100012043978"},
        "run1.jd",
        [],
        [_jd_page(jsonp, "old parser: unexpected shape"), _jd_page(html, "not JSON")],
    )
    return [appstore, jd]


def _table(config, sql):
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_every_rejected_row_and_page_is_kept_with_source_reason_payload_and_time(config):
    files = _landed(config)
    _load(config, files)
    entries = read_quarantine(config)
    by_review = {entry["review_id"]: entry for entry in entries if entry["kind"] == "row"}
    assert set(by_review) == {"late-1", "bad-1"}
    assert by_review["bad-1"]["reason"] == "rating not in 1–5"
    assert json.loads(by_review["bad-1"]["payload"])["rating"] == 9
    pages = [entry for entry in entries if entry["kind"] == "page"]
    assert len(pages) == 2
    for entry in entries:
        assert entry["quarantined_at"] is not None and entry["batch_id"] == "b1"
        assert entry["file"] and entry["line"] >= 1
    # No JD record landed, so the pages' source and target come from the crawl statistics.
    assert {(page["source"], page["target_id"]) for page in pages} == {("jd", JD_TARGET)}
    assert all(page["reason"].startswith("page failed to parse") for page in pages)
    assert any("fetchJSON_comment98" in page["payload"] for page in pages)


def test_quarantine_list_shows_a_table_with_counts_and_filters(config):
    _load(config, _landed(config))
    runner = CliRunner()
    base = ["--config", str(config.config_file), "quarantine", "list"]

    table = runner.invoke(main, base)
    assert table.exit_code == 0, table.output
    header, *rest = table.output.splitlines()
    assert header.split()[:4] == ["when", "source", "target", "reason"]
    assert "4 entries" in table.output
    assert "run1.jd.rejects.jsonl:2" in table.output
    counts = table.output.split("4 entries")[1]
    assert "1  rating not in 1–5" in counts and "1  published_at in the future" in counts

    only_jd = json.loads(runner.invoke(main, [*base, "--source", "jd", "--json"]).output)
    assert len(only_jd) == 2 and {entry["source"] for entry in only_jd} == {"jd"}
    by_reason = json.loads(runner.invoke(main, [*base, "--reason", "RATING", "--json"]).output)
    assert [entry["review_id"] for entry in by_reason] == ["bad-1"]
    limited = json.loads(runner.invoke(main, [*base, "--limit", "1", "--json"]).output)
    assert len(limited) == 1
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    later = json.loads(runner.invoke(main, [*base, "--since", tomorrow, "--json"]).output)
    assert later == []


def _snapshot(config):
    return (
        _table(config, "select * from quarantine order by entry_id"),
        _table(config, "select * exclude (batch_id) from int_reviews order by all"),
        _table(config, "select * from mart_brand_daily order by all"),
    )


def test_replay_loads_what_now_passes_keeps_the_rest_and_is_idempotent(config):
    _load(config, _landed(config))
    loaded_before = {row[0] for row in _table(config, "select review_id from int_reviews")}
    assert loaded_before == {"ok-1"}
    expected_jd = json.loads((JD_FIXTURES / "jsonp_page.expected.json").read_text("utf-8"))
    jd_ids = {record["review_id"] for record in expected_jd["records"]}

    result = replay(config)

    loaded = {row[0] for row in _table(config, "select review_id from int_reviews")}
    # The future-dated row passes now that its date has come; the kept JSONP page parses.
    assert loaded == {"ok-1", "late-1", *jd_ids}
    assert result.loaded_rows == 1 + len(jd_ids)
    still = read_quarantine(config)
    assert sorted((entry["kind"], entry["review_id"]) for entry in still) == [
        ("page", None),
        ("row", "bad-1"),
    ]
    html_page = next(entry for entry in still if entry["kind"] == "page")
    assert "not JSON or JSONP" in html_page["reason"]  # its reason is the current parser's
    replayed = read_quarantine(config, include_replayed=True)
    resolutions = {
        (entry["kind"], entry["review_id"]): entry["resolution"]
        for entry in replayed
        if entry["replayed_at"] is not None
    }
    assert resolutions == {("row", "late-1"): "loaded", ("page", None): "reparsed"}
    assert len(replayed) == 4, "entries are marked, never deleted"
    # The marts include the replayed rows.
    appstore_reviews = _table(
        config,
        "select sum(reviews) from mart_brand_daily "
        "where source = 'appstore' and day = date '2026-11-20'",
    )[0][0]
    assert appstore_reviews == 1  # ok-1; late-1 is dated the day after

    before = _snapshot(config)
    second = replay(config)
    assert _snapshot(config) == before
    assert (second.loaded_rows, second.resolved, second.reasons_changed) == (0, 0, 0)
    assert second.still_failing == 2


def test_replay_by_source_leaves_other_sources_alone(config):
    _load(config, _landed(config))
    replay(config, source="appstore")
    still = read_quarantine(config)
    assert sorted(entry["source"] for entry in still) == ["appstore", "jd", "jd"]
    assert _table(config, "select count(*) from int_reviews where source = 'jd'")[0][0] == 0


def test_replay_command_reports_what_it_did(config):
    _load(config, _landed(config))
    runner = CliRunner()
    command = ["--config", str(config.config_file), "quarantine", "replay", "--source", "jd"]
    first = runner.invoke(main, command)
    assert first.exit_code == 0, first.output
    assert "replayed 2 quarantined entries: 1 left the quarantine" in first.output
    second = runner.invoke(main, command)
    assert "replayed 1 quarantined entries: 0 left the quarantine (0 rows loaded)" in second.output


def test_a_kept_gbk_page_replays_to_the_same_chinese_text_a_live_crawl_gets(config):
    """A GBK page is kept byte for byte (its UTF-8 `body` is only readable text), so a replay
    after a parser fix reads the same comments as the live crawl would have."""
    from spiders.items import PageReject

    gbk_body = (JD_FIXTURES / "gbk_page.js").read_bytes()
    kept = PageReject.from_body(_jd_page("", "")["url"], 200, "old parser", gbk_body).as_dict()
    assert kept["body_base64"] is not None and "\ufffd" in kept["body"]
    jd = _land(
        config.paths.raw_dir, "jd", JD_TARGET, {"product_id": "100012043978"}, "run2.jd", [], [kept]
    )
    _load(config, [jd])

    replay(config, source="jd")

    expected = json.loads((JD_FIXTURES / "gbk_page.expected.json").read_text("utf-8"))["records"]
    texts = {row[0]: row[1] for row in _table(config, "select review_id, text from int_reviews")}
    assert texts == {record["review_id"]: record["text"] for record in expected}
