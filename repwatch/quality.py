"""The quality gate on raw crawl batches: a Great Expectations suite defined in code.

`check_raw_batch` reads landed record files (and each one's `.rejects.jsonl` sidecar of pages
that failed to parse), validates the records and splits every input line into either a valid
row or a quarantined row with its reasons. Nothing is dropped: lines read = valid + quarantined.

Rules (each one expectation, its `meta` says the severity and the quarantine reason):
- error (the row is quarantined): source, target_id, review_id, kind, language and
  date_precision present (blank strings count as missing); text or title present (a review
  may have only a title; with neither it says nothing); kind, language and date_precision
  in their sets; rating 1–5 when present; likes ≥ 0; published_at not after `now` + 5 minutes
  and not before `earliest`; (source, review_id) unique in the batch, keeping the copy from
  the newest crawl (the first one read when crawls tie).
- warning (reported in the summary, rows kept): at least 90 % of rows have a known date.
Each source's rows are validated with that source's suite (`raw_<source>`: these rules plus the
source's own, see repwatch.suites.raw_source_rules), inside a `QualityRun` when one is given so
the results land in the run's Data Docs and quality_results.
A value of the wrong JSON type (text where a number belongs, …) or a published_at that is not
an ISO date is quarantined too; those checks run in pandas while building the typed frame.
"""

from __future__ import annotations

import gc
import json
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import numpy as np
import pandas as pd
from msgspec.structs import astuple

from repwatch.records import DATE_PRECISIONS, LANGUAGES, RECORD_FIELDS
from repwatch.suites import (
    ERROR,
    KINDS,
    LANDED_RATING,
    WARNING,
    Outcome,
    QualityRun,
    check_unexpected_count,
    raw_source_rules,
    rule,
    unexpected_rows,
)

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite, ExpectationSuiteValidationResult

log = logging.getLogger(__name__)

SUITE_NAME = "raw_reviews"
UNKNOWN_SOURCE = "unknown"
DEFAULT_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(minutes=5)
MIN_KNOWN_DATE_SHARE = 0.9
REJECTS_SUFFIX = ".rejects.jsonl"

REASON_INVALID_UTF8 = "invalid UTF-8"
REASON_UNPARSEABLE = "unparseable JSON line"
REASON_DUPLICATE = "duplicate review_id in batch"
REASON_PAGE_FAILED = "page failed to parse: {error}"
REASON_BAD_DATE = "published_at is not an ISO-8601 date"

QUARANTINE_COLUMNS = ("source", "target_id", "review_id", "reason", "payload", "file", "line")
INTEGER_FIELDS = ("rating", "likes")
JSON_FIELDS = ("raw", "extra")  # kept as JSON text
STRING_FIELDS = tuple(name for name in RECORD_FIELDS if name not in (*INTEGER_FIELDS, *JSON_FIELDS))
REQUIRED_FIELDS = ("source", "target_id", "review_id", "kind", "language", "date_precision")
_INT64_LIMIT = 2**63

# Compact, and non-ASCII kept as is; one instance, as building an encoder per row is costly.
_RAW_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_JSON_ENCODER = msgspec.json.Encoder()
# Reading's fast path: a record line whose every field has its documented type decodes straight
# into this struct. Any other line (a value of the wrong type, an unknown field, JSON that only
# json.loads accepts such as NaN) is read as a dict and its values are type-checked in pandas.
_INT64 = Annotated[int, msgspec.Meta(ge=-_INT64_LIMIT, le=_INT64_LIMIT - 1)]
_FIELD_TYPES: dict[str, Any] = {
    **{name: str | None for name in STRING_FIELDS},
    **{name: _INT64 | None for name in INTEGER_FIELDS},
    "extra": dict | None,
    # The item's payload as it was landed, byte for byte: no need to build and re-encode it.
    # (msgspec takes no union with Raw: a JSON null arrives as Raw(b"null").)
    "raw": msgspec.Raw,
}
_LANDED_DECODER = msgspec.json.Decoder(
    msgspec.defstruct(
        "LandedRecord",
        [(name, _FIELD_TYPES[name], None) for name in RECORD_FIELDS],
        forbid_unknown_fields=True,
    )
)
# Positions in the checked frame; GX quotes the first few failing rows by this column.
_ROW = "row"
# GX counts and quotes examples; which rows failed is read from each expectation's definition
# (repwatch.suites.unexpected_rows), as listing every failing row in GX's COMPLETE format is
# what made validation slow.
_RESULT_FORMAT = {
    "result_format": "SUMMARY",
    "unexpected_index_column_names": [_ROW],
    "return_unexpected_index_query": False,
}


