"""The `files` source: CSV and XLSX drops of survey answers and customer-service complaints.

Drops land in a folder (an SFTP share, a synced drive, ...) and are read by a column mapping
from the config, with no Scrapy involved: `repwatch crawl files --target folder=... --target
mapping=...` dispatches here and writes the same three files as a spider crawl (records,
`.rejects.jsonl`, `.stats.json`).

A mapping (`sources[].mappings.<name>` in the config) maps record fields and extra keys to
column headers, plus a few options; every value is a string:

    review_id, text, title, author, rating, published_at   -> record fields
    resolved_at                                            -> extra, a date (UTC ISO)
    followup_satisfaction                                  -> extra, a number as given
    any other key (channel, category, ...)                 -> extra, the cell as clean text
    rating_scale   "5" (default) or "10" for 1–N scores, "0-10" for a scale from 0;
                   scores are mapped linearly onto 1–5 and rounded half up (10 → 5, 1 → 1)
    date_format    a strptime format ("%Y/%m/%d %H:%M"); without it ISO-8601 and a few
                   unambiguous year-first forms are read
    timezone       of dates without an offset (default UTC), e.g. Asia/Shanghai
    record_type    "survey" (default) or "complaint", stored in extra
    sheet          XLSX only: the sheet to read (default: the first)

Rows: the first non-empty row is the header; every later non-empty row is a record or a
reject. `review_id` is `<mapping name>:<the id column>` or, with no id, `<mapping name>:`
plus a hash of `<file name>:<line>`, so the same row of a re-dropped file keeps its id. A
date-only value keeps its calendar day (midnight UTC, precision "day").

Bad rows are kept as rejects with the file and line (`file://<name>#line=<n>`), read by the
quality gate into quarantine: a date or number that cannot be read, a score outside its scale,
a row without text, a row of the wrong width. Rows the reader cannot judge (a date in the
future, an id seen twice in the batch) are emitted and left to the quality gate.

Processed once: a file's sha256 is recorded per target in a registry beside the landing (see
`registry_path_for`) once its rows are written, so the next run skips it; a changed file has a
new checksum and is read again. A file that cannot be read at all (undecodable, not a
workbook, a mapped column missing from its header) is a reject and is NOT recorded, so it is
retried once the file or the mapping is fixed. `since`, `base_url` and `max_pages` do not
apply: a drop is read whole, since a skipped row would never be read again.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import fcntl
import hashlib
import io
import json
import logging
import math
import re
import time as time_module
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from repwatch.atomic import write_atomically
from repwatch.config import Config, ConfigError, Target, default_config_path, load_config
from repwatch.records import RECORD_FIELDS, clean_text, make_record, now_utc_iso
from spiders.encoding import PageParseError, decode_body
from spiders.values import FIRST_YEAR, LAST_YEAR, utc_iso_or_none

if TYPE_CHECKING:
    from repwatch.crawl import CrawlOptions, CrawlStats

log = logging.getLogger(__name__)

SOURCE = "files"
DROP_SUFFIXES = (".csv", ".xlsx")
REGISTRY_NAME = "_processed.json"
RECORD_TYPES = ("survey", "complaint")
DELIMITERS = (",", ";", "\t")

MAPPED_FIELDS = ("review_id", "text", "title", "author", "rating", "published_at")
DATE_EXTRAS = ("resolved_at",)
NUMBER_EXTRAS = ("followup_satisfaction",)
OPTIONS = ("rating_scale", "date_format", "timezone", "record_type", "sheet")
# Fields a drop cannot set: they say where a record came from, or have no column equivalent.
UNMAPPABLE = tuple(name for name in RECORD_FIELDS if name not in MAPPED_FIELDS)

# Placeholders exports write into empty number and date cells.
_BLANKS = {"", "-", "—", "--", "n/a", "na", "null", "none", "#n/a"}
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
# Excel number formats: hours, seconds or AM/PM show a time ("m" alone may be months).
_EXCEL_TIME_FORMAT = re.compile(r"h|s|am/pm|a/p")
_EXCEL_LITERALS = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]')
_TIME_DIRECTIVES = re.compile(r"%[HIMSpXcTRf]")
# Unambiguous year-first forms tried when the mapping gives no date_format.
_FALLBACK_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y-%m-%d %H:%M",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日",
)


class DropError(ValueError):
    """A target that cannot be read at all: no config, no such mapping, a bad mapping."""


class DropFileError(ValueError):
    """A file that cannot be read at all; it becomes one reject and is retried next run."""


class BadValue(ValueError):
    """One cell that cannot be read; its row becomes a reject."""


# --- the mapping ----------------------------------------------------------------------------


def _scale(text: str) -> tuple[float, float]:
    low, sep, high = text.partition("-")
    try:
        bounds = (float(low), float(high)) if sep else (1.0, float(low))
    except ValueError:
        raise DropError(
            f"rating_scale {text!r}: expected a number like 10 or a range like 0-10"
        ) from None
    if bounds[1] <= bounds[0]:
        raise DropError(f"rating_scale {text!r}: the top of the scale must be above its bottom")
    return bounds


@dataclass(frozen=True)
class ColumnMapping:
    """Where each record field and extra value comes from in a drop, and how to read it."""

    name: str
    columns: dict[str, str]  # record field or extra key -> column header
    rating_scale: tuple[float, float] = (1.0, 5.0)
    date_format: str | None = None
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    record_type: str = "survey"
    sheet: str | None = None

    @classmethod
    def from_config(cls, name: str, values: dict[str, str]) -> ColumnMapping:
        def problem(message: str) -> DropError:
            return DropError(f"mapping {name!r}: {message}")

        columns = {key: value for key, value in values.items() if key not in OPTIONS}
        unmappable = sorted(set(columns) & set(UNMAPPABLE))
        if unmappable:
            mappable = ", ".join(MAPPED_FIELDS)
            raise problem(f"{unmappable[0]} cannot come from a column (fields: {mappable})")
        if "text" not in columns and "title" not in columns:
            raise problem("maps neither text nor title, so its records would say nothing")
        blank = sorted(key for key, header in columns.items() if not str(header).strip())
        if blank:
            raise problem(f"{blank[0]} has no column header")
        record_type = values.get("record_type", "survey")
        if record_type not in RECORD_TYPES:
            raise problem(f"record_type {record_type!r} is not one of {', '.join(RECORD_TYPES)}")
        try:
            timezone = ZoneInfo(values.get("timezone") or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            raise problem(f"unknown time zone {values.get('timezone')!r}") from None
        try:
            scale = _scale(values.get("rating_scale") or "5")
        except DropError as exc:
            raise problem(str(exc)) from None
        return cls(
            name=name,
            columns={key: str(header).strip() for key, header in columns.items()},
            rating_scale=scale,
            date_format=values.get("date_format") or None,
            timezone=timezone,
            record_type=record_type,
            sheet=values.get("sheet") or None,
        )


# --- cells ----------------------------------------------------------------------------------


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _BLANKS)


def cell_text(value: Any) -> str | None:
    """A cell as clean text; whole floats from a workbook lose their `.0` (ids, codes)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, datetime | date | time):
        value = value.isoformat()
    return clean_text(value)


