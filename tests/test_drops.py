"""The `files` source: CSV and XLSX drops read by a column mapping into normalised records,
bad rows kept as rejects with their line, each file read once.

Golden drops: tests/fixtures/files/<case>.records.json names the mapping and the records and
rejects expected from the drop beside it (or the error that makes the whole file unusable).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from repwatch.config import load_config
from repwatch.crawl import CrawlOptions, CrawlStats, crawl_in_subprocess, rejects_path, stats_path
from repwatch.drops import (
    BadValue,
    ColumnMapping,
    DropError,
    DropFileError,
    crawl_drops,
    parse_moment,
    read_drop_file,
    registry_path_for,
    scaled_rating,
    sniff_delimiter,
)
from repwatch.records import RECORD_FIELDS

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "files"
CRAWLED_AT = "2026-11-21T06:00:00Z"
TARGET_ID = "folder=drops&mapping=golden"
CASES = sorted(path.name.removesuffix(".records.json") for path in FIXTURES.glob("*.records.json"))
# Filled in by the reader for every row of every drop.
COMMON = {
    "source": "files",
    "target_id": TARGET_ID,
    "kind": "review",
    "reply_text": None,
    "reply_at": None,
    "likes": 0,
    "crawled_at": CRAWLED_AT,
}
COMPLAINTS_MAPPING = json.loads((FIXTURES / "complaints_gbk.records.json").read_text("utf-8"))[
    "mapping"
]


def mapping_of(values: dict) -> ColumnMapping:
    values = dict(values)
    return ColumnMapping.from_config(values.pop("name"), values)


def drop_of(case: str) -> Path:
    expected = json.loads((FIXTURES / f"{case}.records.json").read_text("utf-8"))
    return FIXTURES / expected.get("file", f"{case}.csv")


def read(path: Path, mapping_values: dict):
    return read_drop_file(
        path, mapping_of(mapping_values), target_id=TARGET_ID, crawled_at=CRAWLED_AT
    )


def test_every_required_case_is_there():
    assert {"malformed", "truncated"} <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_golden_drop(case):
    expected = json.loads((FIXTURES / f"{case}.records.json").read_text("utf-8"))
    if "error" in expected:
        with pytest.raises(DropFileError) as raised:
            read(drop_of(case), expected["mapping"])
        assert expected["error"] in str(raised.value)
        return
    result = read(drop_of(case), expected["mapping"])
    wanted = [{**COMMON, **record} for record in expected["records"]]
    assert all(list(record) == list(RECORD_FIELDS) for record in result.records)
    assert result.records == wanted
    rejects = [
        {**reject, "body": json.loads(reject["body"]) if reject["body"] else ""}
        for reject in result.rejects
    ]
    assert rejects == [
        {**reject, "status": None, "source": "files", "target_id": TARGET_ID}
        for reject in expected["rejects"]
    ]


# --- encodings, delimiters, workbooks ---------------------------------------------------------

SAME_ROWS = [
    ["工单编号", "创建时间", "投诉内容", "客户评分"],
    ["A1", "2026/11/20 08:30", "书的质量很差,味道也很大.看一会就眼睛疼", "1"],
    ["A2", "2026/11/20 09:00", "收到的书有断页现象，从12页就跳45页了", "2"],
]
SAME_MAPPING = {
    "name": "same",
    "review_id": "工单编号",
    "published_at": "创建时间",
    "text": "投诉内容",
    "rating": "客户评分",
    "timezone": "Asia/Shanghai",
}


def _csv_text(delimiter: str) -> str:
    lines = []
    for row in SAME_ROWS:
        cells = [f'"{cell}"' if delimiter in cell or "," in cell else cell for cell in row]
        lines.append(delimiter.join(cells))
    return "\r\n".join(lines) + "\r\n"


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [
        ("utf-8", ","),
        ("utf-8-sig", ","),
        ("gbk", ","),
        ("gb18030", ";"),
        ("utf-8", ";"),
        ("utf-8", "\t"),
        ("utf-16", "\t"),  # Excel's "Unicode text": UTF-16 with BOM, tab-separated
    ],
)
def test_the_same_rows_read_alike_in_every_encoding_and_delimiter(tmp_path, encoding, delimiter):
    path = tmp_path / "export.csv"
    path.write_bytes(_csv_text(delimiter).encode(encoding))
    result = read(path, SAME_MAPPING)
    assert result.rejects == []
    assert [(r["review_id"], r["published_at"], r["rating"]) for r in result.records] == [
        ("same:A1", "2026-11-20T00:30:00Z", 1),
        ("same:A2", "2026-11-20T01:00:00Z", 2),
    ]
    assert [r["text"] for r in result.records] == [row[2] for row in SAME_ROWS[1:]]
    assert result.records[0]["raw"] == dict(zip(SAME_ROWS[0], SAME_ROWS[1], strict=True))


def test_the_header_decides_the_delimiter():
    assert sniff_delimiter("a;b;c\n1,5;2;3\n") == ";"
    assert sniff_delimiter("\n\na\tb, c\tc\n") == "\t"
    assert sniff_delimiter("single column\n") == ","


def _workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return path


SURVEY_MAPPING = {
    "name": "surveys",
    "review_id": "Response ID",
    "published_at": "Submitted At",
    "author": "Respondent",
    "channel": "Channel",
    "rating": "Overall satisfaction (1-10)",
    "text": "Comments",
    "rating_scale": "10",
    "timezone": "America/New_York",
}
SURVEY_HEADER = [
    "Response ID",
    "Submitted At",
    "Respondent",
    "Channel",
    "Overall satisfaction (1-10)",
    "Comments",
]


def test_a_workbook_gives_typed_cells_as_records(tmp_path):
    path = _workbook(
        tmp_path / "survey.xlsx",
        {
            "Summary": [["not the answers"]],
            "Responses": [
                [],
                SURVEY_HEADER + [None],  # a styled empty column after the last header
                [
                    1001.0,
                    datetime(2026, 11, 19, 9, 30),
                    "Anna K.",
                    "Website",
                    10,
                    "audio is excellent.",
                ],
                [None, None, None, None, None, None],
                [1002, date(2026, 11, 18), None, "In-app", 1.0, "very bad quality."],
                [1003, "2026-11-17 20:00", "Ben", "Email", "ten", "this is extemely lame."],
                [1004, datetime(2026, 11, 16, 12), "Chloe", "Email", 6, "fine", "extra cell"],
            ],
        },
    )
    result = read_drop_file(
        path,
        mapping_of({**SURVEY_MAPPING, "sheet": "Responses"}),
        target_id=TARGET_ID,
        crawled_at=CRAWLED_AT,
    )
    first, second = result.records
    assert first["review_id"] == "surveys:1001"  # a whole float from the sheet is an id
    assert first["published_at"] == "2026-11-19T14:30:00Z"  # New York, EST
    assert (first["date_precision"], first["rating"], first["author"]) == ("exact", 5, "Anna K.")
    assert first["extra"] == {
        "record_type": "survey",
        "file": "survey.xlsx",
        "line": 3,
        "sheet": "Responses",
        "channel": "Website",
    }
    assert first["raw"]["Submitted At"] == "2026-11-19T09:30:00"
    assert first["raw"]["Overall satisfaction (1-10)"] == 10
    assert second["review_id"] == "surveys:1002"
    assert (second["published_at"], second["date_precision"]) == ("2026-11-18T00:00:00Z", "day")
    assert (second["rating"], second["author"], second["extra"]["line"]) == (1, None, 5)
    assert [(reject["url"], reject["error"]) for reject in result.rejects] == [
        (
            "file://survey.xlsx#line=6",
            "line 6: Overall satisfaction (1-10) (rating): 'ten' is not a number",
        ),
        ("file://survey.xlsx#line=7", "line 7: 7 cells where the header has 6"),
    ]


def test_a_workbook_without_the_named_sheet_is_unusable(tmp_path):
    path = _workbook(tmp_path / "survey.xlsx", {"Sheet1": [SURVEY_HEADER]})
    with pytest.raises(DropFileError, match="no sheet 'Responses' \\(sheets: Sheet1\\)"):
        read(path, {**SURVEY_MAPPING, "sheet": "Responses"})


# --- values and mappings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "scale", "stars"),
    [
        ("1", "10", 1),
        ("10", "10", 5),
        ("5", "10", 3),  # 1 + 4 * 4/9 = 2.78
        ("3", "10", 2),  # 1 + 2 * 4/9 = 1.89
        ("7", "10", 4),  # 1 + 6 * 4/9 = 3.67
        ("0", "0-10", 1),
        ("5", "0-10", 3),
        ("8,5", "0-10", 4),  # decimal comma: 1 + 8.5 * 0.4 = 4.4
        ("3", "5", 3),
        (4.5, "5", 5),  # half up
        ("", "10", None),
        ("N/A", "10", None),
    ],
)
def test_scores_are_mapped_onto_five_stars(score, scale, stars):
    mapping = mapping_of({"name": "m", "text": "t", "rating_scale": scale})
    assert scaled_rating(score, mapping.rating_scale) == stars


@pytest.mark.parametrize(("score", "scale"), [("11", "10"), ("0", "10"), ("-1", "0-10")])
def test_a_score_outside_its_scale_is_bad(score, scale):
    mapping = mapping_of({"name": "m", "text": "t", "rating_scale": scale})
    with pytest.raises(BadValue, match="outside the scale"):
        scaled_rating(score, mapping.rating_scale)


def test_dates_keep_their_day_and_their_zone():
    shanghai = ZoneInfo("Asia/Shanghai")
    assert parse_moment("2026-11-20", timezone=shanghai) == ("2026-11-20T00:00:00Z", "day")
    assert parse_moment("2026/11/20 07:59", timezone=shanghai) == (
        "2026-11-19T23:59:00Z",
        "exact",
    )
    assert parse_moment("2026年11月20日 08:00", timezone=shanghai) == (
        "2026-11-20T00:00:00Z",
        "exact",
    )
    assert parse_moment("2026-11-20T08:00:00Z", timezone=shanghai) == (
        "2026-11-20T08:00:00Z",
        "exact",
    )
    assert parse_moment("20.11.2026", timezone=UTC, date_format="%d.%m.%Y") == (
        "2026-11-20T00:00:00Z",
        "day",
    )
    assert parse_moment(" - ", timezone=UTC) is None
    for bad in ("11/20/2026", "yesterday", 46000):  # ambiguous, words, an Excel serial
        with pytest.raises(BadValue):
            parse_moment(bad, timezone=UTC)


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"rating": "Score"}, "maps neither text nor title"),
        ({"text": "T", "source": "Where"}, "source cannot come from a column"),
        ({"text": "T", "timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"text": "T", "rating_scale": "ten"}, "rating_scale 'ten'"),
        ({"text": "T", "rating_scale": "5-1"}, "top of the scale must be above"),
        ({"text": "T", "record_type": "tweet"}, "record_type 'tweet' is not one of"),
        ({"text": " "}, "text has no column header"),
    ],
)
def test_a_mapping_that_cannot_work_is_refused(values, problem):
    with pytest.raises(DropError, match=problem):
        ColumnMapping.from_config("broken", values)


# --- the landing folder, processed once ------------------------------------------------------


def _config(tmp_path: Path, folder: str = "drops/complaints") -> Path:
    mapping = {key: value for key, value in COMPLAINTS_MAPPING.items() if key != "name"}
    settings = {
        "brands": [
            {
                "name": "Acme Shop",
                "sources": [
                    {
                        "source": "files",
                        "targets": [{"folder": folder, "mapping": "complaints"}],
                        "mappings": {"complaints": mapping},
                    }
                ],
            }
        ],
        "paths": {"data_dir": "data"},
    }
    path = tmp_path / "repwatch.yaml"
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    return path


def _landing(tmp_path: Path, run: str, day: str = "2026-11-21") -> Path:
    return tmp_path / "data" / "raw" / "files" / f"crawl_date={day}" / f"{run}.target.jsonl"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def _stats(out: Path) -> dict:
    return json.loads(stats_path(out).read_text("utf-8"))


PARAMS = {"folder": "drops/complaints", "mapping": "complaints"}


def test_a_drop_is_read_once_and_again_when_it_changes(tmp_path):
    drops = tmp_path / "drops" / "complaints"
    drops.mkdir(parents=True)
    shutil.copy(FIXTURES / "complaints_gbk.csv", drops / "export_1.csv")
    (drops / "~$export_1.csv").write_bytes(b"excel lock file")
    (drops / "notes.txt").write_text("not a drop")
    config = load_config(_config(tmp_path))

    first = _landing(tmp_path, "run1")
    stats = crawl_drops(PARAMS, first, config=config)
    assert (stats.items, stats.rejects, stats.requests, stats.responses) == (3, 4, 1, 1)
    assert (stats.errors, stats.stopped_because) == (0, "last page")
    assert [r["review_id"] for r in _lines(first)] == [
        "complaints:TS202611190001",
        "complaints:TS202611190002",
        "complaints:TS202611200003",
    ]
    assert [r["url"] for r in _lines(rejects_path(first))] == [
        f"file://export_1.csv#line={line}" for line in (6, 7, 8, 10)
    ]
    registry = tmp_path / "data" / "raw" / "files" / "_processed.json"
    assert registry_path_for(first) == registry
    assert set(json.loads(registry.read_text("utf-8"))["targets"]) == {stats.target_id}

    second = _landing(tmp_path, "run2", day="2026-11-22")
    stats = crawl_drops(PARAMS, second, config=config)
    assert (stats.items, stats.rejects, stats.requests, stats.responses) == (0, 0, 1, 0)
    assert _stats(second)["files"] == {"read": [], "skipped": ["export_1.csv"], "failed": []}
    assert second.read_text("utf-8") == ""

    # The same export under another name is the same content: still skipped.
    shutil.copy(drops / "export_1.csv", drops / "export_1 (copy).csv")
    # A new export, and the old one corrected in place: both are read.
    (drops / "export_2.csv").write_bytes((FIXTURES / "complaints_gbk.csv").read_bytes()[:-2])
    fixed = (drops / "export_1.csv").read_bytes().replace("很差".encode("gbk"), b"1")
    (drops / "export_1.csv").write_bytes(fixed)
    third = _landing(tmp_path, "run3", day="2026-11-23")
    stats = crawl_drops(PARAMS, third, config=config)
    assert _stats(third)["files"] == {
        "read": ["export_1.csv", "export_2.csv"],
        "skipped": ["export_1 (copy).csv"],
        "failed": [],
    }
    records = _lines(third)
    assert [r["review_id"] for r in records if r["extra"]["file"] == "export_1.csv"] == [
        "complaints:TS202611190001",
        "complaints:TS202611190002",
        "complaints:TS202611200003",
        "complaints:TS202611200005",  # the corrected row now passes
    ]
    assert stats.items == 4 + 3 and stats.rejects == 3 + 4


def test_an_unreadable_drop_is_a_reject_and_is_tried_again(tmp_path):
    drops = tmp_path / "drops" / "complaints"
    drops.mkdir(parents=True)
    shutil.copy(FIXTURES / "malformed.xlsx", drops / "export.xlsx")
    config = load_config(_config(tmp_path))
    for run in ("run1", "run2"):
        out = _landing(tmp_path, run)
        stats = crawl_drops(PARAMS, out, config=config)
        assert (stats.items, stats.errors, stats.stopped_because) == (0, 1, "error")
        (reject,) = _lines(rejects_path(out))
        assert reject["url"] == "file://export.xlsx"
        assert reject["error"].startswith("export.xlsx: not a readable XLSX workbook")
        assert _stats(out)["files"]["failed"] == ["export.xlsx"]


def test_a_missing_folder_gives_no_records_and_says_why(tmp_path):
    config = load_config(_config(tmp_path, folder="drops/nowhere"))
    out = _landing(tmp_path, "run1")
    stats = crawl_drops({"folder": "drops/nowhere", "mapping": "complaints"}, out, config=config)
    assert (stats.items, stats.requests, stats.errors) == (0, 0, 1)
    assert stats.stopped_because == "error"
    assert out.read_text("utf-8") == ""
    (reject,) = _lines(rejects_path(out))
    assert reject["url"] == "file://nowhere"
    assert reject["error"].startswith("landing folder not found: ")
    assert reject["error"].endswith(str(Path("drops") / "nowhere"))


def test_an_unknown_mapping_is_a_clear_error(tmp_path):
    config = load_config(_config(tmp_path))
    with pytest.raises(DropError, match="no files mapping named 'surveys'"):
        crawl_drops({"folder": "drops", "mapping": "surveys"}, tmp_path / "x.jsonl", config=config)


def test_the_quality_gate_keeps_the_records_and_quarantines_the_bad_rows(tmp_path):
    from repwatch.quality import check_raw_batch

    drops = tmp_path / "drops" / "complaints"
    drops.mkdir(parents=True)
    shutil.copy(FIXTURES / "complaints_gbk.csv", drops / "export.csv")
    out = _landing(tmp_path, "run1")
    crawl_drops(PARAMS, out, config=load_config(_config(tmp_path)))

    checked = check_raw_batch([out], now=datetime(2026, 11, 21, 6, tzinfo=UTC))
    assert len(checked.valid) == 3
    assert sorted(checked.valid["review_id"]) == [r["review_id"] for r in _lines(out)]
    quarantined = checked.quarantined.sort_values("line")
    assert list(quarantined["source"]) == ["files"] * 4
    assert list(quarantined["target_id"]) == ["folder=drops/complaints&mapping=complaints"] * 4
    reasons = list(quarantined["reason"])
    assert "line 6: 创建时间 (published_at)" in reasons[0]
    assert "line 10: 11 cells where the header has 9" in reasons[3]


# --- the command ------------------------------------------------------------------------------


def test_repwatch_crawl_files_in_its_own_process(tmp_path, monkeypatch):
    drops = tmp_path / "drops" / "complaints"
    drops.mkdir(parents=True)
    shutil.copy(FIXTURES / "complaints_gbk.csv", drops / "export.csv")
    monkeypatch.setenv("REPWATCH_CONFIG", str(_config(tmp_path)))
    out = _landing(tmp_path, "run1")

    stats = crawl_in_subprocess("files", PARAMS, out, CrawlOptions(since=date(2026, 11, 20)))
    assert isinstance(stats, CrawlStats)
    assert (stats.source, stats.items, stats.rejects, stats.since) == ("files", 3, 4, "2026-11-20")
    # A drop is read whole: rows before `since` would otherwise never be read.
    assert min(r["published_at"] for r in _lines(out)) == "2026-11-19T01:05:00Z"
    assert len(_lines(rejects_path(out))) == 4

    again = crawl_in_subprocess("files", PARAMS, _landing(tmp_path, "run2"))
    assert (again.items, again.requests, again.responses) == (0, 1, 0)


def test_repwatch_config_option_reaches_the_files_source(tmp_path):
    drops = tmp_path / "drops" / "complaints"
    drops.mkdir(parents=True)
    shutil.copy(FIXTURES / "survey_tab.csv", drops / "export.csv")
    config_path = _config(tmp_path)
    out = tmp_path / "by-hand" / "complaints.jsonl"
    command = [sys.executable, "-m", "repwatch", "--config", str(config_path), "crawl", "files"]
    command += ["--target", "folder=drops/complaints", "--target", "mapping=complaints"]
    environment = {key: value for key, value in os.environ.items() if key != "REPWATCH_CONFIG"}
    environment["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [*command, "--out", str(out)],
        cwd=tmp_path / "drops",
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    # The complaints mapping does not fit a survey export: the file is refused, not misread.
    assert done.returncode == 0, done.stderr
    assert "files: 0 items, 1 rejected pages" in done.stdout
    (reject,) = _lines(rejects_path(out))
    assert "'工单编号' (review_id)" in reject["error"]
    # A crawl by hand keeps its own registry beside its output.
    assert registry_path_for(out) == out.parent / "_processed.json"


# --- the demo drops ---------------------------------------------------------------------------


def test_the_demo_drops_are_what_the_generator_writes(tmp_path):
    from repwatch.demo_site.build_drops import DEFAULT_LAST_DAY, build

    built = build(tmp_path, DEFAULT_LAST_DAY)
    assert min(built.values()) >= 200 and max(built.values()) <= 400
    for path in built:
        committed = REPO / "demo" / "drops" / Path(path).relative_to(tmp_path)
        assert Path(path).read_bytes() == committed.read_bytes(), committed


def test_the_demo_config_reads_the_demo_drops(tmp_path):
    config = load_config(REPO / "demo" / "repwatch.yaml")
    targets = [target for _, source, target in config.targets() if source.source == "files"]
    assert {target.params["mapping"] for target in targets} == {"complaints", "surveys"}
    results = {}
    for target in targets:
        out = tmp_path / target.params["mapping"] / "records.jsonl"
        results[target.params["mapping"]] = crawl_drops(target.params, out, config=config)
    complaints, surveys = results["complaints"], results["surveys"]
    assert complaints.rejects == 3 and complaints.items >= 200
    assert surveys.rejects == 0 and surveys.items >= 200
    survey_records = _lines(tmp_path / "surveys" / "records.jsonl")
    assert {record["rating"] for record in survey_records} == {1, 2, 3, 4, 5}
    assert {record["language"] for record in survey_records} == {"en"}
    complaint_records = _lines(tmp_path / "complaints" / "records.jsonl")
    # The real negative texts hold the odd English line; Chinese is all but a few.
    chinese = [record for record in complaint_records if record["language"] == "zh"]
    assert len(chinese) >= 0.99 * len(complaint_records)
    assert all(record["extra"]["record_type"] == "complaint" for record in complaint_records)