@dataclass(frozen=True)
class RawCheckResult:
    valid: pd.DataFrame
    quarantined: pd.DataFrame
    summary: dict[str, Any]
    gx_results: dict[str, ExpectationSuiteValidationResult]  # by suite name
    outcomes: list[Outcome]


def raw_reviews_suite() -> ExpectationSuite:
    """The rules every raw batch shares. Date bounds are the parameters `latest_published_at`
    and `earliest_published_at`, given when validating."""
    return _import_gx().ExpectationSuite(name=SUITE_NAME, expectations=_shared_raw_rules())


def raw_source_suite(source: str | None) -> ExpectationSuite:
    """The suite of one source's raw rows: the shared rules and the source's own."""
    return _import_gx().ExpectationSuite(
        name=f"raw_{source or UNKNOWN_SOURCE}",
        expectations=[*_shared_raw_rules(), *raw_source_rules(source)],
    )


def _shared_raw_rules() -> list:
    import great_expectations.expectations as gxe

    required = [
        gxe.ExpectColumnValuesToNotBeNull(column=name, meta=rule(ERROR, f"missing {name}"))
        for name in REQUIRED_FIELDS
    ]
    in_sets = [
        gxe.ExpectColumnValuesToBeInSet(
            column=name,
            value_set=list(allowed),
            meta=rule(ERROR, f"{name} not in {', '.join(allowed)}"),
        )
        for name, allowed in (
            ("kind", KINDS),
            ("language", LANGUAGES),
            ("date_precision", DATE_PRECISIONS),
        )
    ]
    return [
        *required,
        gxe.ExpectColumnValuesToNotBeNull(
            column="text_or_title", meta=rule(ERROR, "no text and no title")
        ),
        *in_sets,
        gxe.ExpectColumnValuesToBeBetween(
            column="rating", min_value=1, max_value=5, meta=rule(ERROR, "rating not in 1–5")
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="likes", min_value=0, meta=rule(ERROR, "likes negative")
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="published_at",
            max_value={"$PARAMETER": "latest_published_at"},
            meta=rule(ERROR, "published_at in the future"),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="published_at",
            min_value={"$PARAMETER": "earliest_published_at"},
            meta=rule(ERROR, "published_at before the earliest date"),
        ),
        gxe.ExpectCompoundColumnsToBeUnique(
            # Per target: two targets (say, two searches) may rightly find the same item.
            column_list=["source", "target_id", "review_id"],
            ignore_row_if="any_value_is_missing",
            meta=rule(ERROR, REASON_DUPLICATE),
        ),
        # An aggregate over a 0/1 column: a map expectation would list every unknown-date
        # row in the COMPLETE result, which is slow for large batches and not needed here.
        gxe.ExpectColumnMeanToBeBetween(
            column="known_date",
            min_value=MIN_KNOWN_DATE_SHARE,
            meta=rule(WARNING, f"fewer than {MIN_KNOWN_DATE_SHARE:.0%} of rows have a date"),
        ),
    ]


