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
A value of the wrong JSON type (text where a number belongs, …) or a published_at that is not
an ISO date is quarantined too; those checks run in pandas while building the typed frame.
"""

from __future__ import annotations

import gc
import json
import logging
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from repwatch.records import DATE_PRECISIONS, LANGUAGES, RECORD_FIELDS

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite, ExpectationSuiteValidationResult

log = logging.getLogger(__name__)

SUITE_NAME = "raw_reviews"
KINDS = ("review", "mention")
DEFAULT_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(minutes=5)
MIN_KNOWN_DATE_SHARE = 0.9
REJECTS_SUFFIX = ".rejects.jsonl"

ERROR = "error"
WARNING = "warning"
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
# Per-row failures come back as the values of this column (positions in the checked frame).
_ROW = "row"
_RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [_ROW],
    "return_unexpected_index_query": False,
}


@dataclass(frozen=True)
class RawCheckResult:
    valid: pd.DataFrame
    quarantined: pd.DataFrame
    summary: dict[str, Any]
    gx_result: ExpectationSuiteValidationResult


def raw_reviews_suite() -> ExpectationSuite:
    """The suite for one raw batch. Date bounds are the parameters `latest_published_at` and
    `earliest_published_at`, given when validating."""
    import great_expectations.expectations as gxe

    gx = _import_gx()

    def rule(severity: str, reason: str) -> dict[str, str]:
        return {"severity": severity, "reason": reason}

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
    return gx.ExpectationSuite(
        name=SUITE_NAME,
        expectations=[
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
        ],
    )


def check_raw_batch(
    files: list[Path], *, now: datetime, earliest: datetime | None = None
) -> RawCheckResult:
    """Validate a batch of landed record files; every line ends up valid or quarantined.

    Each records file's `.rejects.jsonl` sidecar is read too when it exists. A quarantine row's
    source and target_id are the line's own, or, where the line has none, those of the target
    its file was crawled for. A file that does not exist raises FileNotFoundError.
    """
    earliest = earliest or DEFAULT_EARLIEST
    for name, moment in (("now", now), ("earliest", earliest)):
        if moment.tzinfo is None:
            raise ValueError(f"{name} must be time-zone aware")

    batch = _read_batch(files)
    records = _record_frame(batch)
    checked, type_failures = _typed_check_frame(records)
    gx_result = _validate(checked, now=now, earliest=earliest)
    failures = [*type_failures, *_error_failures(gx_result, checked)]

    failed = np.zeros(len(records), dtype=bool)
    for _reason, mask in failures:
        failed |= mask
    record_rejects = _record_quarantine(records, failures, failed, batch)
    quarantined = _quarantine_frame(
        _attribute([*batch.rejects, *record_rejects], batch), batch.file_order
    )
    valid = _valid_frame(records.loc[~failed], checked.loc[~failed], batch)
    summary = _summary(valid, quarantined, gx_result, batch)
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
    return RawCheckResult(valid, quarantined.drop(columns="reasons"), summary, gx_result)


# --- reading -------------------------------------------------------------------------------


@dataclass
class _Batch:
    records: list[dict]
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
    # Building millions of small dicts triggers the cyclic collector over and over; the
    # parsed objects hold no cycles, so pausing it roughly halves parsing time.
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


def _read_batch(files: list[Path]) -> _Batch:
    batch = _Batch([], [], [], [], [], [], {}, 0, set())
    field_names = set(RECORD_FIELDS)
    with _gc_paused():
        for file_index, (path, records_path) in enumerate(_batch_files(files)):
            lines = _lines(path)
            batch.files.append(path)
            batch.file_lines.append(lines)
            batch.lines_read += len(lines)
            is_records = path == records_path
            for number, line in enumerate(lines, start=1):
                value, reason, text = _parse_line(line)
                if reason is not None:
                    batch.rejects.append(
                        _quarantine_row(None, None, None, [reason], text, path, number)
                    )
                elif is_records:
                    for name in JSON_FIELDS:
                        if value.get(name) is not None:
                            value[name] = _RAW_ENCODER.encode(value[name])
                    batch.records.append(value)
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
    """RECORD_FIELDS (missing keys as null) plus `file_index` and `line`; frees the dicts."""
    frame = pd.DataFrame(batch.records) if batch.records else pd.DataFrame()
    batch.records.clear()
    frame = frame.reindex(columns=list(RECORD_FIELDS))
    frame["file_index"] = np.asarray(batch.record_files, dtype="int64")
    frame["line"] = np.asarray(batch.record_lines, dtype="int64")
    return frame


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
    """Blank strings become null: an empty id or text is missing, not present."""
    if column.isna().all():
        return column  # the .str accessor refuses a column without any string
    return column.where(column.str.strip().ne(""))


def _typed_check_frame(
    records: pd.DataFrame,
) -> tuple[pd.DataFrame, list[tuple[str, np.ndarray]]]:
    """The frame GX validates, and the type failures found while building it."""
    not_text = {name: _not_text(records[name]) for name in STRING_FIELDS}
    failures = [(f"{name} is not a string", mask) for name, mask in not_text.items()]
    texts = {name: records[name].astype(object).where(~not_text[name]) for name in STRING_FIELDS}
    checked = pd.DataFrame({_ROW: np.arange(len(records), dtype="int64")})
    for name in REQUIRED_FIELDS:
        checked[name] = _present(texts[name])
    text, title = _present(texts["text"]), _present(texts["title"])
    checked["text_or_title"] = text.where(text.notna(), title)
    for name in INTEGER_FIELDS:
        checked[name], bad = _integers(records[name])
        failures.append((f"{name} is not an integer", bad))
    extra = records["extra"]
    failures.append(
        (
            "extra is not an object",
            (extra.notna() & ~extra.astype(str).str.startswith("{")).to_numpy(),
        )
    )
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
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    import great_expectations as gx

    # This GX module forces its logger to INFO and reports routine set-up (temporary folders).
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    return gx


def _validate(
    checked: pd.DataFrame, *, now: datetime, earliest: datetime
) -> ExpectationSuiteValidationResult:
    from great_expectations.data_context.types.base import ProgressBarsConfig

    gx = _import_gx()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("repwatch_raw")
        .add_dataframe_asset("raw_reviews")
        .add_batch_definition_whole_dataframe("whole_batch")
        .get_batch(batch_parameters={"dataframe": checked})
    )
    result = batch.validate(
        raw_reviews_suite(),
        result_format=_RESULT_FORMAT,
        expectation_parameters={
            "latest_published_at": now.astimezone(UTC) + FUTURE_TOLERANCE,
            "earliest_published_at": earliest.astimezone(UTC),
        },
    )
    for outcome in result.results:
        if outcome.exception_info.get("raised_exception"):
            raise RuntimeError(
                f"GX could not evaluate {outcome.expectation_config.type}: "
                f"{outcome.exception_info.get('exception_message')}"
            )
    return result


def _error_failures(
    gx_result: ExpectationSuiteValidationResult, checked: pd.DataFrame
) -> list[tuple[str, np.ndarray]]:
    failures = []
    for outcome in gx_result.results:
        meta = outcome.expectation_config.meta or {}
        if outcome.success or meta.get("severity") != ERROR:
            continue
        mask = np.zeros(len(checked), dtype=bool)
        rows = [entry[_ROW] for entry in outcome.result.get("unexpected_index_list") or []]
        mask[np.asarray(rows, dtype="int64")] = True
        if meta["reason"] == REASON_DUPLICATE:
            # GX flags every copy of a repeated id; the copy from the newest crawl stays valid.
            mask = _later_copies(checked, mask)
        failures.append((meta["reason"], mask))
    return failures


def _later_copies(checked: pd.DataFrame, copies: np.ndarray) -> np.ndarray:
    """Of the rows holding repeated ids, all but the newest crawl's (first read on a tie)."""
    key = ["source", "target_id", "review_id"]
    newest_first = checked.loc[copies, [*key, "crawled_at", _ROW]].sort_values(
        ["crawled_at", _ROW], ascending=[False, True], na_position="last", kind="stable"
    )
    later = newest_first.duplicated(key, keep="first")
    mask = np.zeros(len(checked), dtype=bool)
    mask[newest_first.loc[later, _ROW].to_numpy()] = True
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
    rows = []
    for row, row_reasons in reasons.items():
        record = records.iloc[row]
        file_index, number = int(record["file_index"]), int(record["line"])
        line = batch.file_lines[file_index][number - 1]
        rows.append(
            _quarantine_row(
                *(_as_text(record[name]) for name in ("source", "target_id", "review_id")),
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
    gx_result: ExpectationSuiteValidationResult,
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
        "warnings": _warnings(gx_result),
        "unexpected_fields": sorted(batch.unexpected_fields),
        "gx_success": bool(gx_result.success),
        "gx_statistics": dict(gx_result.statistics),
    }


def _warnings(gx_result: ExpectationSuiteValidationResult) -> list[dict[str, Any]]:
    return [
        {
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