def parse_number(value: Any) -> float | None:
    """A number from a cell: full-width digits and a decimal comma read; None when blank."""
    if _is_blank(value):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadValue(f"{value!r} is not a number")
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        if _DECIMAL_COMMA.match(text):
            text = text.replace(",", ".")
        try:
            value = float(text)
        except ValueError:
            raise BadValue(f"{value!r} is not a number") from None
    if not math.isfinite(value):
        raise BadValue(f"{value!r} is not a number")
    return value


def scaled_rating(value: Any, scale: tuple[float, float]) -> int | None:
    """A score on its scale mapped linearly onto 1–5, rounded half up."""
    score = parse_number(value)
    if score is None:
        return None
    low, high = scale
    if not low <= score <= high:
        raise BadValue(f"score {value!r} is outside the scale {low:g}–{high:g}")
    return math.floor(1 + (score - low) * 4 / (high - low) + 0.5)


def _as_moment(parsed: datetime, timezone: ZoneInfo, has_time: bool) -> tuple[str, str]:
    if not has_time:
        # A calendar day stays that day: shifting local midnight to UTC would move it.
        return f"{parsed.date().isoformat()}T00:00:00Z", "day"
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone)
    moment = utc_iso_or_none(parsed)
    if moment is None:  # year 1 east of UTC has no UTC time: an OverflowError, not a reject
        raise BadValue(f"{parsed.isoformat()} is out of range (years {FIRST_YEAR}–{LAST_YEAR})")
    return moment, "exact"