def check_raw_batch(
    files: list[Path],
    *,
    now: datetime,
    earliest: datetime | None = None,
    run: QualityRun | None = None,
) -> RawCheckResult:
    """Validate a batch of landed record files; every line ends up valid or quarantined.

    Each records file's `.rejects.jsonl` sidecar is read too when it exists. A quarantine row's
    source and target_id are the line's own, or, where the line has none, those of the target
    its file was crawled for. A file that does not exist raises FileNotFoundError. Without
    `run`, validation happens in a throw-away GX context (no Data Docs).
    """
    earliest = earliest or DEFAULT_EARLIEST
    for name, moment in (("now", now), ("earliest", earliest)):
        if moment.tzinfo is None:
            raise ValueError(f"{name} must be time-zone aware")

    with _gc_paused():
        batch = _read_batch(files)
        records = _record_frame(batch)
    checked, type_failures = _typed_check_frame(records)
    run = run or QualityRun(new_check_id())
    gx_results, outcomes, gx_failures = _validate(checked, now=now, earliest=earliest, run=run)
    failures = [*type_failures, *gx_failures]

    failed = np.zeros(len(records), dtype=bool)
    for _reason, mask in failures:
        failed |= mask
    record_rejects = _record_quarantine(records, failures, failed, batch)
    quarantined = _quarantine_frame(
        _attribute([*batch.rejects, *record_rejects], batch), batch.file_order
    )
    valid = _valid_frame(records.loc[~failed], checked.loc[~failed], batch)
    summary = _summary(valid, quarantined, gx_results, batch)
    log.info(
        "quality gate: %d lines read, %d valid, %d quarantined",
        summary["lines_read"],
        summary["valid"],
        summary["quarantined"],
    )
    for warning in summary["warnings"]:
        log.warning(
            "quality gate warning: %s (observed %s)", warning["reason"], warning["observed"]
        )
    return RawCheckResult(valid, quarantined.drop(columns="reasons"), summary, gx_results, outcomes)


def new_check_id() -> str:
    from repwatch.landing import new_run_id

    return new_run_id()


# --- reading -------------------------------------------------------------------------------


@dataclass
class _Batch:
    records: list[tuple]  # values in RECORD_FIELDS order
    record_files: list[int]  # index into `files` of each record
    record_lines: list[int]  # 1-based line number of each record
    rejects: list[dict]  # quarantine rows of lines that are not records
    files: list[Path]  # every file read, records files and sidecars
    file_lines: list[list[bytes]]  # kept to quote failing lines as they were landed
    file_target: dict[int, tuple[str | None, str | None]]
    lines_read: int
    unexpected_fields: set[str]

    @property
    def file_order(self) -> dict[str, int]:
        return {str(path): index for index, path in enumerate(self.files)}


def _batch_files(files: list[Path]) -> list[tuple[Path, Path | None]]:
    """(file, its records file) in reading order: each records file, then its sidecar."""
    ordered: list[tuple[Path, Path | None]] = []
    seen: set[Path] = set()
    for path in map(Path, files):
        if path.name.endswith(REJECTS_SUFFIX):
            records_path = path.with_name(path.name.removesuffix(REJECTS_SUFFIX) + ".jsonl")
            pairs = [(path, records_path if records_path in seen else None)]
        else:
            sidecar = path.with_suffix(REJECTS_SUFFIX)
            pairs = [(path, path), *([(sidecar, path)] if sidecar.exists() else [])]
        for pair in pairs:
            if pair[0] not in seen:
                seen.add(pair[0])
                ordered.append(pair)
    return ordered


