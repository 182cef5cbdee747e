"""The quality gate on raw crawl batches, on landing files written into tmp_path: each rule
quarantines exactly the row that breaks it, with its reason, and every line is accounted for."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from repwatch.quality import (
    ERROR,
    REASON_BAD_DATE,
    REASON_DUPLICATE,
    REASON_INVALID_UTF8,
    REASON_UNPARSEABLE,
    WARNING,
    check_raw_batch,
    raw_reviews_suite,
)
from repwatch.records import RECORD_FIELDS

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
US = "app_id=1000001&country=us"
CN = "app_id=1000001&country=cn"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _record(review_id: str, *, target_id: str = US, **changes) -> dict:
    record = {
        "source": "appstore",
        "target_id": target_id,
        "review_id": review_id,
        "kind": "review",
        "author": "Dana",
        "rating": 4,
        "title": "Works well",
        "text": f"Fast delivery, good app ({review_id})",
        "language": "en",
        "published_at": "2026-11-20T08:15:00Z",
        "date_precision": "exact",
        "reply_text": None,
        "reply_at": None,
        "url": f"https://apps.example/review/{review_id}",
        "likes": 2,
        "crawled_at": "2026-11-21T06:00:00Z",
        "raw": {"id": {"label": review_id}, "im:rating": {"label": "4"}, "note": "中文 ok"},
    }
    record.update(changes)
    return record


def _line(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode("utf-8")


def _write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def _clean_lines(count: int, *, prefix: str = "ok", target_id: str = US) -> list[bytes]:
    return [_line(_record(f"{prefix}{n}", target_id=target_id)) for n in range(count)]


def _reason_at(result, file: Path, line: int) -> str:
    rows = result.quarantined[
        (result.quarantined["file"] == str(file)) & (result.quarantined["line"] == line)
    ]
    assert len(rows) == 1, f"expected one quarantine row for {file.name}:{line}, got {len(rows)}"
    return rows["reason"].iloc[0]


def test_clean_batch_is_all_valid(tmp_path: Path) -> None:
    us = _write(tmp_path / "run.us.jsonl", _clean_lines(3))
    cn = _write(tmp_path / "run.cn.jsonl", _clean_lines(2, prefix="cn", target_id=CN))

    result = check_raw_batch([us, cn], now=NOW)

    assert result.quarantined.empty
    assert list(result.quarantined.columns) == [
        "source",
        "target_id",
        "review_id",
        "reason",
        "payload",
        "file",
        "line",
    ]
    assert all(gx.success for gx in result.gx_results.values())
    assert result.summary["gx_success"] is True
    assert result.summary["warnings"] == []
    assert list(result.valid.columns) == [*RECORD_FIELDS, "file", "line"]
    assert list(result.valid["review_id"]) == ["ok0", "ok1", "ok2", "cn0", "cn1"]
    assert list(zip(result.valid["file"], result.valid["line"], strict=True)) == [
        (str(us), 1),
        (str(us), 2),
        (str(us), 3),
        (str(cn), 1),
        (str(cn), 2),
    ]
    assert str(result.valid["rating"].dtype) == "Int64"
    assert str(result.valid["likes"].dtype) == "Int64"
    assert json.loads(result.valid["raw"].iloc[0]) == _record("ok0")["raw"]
    assert result.valid["reply_at"].iloc[0] is None
    assert result.valid["published_at"].iloc[0] == "2026-11-20T08:15:00Z"
    by_target = {row["target_id"]: row for row in result.summary["by_target"]}
    assert by_target[US] == {
        "source": "appstore",
        "target_id": US,
        "valid": 3,
        "quarantined": 0,
        "reasons": {},
        "lines_read": 3,
    }
    assert by_target[CN]["valid"] == 2
    assert result.summary["files_read"] == [str(us), str(cn)]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"rating": 7}, "rating not in 1–5"),
        ({"rating": 0}, "rating not in 1–5"),
        ({"rating": "5"}, "rating is not an integer"),
        ({"rating": 4.5}, "rating is not an integer"),
        ({"published_at": _iso(NOW + timedelta(hours=2))}, "published_at in the future"),
        ({"published_at": "1999-12-31T23:00:00Z"}, "published_at before the earliest date"),
        ({"published_at": "last Tuesday"}, REASON_BAD_DATE),
        ({"review_id": None}, "missing review_id"),
        ({"review_id": "   "}, "missing review_id"),
        ({"source": None}, "missing source"),
        ({"target_id": ""}, "missing target_id"),
        ({"text": "  ", "title": None}, "no text and no title"),
        ({"text": None, "title": ""}, "no text and no title"),
        ({"kind": "comment"}, "kind not in review, mention"),
        ({"language": "fr"}, "language not in zh, en, other"),
        ({"date_precision": "hour"}, "date_precision not in exact, day, unknown"),
        ({"likes": -1}, "likes negative"),
        ({"author": 42}, "author is not a string"),
    ],
)
def test_each_rule_quarantines_only_the_row_that_breaks_it(
    tmp_path: Path, changes: dict, reason: str
) -> None:
    lines = _clean_lines(3)
    lines.insert(1, _line({**_record("bad"), **changes}))
    landed = _write(tmp_path / "run.us.jsonl", lines)

    result = check_raw_batch([landed], now=NOW)

    assert list(result.valid["review_id"]) == ["ok0", "ok1", "ok2"]
    assert len(result.quarantined) == 1
    row = result.quarantined.iloc[0]
    assert row["reason"] == reason
    assert row["line"] == 2
    assert row["file"] == str(landed)
    assert row["payload"] == lines[1].decode("utf-8")
    assert result.summary["reasons"] == {reason: 1}


def test_earliest_date_is_a_parameter(tmp_path: Path) -> None:
    landed = _write(
        tmp_path / "run.us.jsonl",
        [
            _line(_record("old", published_at="2026-01-05T00:00:00Z")),
            _line(_record("recent", published_at="2026-11-01T00:00:00Z")),
        ],
    )

    result = check_raw_batch([landed], now=NOW, earliest=datetime(2026, 6, 1, tzinfo=UTC))

    assert list(result.valid["review_id"]) == ["recent"]
    assert _reason_at(result, landed, 1) == "published_at before the earliest date"


def test_future_dates_have_five_minutes_of_tolerance(tmp_path: Path) -> None:
    landed = _write(
        tmp_path / "run.us.jsonl",
        [
            _line(_record("clock-skew", published_at=_iso(NOW + timedelta(minutes=4)))),
            _line(_record("future", published_at=_iso(NOW + timedelta(minutes=6)))),
        ],
    )

    result = check_raw_batch([landed], now=NOW)

    assert list(result.valid["review_id"]) == ["clock-skew"]
    assert _reason_at(result, landed, 2) == "published_at in the future"


def test_a_review_with_only_a_title_is_valid(tmp_path: Path) -> None:
    landed = _write(tmp_path / "run.us.jsonl", [_line(_record("t", text=None, title="Great"))])

    result = check_raw_batch([landed], now=NOW)

    assert list(result.valid["review_id"]) == ["t"]
    assert result.quarantined.empty


def test_a_row_breaking_two_rules_gives_one_quarantine_row_listing_both(tmp_path: Path) -> None:
    landed = _write(
        tmp_path / "run.us.jsonl",
        [*_clean_lines(2), _line(_record("worse", rating=9, likes=-3, kind="blog"))],
    )

    result = check_raw_batch([landed], now=NOW)

    assert len(result.quarantined) == 1
    assert result.quarantined["reason"].iloc[0] == (
        "kind not in review, mention; rating not in 1–5; likes negative"
    )
    assert result.quarantined["review_id"].iloc[0] == "worse"
    assert result.summary["reasons"] == {
        "kind not in review, mention": 1,
        "rating not in 1–5": 1,
        "likes negative": 1,
    }


def test_duplicate_ids_keep_the_copy_from_the_newest_crawl(tmp_path: Path) -> None:
    older = _write(
        tmp_path / "run1.us.jsonl",
        [_line(_record("dup", likes=1, crawled_at="2026-11-20T06:00:00Z")), *_clean_lines(1)],
    )
    newer = _write(
        tmp_path / "run2.us.jsonl",
        [_line(_record("dup", likes=5, crawled_at="2026-11-21T06:00:00Z"))],
    )

    result = check_raw_batch([older, newer], now=NOW)

    kept = result.valid[result.valid["review_id"] == "dup"]
    assert list(kept["likes"]) == [5]
    assert list(kept["file"]) == [str(newer)]
    assert _reason_at(result, older, 1) == REASON_DUPLICATE
    assert len(result.quarantined) == 1


def test_duplicate_ids_from_the_same_crawl_keep_the_first(tmp_path: Path) -> None:
    landed = _write(
        tmp_path / "run.us.jsonl",
        [_line(_record("dup", likes=1)), _line(_record("dup", likes=2)), *_clean_lines(1)],
    )

    result = check_raw_batch([landed], now=NOW)

    assert list(result.valid["review_id"]) == ["dup", "ok0"]
    assert list(result.valid["likes"]) == [1, 2]
    assert _reason_at(result, landed, 2) == REASON_DUPLICATE


def test_same_review_id_on_another_source_is_not_a_duplicate(tmp_path: Path) -> None:
    landed = _write(
        tmp_path / "run.jsonl",
        [_line(_record("same")), _line(_record("same", source="playstore"))],
    )

    result = check_raw_batch([landed], now=NOW)

    assert len(result.valid) == 2
    assert result.quarantined.empty


@pytest.mark.parametrize("bad_line", [b'{"source": "appstore", ', b"[1, 2, 3]", b"42", b""])
def test_unparseable_json_lines_are_quarantined_with_the_line_as_payload(
    tmp_path: Path, bad_line: bytes
) -> None:
    lines = _clean_lines(2)
    lines.insert(1, bad_line)
    landed = _write(tmp_path / "run.us.jsonl", lines)

    result = check_raw_batch([landed], now=NOW)

    assert list(result.valid["review_id"]) == ["ok0", "ok1"]
    row = result.quarantined.iloc[0]
    assert len(result.quarantined) == 1
    assert (row["reason"], row["line"], row["payload"]) == (
        REASON_UNPARSEABLE,
        2,
        bad_line.decode(),
    )
    # The line has no target of its own: it belongs to the target its file was crawled for.
    assert (row["source"], row["target_id"], row["review_id"]) == ("appstore", US, None)


def test_invalid_utf8_line_is_quarantined_not_a_crash(tmp_path: Path) -> None:
    broken = _line(_record("gbk")).replace(b"Dana", "王".encode("gbk"))
    landed = _write(
        tmp_path / "run.us.jsonl", [*_clean_lines(1), broken, *_clean_lines(1, prefix="z")]
    )

    result = check_raw_batch([landed], now=NOW)

    assert list(result.valid["review_id"]) == ["ok0", "z0"]
    assert _reason_at(result, landed, 2) == REASON_INVALID_UTF8
    payload = result.quarantined["payload"].iloc[0]
    assert '"review_id": "gbk"' in payload and "\\x" in payload


def test_page_rejects_from_the_sidecar_are_quarantined(tmp_path: Path) -> None:
    landed = _write(tmp_path / "run.us.jsonl", _clean_lines(2))
    reject = {
        "url": "http://127.0.0.1:1/us/rss/customerreviews/page=3/id=1000001/sortby=mostrecent/json",
        "status": 200,
        "error": "Expecting value: line 1 column 1 (char 0)",
        "body": "<html>maintenance</html>",
    }
    sidecar = _write(tmp_path / "run.us.rejects.jsonl", [_line(reject)])

    result = check_raw_batch([landed], now=NOW)

    assert len(result.valid) == 2
    row = result.quarantined.iloc[0]
    assert len(result.quarantined) == 1
    assert row["reason"] == "page failed to parse: Expecting value: line 1 column 1 (char 0)"
    assert (row["payload"], row["file"], row["line"]) == (
        "<html>maintenance</html>",
        str(sidecar),
        1,
    )
    assert (row["source"], row["target_id"]) == ("appstore", US)
    assert result.summary["files_read"] == [str(landed), str(sidecar)]


def test_a_sidecar_named_in_the_batch_is_read_once(tmp_path: Path) -> None:
    landed = _write(tmp_path / "run.us.jsonl", _clean_lines(1))
    sidecar = _write(
        tmp_path / "run.us.rejects.jsonl",
        [_line({"url": "u", "status": 500, "error": "HTTP 500", "body": ""})],
    )

    result = check_raw_batch([landed, sidecar], now=NOW)

    assert list(result.quarantined["reason"]) == ["page failed to parse: HTTP 500"]
    assert result.summary["lines_read"] == 2


def test_conservation_every_line_is_valid_or_quarantined_exactly_once(tmp_path: Path) -> None:
    us_lines = [
        *_clean_lines(4),
        _line(_record("r7", rating=7)),
        b"not json",
        _line(_record("ok1")),  # duplicate of line 2
        b"\xff\xfe",
        _line(_record("nodate", published_at=None, date_precision="unknown")),
        _line(_record("both", rating=0, text="", title=None)),
    ]
    cn_lines = [*_clean_lines(3, prefix="cn", target_id=CN), b"{}", b"[]"]
    rejects = [_line({"url": "u", "status": 200, "error": "no feed", "body": "x"}), b"{"]
    us = _write(tmp_path / "a.us.jsonl", us_lines)
    cn = _write(tmp_path / "a.cn.jsonl", cn_lines)
    sidecar = _write(tmp_path / "a.cn.rejects.jsonl", rejects)
    written = {(str(us), n) for n in range(1, len(us_lines) + 1)}
    written |= {(str(cn), n) for n in range(1, len(cn_lines) + 1)}
    written |= {(str(sidecar), n) for n in range(1, len(rejects) + 1)}

    result = check_raw_batch([us, cn], now=NOW)

    valid = set(zip(result.valid["file"], result.valid["line"], strict=True))
    quarantined = set(zip(result.quarantined["file"], result.quarantined["line"], strict=True))
    assert len(valid) == len(result.valid) and len(quarantined) == len(result.quarantined)
    assert valid.isdisjoint(quarantined)
    assert valid | quarantined == written
    assert result.summary["lines_read"] == len(written) == 17
    assert result.summary["valid"] + result.summary["quarantined"] == len(written)
    assert len(result.valid) == 8  # ok0-ok3, nodate, cn0-cn2
    by_target = {row["target_id"]: row for row in result.summary["by_target"]}
    assert sum(row["lines_read"] for row in by_target.values()) == len(written)
    assert by_target[US]["lines_read"] == len(us_lines)
    assert by_target[CN]["lines_read"] == len(cn_lines) + len(rejects)
    assert by_target[US]["reasons"] == {
        "rating not in 1–5": 2,
        REASON_UNPARSEABLE: 1,
        REASON_DUPLICATE: 1,
        REASON_INVALID_UTF8: 1,
        "no text and no title": 1,
    }
    assert _reason_at(result, us, 10) == "no text and no title; rating not in 1–5"


def test_unknown_dates_are_valid_and_a_mostly_undated_batch_is_flagged(tmp_path: Path) -> None:
    undated = [
        _line(_record(f"u{n}", published_at=None, date_precision="unknown")) for n in range(3)
    ]
    landed = _write(tmp_path / "run.us.jsonl", [*_clean_lines(2), *undated])

    result = check_raw_batch([landed], now=NOW)

    assert len(result.valid) == 5
    assert result.quarantined.empty
    assert list(result.valid["published_at"])[2:] == [None, None, None]
    [warning] = result.summary["warnings"]
    assert warning["column"] == "known_date"
    assert warning["observed"] == pytest.approx(2 / 5)
    json.dumps(result.summary)  # the summary travels as JSON (XCom, logs)


def test_a_few_unknown_dates_raise_no_warning(tmp_path: Path) -> None:
    undated = _line(_record("u", published_at=None, date_precision="unknown"))
    landed = _write(tmp_path / "run.us.jsonl", [*_clean_lines(9), undated])

    result = check_raw_batch([landed], now=NOW)

    assert result.summary["warnings"] == []
    assert result.summary["gx_success"] is True


def test_an_empty_batch_checks_cleanly(tmp_path: Path) -> None:
    landed = _write(tmp_path / "run.us.jsonl", [])

    result = check_raw_batch([landed], now=NOW)

    assert result.valid.empty and result.quarantined.empty
    assert result.summary["lines_read"] == 0


def test_naive_now_is_refused(tmp_path: Path) -> None:
    landed = _write(tmp_path / "run.us.jsonl", _clean_lines(1))

    with pytest.raises(ValueError, match="time-zone aware"):
        check_raw_batch([landed], now=datetime(2026, 11, 21, 12))


def test_suite_has_one_expectation_per_rule_each_with_severity_and_reason() -> None:
    suite = raw_reviews_suite()

    metas = [expectation.meta for expectation in suite.expectations]
    assert all(meta["severity"] in (ERROR, WARNING) for meta in metas)
    reasons = [meta["reason"] for meta in metas]
    assert len(reasons) == len(set(reasons))
    assert [meta["severity"] for meta in metas].count(WARNING) == 1
    assert REASON_DUPLICATE in reasons


def test_importing_the_module_does_not_import_great_expectations() -> None:
    probe = "import sys, repwatch.quality; print('great_expectations' in sys.modules)"
    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "False"


def test_lines_off_the_fast_path_are_checked_alike(tmp_path: Path) -> None:
    landed_raw = b'{"id": {"label": "same"},  "note": "\\u4e2d"}'
    well_formed = _line(_record("fast", raw=None)).replace(b'"raw": null', b'"raw": ' + landed_raw)
    lines = [
        well_formed,
        _line({**_record("unknown-field"), "app_version": "1.2"}),
        _line(_record("huge", likes=2**70)),
        _line(_record("flag", rating=True)),
        _line(_record("listed-author", author=["a", "b"])),
        _line(_record("extra-list", extra=[1])),
    ]
    landed = _write(tmp_path / "run.us.jsonl", lines)

    result = check_raw_batch([landed], now=NOW)

    assert list(result.valid["review_id"]) == ["fast", "unknown-field"]
    assert result.valid["raw"].iloc[0] == landed_raw.decode()  # the payload as landed
    assert json.loads(result.valid["raw"].iloc[1]) == _record("unknown-field")["raw"]
    assert result.summary["unexpected_fields"] == ["app_version"]
    assert list(result.quarantined["reason"]) == [
        "likes is not an integer",
        "rating is not an integer",
        "author is not a string",
        "extra is not an object",
    ]