def parse_moment(
    value: Any, *, timezone: ZoneInfo, date_format: str | None = None
) -> tuple[str, str] | None:
    """(UTC ISO, "exact" or "day") for a date cell; None when blank; BadValue otherwise."""
    if _is_blank(value):
        return None
    if isinstance(value, datetime):  # workbook cells come typed
        return _as_moment(value, timezone, has_time=True)
    if isinstance(value, date):
        return _as_moment(datetime.combine(value, time()), timezone, has_time=False)
    if not isinstance(value, str):
        raise BadValue(f"{value!r} is not a date")
    text = unicodedata.normalize("NFKC", value).strip()
    if date_format:
        try:
            parsed = datetime.strptime(text, date_format)
        except ValueError:
            raise BadValue(f"{value!r} is not a date like {date_format!r}") from None
        return _as_moment(parsed, timezone, bool(_TIME_DIRECTIVES.search(date_format)))
    # Only the parsing may fail quietly: a date read but out of range is its own reject.
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        pass
    else:
        return _as_moment(parsed, timezone, has_time=len(text) > 10)
    for fallback in _FALLBACK_FORMATS:
        try:
            parsed = datetime.strptime(text, fallback)
        except ValueError:
            continue
        return _as_moment(parsed, timezone, bool(_TIME_DIRECTIVES.search(fallback)))
    raise BadValue(f"{value!r} is not a date (set date_format in the mapping)")


def _json_safe(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date | time) else value


# --- reading files --------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    line: int  # CSV: the line the row starts on; XLSX: the sheet's row number
    cells: list[Any]