def _lines(path: Path) -> list[bytes]:
    lines = path.read_bytes().split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the newline that ends the last line does not start another
    return [line.removesuffix(b"\r") for line in lines]


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Building millions of small records triggers the cyclic collector over and over; the
    # parsed objects hold no cycles, so pausing it roughly halves reading time. Once the frame
    # is built the records are freed and the collector runs again.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse_line(line: bytes) -> tuple[Any, str | None, str]:
    """(object, reason it cannot be used or None, the line as text)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None, REASON_INVALID_UTF8, line.decode("utf-8", errors="backslashreplace")
    try:
        value = json.loads(text)
    except ValueError:
        return None, REASON_UNPARSEABLE, text
    if not isinstance(value, dict):
        return None, REASON_UNPARSEABLE, text
    return value, None, text


def _record_values(value: dict) -> tuple:
    """A record line read as a dict, as a tuple in RECORD_FIELDS order (missing keys None)."""
    return tuple(value.get(name) for name in RECORD_FIELDS)


def _json_text(value: object) -> str | None:
    """JSON text: as landed when read as msgspec.Raw, else compact with non-ASCII kept as is;
    None for null."""
    if value is None:
        return None
    if value.__class__ is msgspec.Raw:
        text = str(value, "utf-8")
        return None if text == "null" else text
    try:
        return _JSON_ENCODER.encode(value).decode("utf-8")
    except (TypeError, OverflowError):  # integers beyond 64 bits
        return _RAW_ENCODER.encode(value)


def _read_batch(files: list[Path]) -> _Batch:
    batch = _Batch([], [], [], [], [], [], {}, 0, set())
    field_names = set(RECORD_FIELDS)
    decode = _LANDED_DECODER.decode
    for file_index, (path, records_path) in enumerate(_batch_files(files)):
        lines = _lines(path)
        batch.files.append(path)
        batch.file_lines.append(lines)
        batch.lines_read += len(lines)
        is_records = path == records_path
        for number, line in enumerate(lines, start=1):
            if is_records:
                try:
                    record = decode(line)
                except (msgspec.MsgspecError, ValueError):
                    pass  # not a well-formed record: read it as a plain dict below
                else:
                    batch.records.append(astuple(record))
                    batch.record_files.append(file_index)
                    batch.record_lines.append(number)
                    target = (record.source, record.target_id)
                    if file_index not in batch.file_target and None not in target:
                        batch.file_target[file_index] = target
                    continue
            value, reason, text = _parse_line(line)
            if reason is not None:
                batch.rejects.append(
                    _quarantine_row(None, None, None, [reason], text, path, number)
                )
            elif is_records:
                batch.records.append(_record_values(value))
                batch.record_files.append(file_index)
                batch.record_lines.append(number)
                if file_index not in batch.file_target and None not in _target_of(value):
                    batch.file_target[file_index] = _target_of(value)
                if value.keys() - field_names:
                    batch.unexpected_fields |= value.keys() - field_names
            else:
                batch.rejects.append(_page_reject(value, text, path, number))
        records_target = batch.file_target.get(batch.files.index(records_path or path))
        if records_target is not None:
            batch.file_target[file_index] = records_target
    return batch


def _target_of(record: dict) -> tuple[str | None, str | None]:
    source, target_id = record.get("source"), record.get("target_id")
    return (
        source if isinstance(source, str) else None,
        target_id if isinstance(target_id, str) else None,
    )


def _page_reject(value: dict, text: str, path: Path, number: int) -> dict:
    body = value.get("body")
    source, target_id = _target_of(value)
    reason = REASON_PAGE_FAILED.format(error=value.get("error") or "unknown error")
    payload = body if isinstance(body, str) else text
    return _quarantine_row(source, target_id, None, [reason], payload, path, number)


def _attribute(rows: list[dict], batch: _Batch) -> list[dict]:
    """Fill a missing source or target_id with the target the line's file was crawled for."""
    file_index = {str(path): index for index, path in enumerate(batch.files)}
    for row in rows:
        source, target_id = batch.file_target.get(file_index[row["file"]], (None, None))
        row["source"] = row["source"] if row["source"] is not None else source
        row["target_id"] = row["target_id"] if row["target_id"] is not None else target_id
    return rows


def _quarantine_row(
    source: str | None,
    target_id: str | None,
    review_id: str | None,
    reasons: list[str],
    payload: str,
    path: Path,
    number: int,
) -> dict:
    return {
        "source": source,
        "target_id": target_id,
        "review_id": review_id,
        "reasons": reasons,
        "payload": payload,
        "file": str(path),
        "line": number,
    }


# --- typing and validating -----------------------------------------------------------------


def _record_frame(batch: _Batch) -> pd.DataFrame:
    """RECORD_FIELDS (missing keys as null, `raw` and `extra` as JSON text) plus
    `extra_is_object`, `file_index` and `line`; frees the parsed records."""
    columns = list(zip(*batch.records, strict=True)) or [() for _ in RECORD_FIELDS]
    batch.records.clear()
    frame = {}
    for name, values in zip(RECORD_FIELDS, columns, strict=True):
        if name in INTEGER_FIELDS:
            # Integers and nulls arrive as float64 (NaN for null), anything else as objects.
            frame[name] = pd.Series(values, dtype=None if values else "float64")
        elif name in JSON_FIELDS:
            frame[name] = _objects([_json_text(value) for value in values])
        else:
            frame[name] = _objects(values)
    frame["extra_is_object"] = np.fromiter(
        (
            value is None or isinstance(value, dict)
            for value in columns[RECORD_FIELDS.index("extra")]
        ),
        dtype=bool,
        count=len(columns[0]),
    )
    frame["file_index"] = np.asarray(batch.record_files, dtype="int64")
    frame["line"] = np.asarray(batch.record_lines, dtype="int64")
    return pd.DataFrame(frame)


def _objects(values: tuple | list) -> pd.Series:
    """An object column holding `values` as they are (no inference, no string dtype)."""
    return pd.Series(np.fromiter(values, dtype=object, count=len(values)), dtype=object)


def _not_text(column: pd.Series) -> np.ndarray:
    if pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
        return np.zeros(len(column), dtype=bool)
    return (column.notna() & ~column.map(lambda value: isinstance(value, str))).to_numpy()