def decode_drop(body: bytes) -> str:
    """A CSV's text: UTF-16 with BOM (Excel's "Unicode text"), else UTF-8 with or without BOM,
    else GB18030 (a superset of GBK, which Chinese Excel exports use)."""
    for bom, encoding in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if body.startswith(bom):
            try:
                return body[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise DropFileError(f"cannot decode the file as {encoding}: {exc}") from None
    try:
        text, _ = decode_body(body)
    except PageParseError:
        raise DropFileError("cannot decode the file (tried UTF-8 and GB18030/GBK)") from None
    return text


def sniff_delimiter(text: str) -> str:
    """The delimiter the header line uses most: comma, semicolon or tab (comma on a tie)."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {delimiter: header.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


class _BrokenRow(Exception):
    """A CSV that cannot be read past a line (an unclosed quote: a cut-off file)."""

    def __init__(self, line: int, reason: str):
        super().__init__(reason)
        self.line = line
        self.reason = reason


def csv_rows(body: bytes) -> Iterator[Row]:
    """Rows of a CSV with their starting line; a broken quote ends the file with a reject."""
    text = decode_drop(body)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text), strict=True)
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _BrokenRow(line, f"malformed CSV ({exc}); the rest is unread") from None
        yield Row(line, cells)
        line = reader.line_num + 1


def xlsx_rows(path: Path, sheet: str | None) -> Iterator[Row]:
    import zipfile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise DropFileError(f"not a readable XLSX workbook: {exc}") from None
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise DropFileError(f"no sheet {sheet!r} (sheets: {', '.join(workbook.sheetnames)})")
        worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        for number, cells in enumerate(worksheet.iter_rows(), start=1):
            yield Row(number, [_cell_value(cell) for cell in cells])
    finally:
        workbook.close()


def _cell_value(cell: Any) -> Any:
    """A workbook cell's value; a date cell whose format shows no time is a date, not the
    midnight datetime Excel stores it as."""
    value = getattr(cell, "value", None)
    if isinstance(value, datetime) and not _EXCEL_TIME_FORMAT.search(
        _EXCEL_LITERALS.sub("", str(getattr(cell, "number_format", "")).lower())
    ):
        return value.date()
    return value


def _is_empty_cell(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _is_empty_row(cells: list[Any]) -> bool:
    return all(_is_empty_cell(cell) for cell in cells)


def _header(cells: list[Any]) -> list[str]:
    cells = list(cells)
    while cells and _is_empty_cell(cells[-1]):
        cells.pop()  # workbooks pad every row to the sheet's widest one
    names: list[str] = []
    for position, cell in enumerate(cells, start=1):
        name = cell_text(cell) or f"column {position}"
        # A repeated header would hide a column in the row's dict; number the repeats.
        names.append(name if name not in names else f"{name} ({names.count(name) + 1})")
    return names


def _find_columns(mapping: ColumnMapping, header: list[str]) -> dict[str, str]:
    """Mapped key -> header as spelled in the file (exact, else ignoring case)."""
    folded = {name.casefold(): name for name in reversed(header)}
    found, missing = {}, []
    for key, wanted in mapping.columns.items():
        actual = wanted if wanted in header else folded.get(wanted.casefold())
        if actual is None:
            missing.append(f"{wanted!r} ({key})")
        found[key] = actual
    if missing:
        raise DropFileError(
            f"mapping {mapping.name!r}: column {', '.join(missing)} not in the header "
            f"({', '.join(header)})"
        )
    return found


@dataclass
class FileResult:
    records: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class _Context:
    name: str  # the file's name, as cited in ids, urls and rejects
    mapping: ColumnMapping
    columns: dict[str, str]
    target_id: str
    crawled_at: str
    sheet: str | None


def row_url(file_name: str, line: int | None = None) -> str:
    return f"file://{file_name}" + (f"#line={line}" if line is not None else "")


def make_reject(url: str, error: str, raw: dict | str, *, target_id: str) -> dict:
    """A quality-gate sidecar entry ({url, status, error, body}) naming its source and target."""
    body = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
    return {
        "url": url,
        "status": None,
        "error": error,
        "body": body,
        "source": SOURCE,
        "target_id": target_id,
    }


def _fallback_id(file_name: str, line: int) -> str:
    return hashlib.sha256(f"{file_name}:{line}".encode()).hexdigest()[:16]


def row_record(raw: dict, line: int, context: _Context) -> dict:
    """One row as a normalised record; BadValue names every column that cannot be read."""
    mapping = context.mapping
    problems: list[str] = []

    def cell(key: str) -> Any:
        header = context.columns.get(key)
        return raw.get(header) if header is not None else None

    def read(key: str, reader, *args, **kwargs) -> Any:
        try:
            return reader(cell(key), *args, **kwargs)
        except BadValue as exc:
            problems.append(f"{context.columns[key]} ({key}): {exc}")
            return None

    text, title = cell_text(cell("text")), cell_text(cell("title"))
    if text is None and title is None:
        header = context.columns.get("text") or context.columns["title"]
        problems.append(f"{header} ({'text' if 'text' in context.columns else 'title'}): empty")
    rating = read("rating", scaled_rating, mapping.rating_scale)
    moment_options = {"timezone": mapping.timezone, "date_format": mapping.date_format}
    published = read("published_at", parse_moment, **moment_options)
    extra: dict[str, Any] = {"record_type": mapping.record_type, "file": context.name}
    extra.update({"line": line, **({"sheet": context.sheet} if context.sheet else {})})
    for key in context.columns:
        if key in MAPPED_FIELDS:
            continue
        if key in DATE_EXTRAS:
            moment = read(key, parse_moment, **moment_options)
            extra[key] = moment[0] if moment else None
        elif key in NUMBER_EXTRAS:
            number = read(key, parse_number)
            extra[key] = int(number) if number is not None and number.is_integer() else number
        else:
            extra[key] = cell_text(cell(key))
    if problems:
        raise BadValue("; ".join(problems))
    own_id = cell_text(cell("review_id")) or _fallback_id(context.name, line)
    return make_record(
        source=SOURCE,
        target_id=context.target_id,
        review_id=f"{mapping.name}:{own_id}",
        author=cell_text(cell("author")),
        rating=rating,
        title=title,
        text=text,
        published_at=published[0] if published else None,
        date_precision=published[1] if published else "unknown",
        url=row_url(context.name, line),
        extra=extra,
        crawled_at=context.crawled_at,
        raw=raw,
    )


def _file_rows(path: Path, body: bytes, mapping: ColumnMapping) -> Iterator[Row]:
    if path.suffix.lower() == ".xlsx":
        return xlsx_rows(path, mapping.sheet)
    return csv_rows(body)


def read_drop_file(
    path: Path,
    mapping: ColumnMapping,
    *,
    target_id: str,
    crawled_at: str,
    body: bytes | None = None,
) -> FileResult:
    """Every row of one drop as a record or a reject; DropFileError if the file is unusable."""
    path = Path(path)
    body = path.read_bytes() if body is None else body
    result = FileResult()
    rows = _file_rows(path, body, mapping)
    context: _Context | None = None
    width = 0
    try:
        for row in rows:
            if _is_empty_row(row.cells):
                continue
            if context is None:
                header = _header(row.cells)
                width = len(header)
                sheet = mapping.sheet if path.suffix.lower() == ".xlsx" else None
                columns = _find_columns(mapping, header)
                context = _Context(path.name, mapping, columns, target_id, crawled_at, sheet)
                continue
            cells = list(row.cells)
            while len(cells) > width and _is_empty_cell(cells[-1]):
                cells.pop()  # a trailing delimiter, or empty cells past the header
            is_csv = path.suffix.lower() != ".xlsx"
            if len(cells) > width or (is_csv and len(cells) < width):
                # Too few cells in a CSV is how a cut-off last line looks.
                reason = f"line {row.line}: {len(cells)} cells where the header has {width}"
                cells = [_json_safe(value) for value in cells]
                result.rejects.append(_row_reject(context, row.line, reason, cells))
                continue
            raw = {name: _json_safe(value) for name, value in zip(header, cells, strict=False)}
            raw.update({name: None for name in header[len(cells) :]})
            try:
                result.records.append(row_record(raw, row.line, context))
            except BadValue as exc:
                reason = f"line {row.line}: {exc}"
                result.rejects.append(_row_reject(context, row.line, reason, raw))
    except _BrokenRow as broken:
        result.rejects.append(
            make_reject(
                row_url(path.name, broken.line),
                f"line {broken.line}: {broken.reason}",
                "",
                target_id=target_id,
            )
        )
    if context is None:
        raise DropFileError("no header row: the file is empty")
    return result


def _row_reject(context: _Context, line: int, reason: str, raw: dict | list) -> dict:
    return make_reject(row_url(context.name, line), reason, raw, target_id=context.target_id)


# --- the processed-once registry ------------------------------------------------------------


def registry_path_for(out: Path) -> Path:
    """Where the checksums of processed drops live, derived from the records file `out`.

    In the raw landing (`<raw_dir>/files/crawl_date=<day>/<run>.<target>.jsonl`) it is
    `<raw_dir>/files/_processed.json`, beside the landed files it vouches for; for any other
    `out` (a crawl by hand) it is `_processed.json` in out's own folder, so a trial run never
    marks the production landing's drops as read.
    """
    folder = Path(out).parent
    if folder.name.startswith("crawl_date="):
        folder = folder.parent
    return folder / REGISTRY_NAME


class ProcessedRegistry:
    """sha256 of every drop read, per target: `{"targets": {target_id: {sha256: entry}}}`.

    Updates hold an exclusive lock and replace the file atomically, so concurrent crawls of
    different targets neither lose each other's entries nor leave a half-written file.
    """

    def __init__(self, path: Path):
        self.path = Path(path)

    def _read(self) -> dict:
        try:
            values = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"targets": {}}
        if not isinstance(values, dict) or not isinstance(values.get("targets"), dict):
            raise DropError(f"{self.path}: not a registry of processed drops")
        return values

    def processed(self, target_id: str) -> dict[str, dict]:
        return dict(self._read()["targets"].get(target_id, {}))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def mark(self, target_id: str, entries: dict[str, dict]) -> None:
        if not entries:
            return
        with self._locked():
            values = self._read()
            values["targets"].setdefault(target_id, {}).update(entries)
            _write_text_atomically(self.path, json.dumps(values, ensure_ascii=False, indent=2))


def _write_text_atomically(path: Path, text: str) -> None:
    write_atomically(path, text if text.endswith("\n") or not text else text + "\n")


# --- a folder -------------------------------------------------------------------------------


@dataclass
class DropsResult:
    """What one read of a landing folder gave; `processed` holds the registry entries to add
    once the records are safely written."""

    records: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    found: list[str] = field(default_factory=list)
    read: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    processed: dict[str, dict] = field(default_factory=dict)
    folder_missing: bool = False


def drop_files(folder: Path) -> list[Path]:
    """CSV and XLSX files directly in `folder`, by name; hidden files, Excel's `~$` lock files
    and anything else are not drops."""
    return sorted(
        path
        for path in Path(folder).iterdir()
        if path.is_file()
        and path.suffix.lower() in DROP_SUFFIXES
        and not path.name.startswith((".", "~$"))
    )


def read_drops(
    folder: Path,
    mapping: ColumnMapping,
    *,
    target_id: str,
    crawled_at: str,
    already_processed: dict[str, dict] | None = None,
) -> DropsResult:
    """Read every drop in `folder` whose checksum is not in `already_processed`."""
    result = DropsResult()
    folder = Path(folder)
    if not folder.is_dir():
        result.folder_missing = True
        error = f"landing folder not found: {folder}"
        result.rejects.append(make_reject(row_url(folder.name), error, "", target_id=target_id))
        return result
    seen = dict(already_processed or {})
    inside = folder.resolve()
    for path in drop_files(folder):
        result.found.append(path.name)
        if not path.resolve().is_relative_to(inside):
            # A drop folder is often a share others write to: a link planted there must not
            # read this machine's files (a .env, a key) into records, rejects or e-mails.
            result.failed.append(path.name)
            error = f"{path.name}: a link to a file outside the drop folder; not read"
            result.rejects.append(make_reject(row_url(path.name), error, "", target_id=target_id))
            continue
        body = path.read_bytes()
        checksum = hashlib.sha256(body).hexdigest()
        if checksum in seen:
            result.skipped.append(path.name)
            continue
        try:
            read = read_drop_file(
                path, mapping, target_id=target_id, crawled_at=crawled_at, body=body
            )
        except DropFileError as exc:
            result.failed.append(path.name)
            result.rejects.append(
                make_reject(row_url(path.name), f"{path.name}: {exc}", "", target_id=target_id)
            )
            continue
        result.read.append(path.name)
        result.records += read.records
        result.rejects += read.rejects
        entry = {
            "file": path.name,
            "processed_at": crawled_at,
            "records": len(read.records),
            "rejects": len(read.rejects),
        }
        seen[checksum] = result.processed[checksum] = entry
    return result


# --- `repwatch crawl files` -----------------------------------------------------------------


def resolve_target(config: Config, params: dict[str, str]) -> tuple[Path, ColumnMapping]:
    """The landing folder (relative paths from the config file's folder) and the mapping."""
    name = params.get("mapping", "")
    mappings = [
        source.mappings[name]
        for _brand, source, target in config.targets()
        if source.source == SOURCE and target.params == params and name in source.mappings
    ] or [
        source.mappings[name]
        for brand in config.brands
        for source in brand.sources
        if source.source == SOURCE and name in source.mappings
    ]
    if not mappings:
        raise DropError(f"{config.config_file}: no files mapping named {name!r}")
    folder = Path(params.get("folder", ""))
    if not folder.is_absolute() and config.config_file is not None:
        folder = config.config_file.parent / folder
    return folder, ColumnMapping.from_config(name, mappings[0])


def crawl_drops(
    params: dict[str, str],
    out: Path,
    options: CrawlOptions | None = None,
    *,
    config: Config | None = None,
    registry: Path | None = None,
) -> CrawlStats:
    """Read a target's new drops into `out` (+ `.rejects.jsonl`, `.stats.json`) as a crawl.

    Stats: requests = drops found, responses = drops read, items = records, rejects = bad
    rows and unreadable files, errors = unreadable files or a missing folder; the stats file
    also lists the files read, skipped (already processed) and failed.
    """
    from repwatch.crawl import CrawlOptions, CrawlStats, rejects_path, stats_path

    options = options or CrawlOptions()
    missing = [key for key in ("folder", "mapping") if not params.get(key)]
    if missing:
        raise DropError(f"files: missing target parameter(s): {', '.join(missing)}")
    if config is None:
        try:
            config = load_config(options.config_path or default_config_path())
        except ConfigError as exc:
            raise DropError(
                f"the files source reads its mapping from the config: {exc} "
                "(run `repwatch --config FILE crawl files ...` or set REPWATCH_CONFIG)"
            ) from None
    folder, mapping = resolve_target(config, params)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    target_id = Target(params=params).target_id
    registry_file = ProcessedRegistry(registry or registry_path_for(out))

    started_at, clock = now_utc_iso(), time_module.perf_counter()
    result = read_drops(
        folder,
        mapping,
        target_id=target_id,
        crawled_at=started_at,
        already_processed=registry_file.processed(target_id),
    )
    if result.folder_missing:
        log.warning("files %s: landing folder not found: %s", target_id, folder)
    records = (json.dumps(record, ensure_ascii=False) + "\n" for record in result.records)
    _write_text_atomically(out, "".join(records))
    rejects = "".join(json.dumps(reject, ensure_ascii=False) + "\n" for reject in result.rejects)
    _write_text_atomically(rejects_path(out), rejects)
    errors = len(result.failed) + int(result.folder_missing)
    stats = CrawlStats.of(
        SOURCE,
        params,
        options,
        started_at=started_at,
        finished_at=now_utc_iso(),
        requests=len(result.found),
        responses=len(result.read),
        items=len(result.records),
        rejects=len(result.rejects),
        errors=errors,
        elapsed_seconds=round(time_module.perf_counter() - clock, 3),
        finish_reason="finished",
        stopped_because="error" if errors else "last page",
    )
    files = {"read": result.read, "skipped": result.skipped, "failed": result.failed}
    stats_text = json.dumps({**dataclasses.asdict(stats), "files": files}, ensure_ascii=False)
    _write_text_atomically(stats_path(out), stats_text)
    # Only now that the records are on disk may the drops count as processed.
    registry_file.mark(target_id, result.processed)
    return stats