def _integers(column: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(values as float64 with NaN for null, mask of values that are not 64-bit integers)."""
    if pd.api.types.is_integer_dtype(column.dtype):
        return column.astype("float64"), np.zeros(len(column), dtype=bool)
    if pd.api.types.is_float_dtype(column.dtype):
        # JSON null beside integers arrives as NaN in a float column.
        numbers = column.astype("float64")
        bad = numbers.notna() & ((numbers % 1 != 0) | (numbers.abs() >= _INT64_LIMIT))
        return numbers.where(~bad), bad.to_numpy()

    def is_integer(value: object) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and -_INT64_LIMIT <= value < _INT64_LIMIT
        )

    bad = (column.notna() & ~column.map(is_integer)).to_numpy()
    numbers = pd.to_numeric(column.where(~bad), errors="coerce").astype("float64")
    return numbers, bad


def _present(column: pd.Series) -> pd.Series:
    """Blank strings become null: an empty id or text is missing, not present. The column
    holds strings and nulls only (other types were nulled as type failures)."""
    values = column.to_numpy()
    strings = pd.notna(values)
    blank = np.zeros(len(values), dtype=bool)
    blank[strings] = [not value.strip() for value in values[strings]]
    return column.where(~blank) if blank.any() else column


def _present_category(column: pd.Series) -> pd.Series:
    """`_present` for a column of a few distinct values, kept as categories: GX's null, set and
    hash passes then work on small integer codes instead of a million strings."""
    values = column.astype("category")
    blank = [value for value in values.cat.categories if not value.strip()]
    return values.cat.remove_categories(blank) if blank else values


def _typed_check_frame(
    records: pd.DataFrame,
) -> tuple[pd.DataFrame, list[tuple[str, np.ndarray]]]:
    """The frame GX validates, and the type failures found while building it."""
    not_text = {name: _not_text(records[name]) for name in STRING_FIELDS}
    failures = [(f"{name} is not a string", mask) for name, mask in not_text.items()]
    texts = {
        name: records[name].where(~mask) if mask.any() else records[name]
        for name, mask in not_text.items()
    }
    checked = pd.DataFrame({_ROW: np.arange(len(records), dtype="int64")})
    for name in REQUIRED_FIELDS:
        present = _present if name == "review_id" else _present_category
        checked[name] = present(texts[name])
    text, title = _present(texts["text"]), _present(texts["title"])
    checked["text_or_title"] = text.where(text.notna(), title)
    checked[LANDED_RATING] = records["rating"].to_numpy()
    for name in INTEGER_FIELDS:
        checked[name], bad = _integers(records[name])
        failures.append((f"{name} is not an integer", bad))
    failures.append(("extra is not an object", ~records["extra_is_object"].to_numpy()))
    # GX's dateutil-based parse check works value by value; pandas parses the column at once.
    published = _utc_times(texts["published_at"])
    failures.append(
        (REASON_BAD_DATE, (texts["published_at"].notna() & published.isna()).to_numpy())
    )
    checked["published_at"] = published
    checked["known_date"] = published.notna().astype("float64")
    checked["crawled_at"] = _utc_times(texts["crawled_at"])
    return checked, [(reason, mask) for reason, mask in failures if mask.any()]


def _utc_times(column: pd.Series) -> pd.Series:
    return pd.to_datetime(column, utc=True, errors="coerce", format="ISO8601").reset_index(
        drop=True
    )


def _import_gx():
    from repwatch.suites import _import_gx as import_gx

    return import_gx()


def _validate(
    checked: pd.DataFrame, *, now: datetime, earliest: datetime, run: QualityRun
) -> tuple[dict[str, ExpectationSuiteValidationResult], list[Outcome], list]:
    """Each source's rows with its own suite; returns GX's results, the outcomes and the
    (reason, mask over `checked`) of every failed error-severity expectation."""
    parameters = {
        "latest_published_at": now.astimezone(UTC) + FUTURE_TOLERANCE,
        "earliest_published_at": earliest.astimezone(UTC),
    }
    sources = checked["source"].astype(object).fillna(UNKNOWN_SOURCE)
    results, outcomes, failures = {}, [], []
    names = sorted(sources.unique()) if len(checked) else [UNKNOWN_SOURCE]
    for name in names:
        source = None if name == UNKNOWN_SOURCE else name
        in_source = sources.eq(name).to_numpy() if len(names) > 1 else None
        rows = checked.loc[in_source].reset_index(drop=True) if len(names) > 1 else checked
        suite = raw_source_suite(source)
        result, source_outcomes = run.validate(
            f"raw_{name}",
            rows,
            suite,
            source=source,
            parameters=parameters,
            result_format=_RESULT_FORMAT,
        )
        results[suite.name] = result
        outcomes += source_outcomes
        for reason, mask in _error_failures(result, rows, parameters):
            if in_source is not None:
                mask = _spread(mask, in_source)
            failures.append((reason, mask))
    return results, outcomes, failures


def _spread(mask: np.ndarray, where: np.ndarray) -> np.ndarray:
    """A mask over a subset's rows as a mask over the whole frame."""
    spread = np.zeros(len(where), dtype=bool)
    spread[where] = mask
    return spread


def _error_failures(
    gx_result: ExpectationSuiteValidationResult,
    rows: pd.DataFrame,
    parameters: dict[str, Any],
) -> list[tuple[str, np.ndarray]]:
    failures = []
    for outcome in gx_result.results:
        meta = outcome.expectation_config.meta or {}
        if outcome.success or meta.get("severity") != ERROR:
            continue
        mask = unexpected_rows(outcome.expectation_config, rows, parameters)
        check_unexpected_count(outcome, mask)
        if meta["reason"] == REASON_DUPLICATE:
            # GX flags every copy of a repeated id; the copy from the newest crawl stays valid.
            mask = _later_copies(rows, mask)
        failures.append((meta["reason"], mask))
    return failures


def _later_copies(rows: pd.DataFrame, copies: np.ndarray) -> np.ndarray:
    """Of the rows holding repeated ids, all but the newest crawl's (first read on a tie)."""
    key = ["source", "target_id", "review_id"]
    newest_first = (
        rows[[*key, "crawled_at", _ROW]]
        .reset_index(drop=True)
        .loc[copies]
        .sort_values(
            ["crawled_at", _ROW], ascending=[False, True], na_position="last", kind="stable"
        )
    )
    later = newest_first.duplicated(key, keep="first").to_numpy()
    mask = np.zeros(len(rows), dtype=bool)
    mask[newest_first.index[later]] = True
    return mask


def _record_quarantine(
    records: pd.DataFrame,
    failures: list[tuple[str, np.ndarray]],
    failed: np.ndarray,
    batch: _Batch,
) -> list[dict]:
    reasons: dict[int, list[str]] = {int(row): [] for row in np.flatnonzero(failed)}
    for reason, mask in failures:
        for row in np.flatnonzero(mask):
            reasons[int(row)].append(reason)
    positions = np.fromiter(reasons, dtype="int64", count=len(reasons))
    # Column by column: looking rows up one at a time costs far more for many rejects.
    ids = zip(
        *(records[name].to_numpy()[positions] for name in ("source", "target_id", "review_id")),
        strict=True,
    )
    file_indexes = records["file_index"].to_numpy()[positions].tolist()
    numbers = records["line"].to_numpy()[positions].tolist()
    rows = []
    for row_reasons, row_ids, file_index, number in zip(
        reasons.values(), ids, file_indexes, numbers, strict=True
    ):
        line = batch.file_lines[file_index][number - 1]
        rows.append(
            _quarantine_row(
                *map(_as_text, row_ids),
                row_reasons,
                line.decode("utf-8"),
                batch.files[file_index],
                number,
            )
        )
    return rows


def _as_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _quarantine_frame(rows: list[dict], file_order: dict[str, int]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[*QUARANTINE_COLUMNS, "reasons"])
    frame["reason"] = frame["reasons"].map("; ".join)
    frame["line"] = frame["line"].astype("int64")
    frame = frame.sort_values(["file", "line"], key=_file_rank(file_order), kind="stable")
    for name in ("source", "target_id", "review_id", "payload", "file"):
        frame[name] = _nullable_objects(frame[name])
    return frame.reset_index(drop=True)


def _file_rank(file_order: dict[str, int]):
    def rank(column: pd.Series) -> pd.Series:
        return column.map(file_order) if column.name == "file" else column

    return rank


def _nullable_objects(column: pd.Series) -> pd.Series:
    """Text as Python str with None for missing, whatever dtype pandas inferred."""
    objects = column.astype(object)
    return objects.where(column.notna(), None)


def _valid_frame(records: pd.DataFrame, checked: pd.DataFrame, batch: _Batch) -> pd.DataFrame:
    valid = pd.DataFrame(index=records.index)
    for name in RECORD_FIELDS:
        if name in INTEGER_FIELDS:
            # Integral by now: non-integers were quarantined.
            valid[name] = checked[name].to_numpy()
            valid[name] = valid[name].astype("Int64")
        else:
            valid[name] = _nullable_objects(records[name])
    files = np.array([str(path) for path in batch.files], dtype=object)
    valid["file"] = files[records["file_index"].to_numpy()] if len(records) else []
    valid["line"] = records["line"].astype("int64")
    return valid.reset_index(drop=True)


def _summary(
    valid: pd.DataFrame,
    quarantined: pd.DataFrame,
    gx_results: dict[str, ExpectationSuiteValidationResult],
    batch: _Batch,
) -> dict[str, Any]:
    if batch.lines_read != len(valid) + len(quarantined):
        raise RuntimeError(
            f"quality gate lost lines: {batch.lines_read} read, "
            f"{len(valid)} valid + {len(quarantined)} quarantined"
        )
    targets: dict[tuple, dict[str, Any]] = {}

    def target(source: str | None, target_id: str | None) -> dict[str, Any]:
        empty = {"valid": 0, "quarantined": 0, "reasons": Counter()}
        return targets.setdefault(
            (source, target_id), {"source": source, "target_id": target_id, **empty}
        )

    for (source, target_id), count in valid.groupby(["source", "target_id"]).size().items():
        target(source, target_id)["valid"] += int(count)
    for source, target_id, reasons in quarantined[["source", "target_id", "reasons"]].itertuples(
        index=False
    ):
        counts = target(source, target_id)
        counts["quarantined"] += 1
        counts["reasons"].update(reasons)
    by_target = []
    for counts in targets.values():
        lines_read = counts["valid"] + counts["quarantined"]
        by_target.append({**counts, "lines_read": lines_read, "reasons": dict(counts["reasons"])})
    all_reasons = Counter(reason for reasons in quarantined["reasons"] for reason in reasons)
    return {
        "files_read": [str(path) for path in batch.files],
        "lines_read": batch.lines_read,
        "valid": len(valid),
        "quarantined": len(quarantined),
        "reasons": dict(all_reasons),
        "by_target": by_target,
        "warnings": [warning for result in gx_results.values() for warning in _warnings(result)],
        "unexpected_fields": sorted(batch.unexpected_fields),
        "gx_success": all(result.success for result in gx_results.values()),
        "gx_statistics": {name: dict(result.statistics) for name, result in gx_results.items()},
    }


def _warnings(gx_result: ExpectationSuiteValidationResult) -> list[dict[str, Any]]:
    return [
        {
            "suite": gx_result.suite_name,
            "expectation": outcome.expectation_config.type,
            "column": outcome.expectation_config.kwargs.get("column"),
            "reason": outcome.expectation_config.meta["reason"],
            "observed": _plain(outcome.result.get("observed_value")),
        }
        for outcome in gx_result.results
        if not outcome.success
        and (outcome.expectation_config.meta or {}).get("severity") == WARNING
    ]


def _plain(value: object) -> object:
    """NumPy scalars as Python numbers, so the summary serialises as JSON."""
    return value.item() if isinstance(value, np.generic) else value


# --- telling the data engineers ------------------------------------------------------------

QUALITY_REPORT = "quality"


def quality_recipients(config) -> list:
    """`quality.notify`, else the daily report's recipients in data_engineering."""
    if config.quality.notify:
        return list(config.quality.notify)
    return [r for r in config.reports.daily.recipients if r.department == "data_engineering"]


def quality_message(
    run_id: str,
    stage: str,
    errors: list[Outcome],
    *,
    quarantined: dict[str, int],
    docs_index: Path | None,
):
    """The data-quality e-mail: the subject names the first failure; the body lists every
    failed error-severity check with its observed value, the quarantine counts and the docs."""
    from html import escape

    from repwatch.report import RenderedReport

    first = errors[0]
    where = f" {first.source}" if first.source else ""
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    subject = f"repwatch data quality: {first.table}{where}: {first.reason}{more}"
    lines = [
        f"Run {run_id}, {stage} checks: {len(errors)} error-severity check(s) failed.",
        "",
        *(f"- {outcome.describe()}" for outcome in errors),
        "",
        "Quarantined rows by reason:" if quarantined else "No rows were quarantined in this run.",
        *(f"- {reason}: {count}" for reason, count in sorted(quarantined.items())),
        "",
        f"Data Docs: {docs_index}" if docs_index else "Data Docs: not written",
    ]
    text = "\n".join(lines) + "\n"
    html = (
        "<html><body>"
        + "".join(f"<p>{escape(line)}</p>" if line else "" for line in lines)
        + "</body></html>"
    )
    return RenderedReport(
        report=QUALITY_REPORT,
        period=f"{run_id}-{stage}",
        subject=subject,
        html=html,
        text=text,
        images={},
        archive_html=html,
    )


def notify_data_engineers(config, con, rendered) -> list[str]:
    """Send the data-quality e-mail through the send ledger (once per run and stage);
    returns the addresses it went to now."""
    from repwatch.mail import deliver

    recipients = quality_recipients(config)
    if not recipients:
        log.warning("data-quality errors but no recipients: set quality.notify in the config")
        return []
    return list(deliver(config, rendered, con=con, recipients=recipients).sent)
