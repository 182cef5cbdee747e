"""How complete a report is: per source and target, what the latest crawl fetched, kept and
quarantined (and why), how many of the period's items carry an exact time, how old the
newest item is, and when the last crawl that finished cleanly ran.

`build_coverage` reads the warehouse and returns plain dicts for the templates. It reads
only what exists: a warehouse from before crawl statistics or quality results shows what it
has. Ages are measured from the end of the period, so a report renders the same way twice.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from repwatch.config import Config

TOP_REASONS = 3
STATUS_OK = "ok"
STATUS_NO_ITEMS = "no new items"
STATUS_FAILING = "failing"
STATUS_NOT_CRAWLED = "not crawled"
# Worst first: a source shows the worst status of its targets.
_STATUS_ORDER = (STATUS_FAILING, STATUS_NO_ITEMS, STATUS_NOT_CRAWLED, STATUS_OK)
_FAILED_PROCESS = "crawl process failed"
_REJECTS_SUFFIX = ".rejects.jsonl"


def _tables(con) -> dict[str, set[str]]:
    rows = con.execute(
        "select table_name, column_name from information_schema.columns where table_schema = 'main'"
    ).fetchall()
    tables: dict[str, set[str]] = defaultdict(set)
    for table, column in rows:
        tables[table].add(column)
    return tables


def _rejects_file(records_file: str) -> str:
    return str(Path(records_file).with_suffix(_REJECTS_SUFFIX))


def _age_text(delta: timedelta | None) -> str | None:
    if delta is None:
        return None
    hours = delta.total_seconds() / 3600
    if hours < 1:
        return "under 1 h"
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"


def _latest_crawls(con, tables) -> dict[tuple[str, str], dict]:
    if "crawl_runs" not in tables:
        return {}
    cursor = con.execute(
        """
        select * from crawl_runs
        qualify row_number() over (
            partition by source, target_id order by started_at desc nulls last, file desc
        ) = 1
        """
    )
    names = [column[0] for column in cursor.description]
    runs = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return {(run["source"], run["target_id"]): run for run in runs}


def _last_clean_crawls(con, tables) -> dict[tuple[str, str], datetime]:
    if "crawl_runs" not in tables:
        return {}
    rows = con.execute(
        "select source, target_id, max(finished_at) from crawl_runs where complete group by all"
    ).fetchall()
    return {(source, target): finished for source, target, finished in rows}


def _kept_rows(con, tables, files: list[str]) -> dict[str, int]:
    if "load_log" not in tables or not files:
        return {}
    rows = con.execute(
        "select file, sum(valid_rows) from load_log where file in (select unnest(?)) group by 1",
        [files],
    ).fetchall()
    return {file: int(count) for file, count in rows}


def _quarantined(con, tables, files: list[str]) -> dict[str, list[tuple[str, int]]]:
    """Entries still quarantined per landing file: [(reason, rows)], most frequent first."""
    if "quarantine" not in tables or not files:
        return {}
    still = "and replayed_at is null" if "replayed_at" in tables["quarantine"] else ""
    rows = con.execute(
        f"""
        select file, reason, count(*) as rows
        from quarantine
        where file in (select unnest(?)) {still}
        group by all
        order by file, rows desc, reason
        """,
        [files],
    ).fetchall()
    by_file: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for file, reason, count in rows:
        by_file[file].append((reason, int(count)))
    return by_file


def _items(con, tables, start: date, end: date, period_end: datetime) -> dict:
    """Per (source, target): items published in the period, those with an exact time, and
    the newest item published before the period's end."""
    if "int_reviews" not in tables:
        return {}
    rows = con.execute(
        """
        select
            source,
            target_id,
            count(*) filter (where published_day between $start and $end),
            count(*) filter (
                where published_day between $start and $end and date_precision = 'exact'
            ),
            max(published_at) filter (where published_at < $period_end),
        from int_reviews
        group by all
        """,
        {"start": start, "end": end, "period_end": period_end},
    ).fetchall()
    return {(source, target): values for source, target, *values in rows}


def _quality_warnings(con, tables) -> list[dict]:
    """Failed warning-severity expectations of the latest stored quality run, when a
    `quality_results` table exists (the quality step writes it)."""
    columns = tables.get("quality_results")
    if not columns or "severity" not in columns:
        return []
    failed = "and not success" if "success" in columns else ""
    run_column = next((c for c in ("run_id", "batch_id") if c in columns), None)
    latest = (
        f"and {run_column} = (select max({run_column}) from quality_results)" if run_column else ""
    )
    described = [c for c in ("table_name", "source", "target_id") if c in columns]
    message = next((c for c in ("reason", "expectation") if c in columns), None)
    observed = next((c for c in ("observed", "observed_value") if c in columns), None)
    selected = [*described, *([message] if message else []), *([observed] if observed else [])]
    if not selected:
        return []
    rows = con.execute(
        f"""
        select distinct {", ".join(f'"{name}"' for name in selected)}
        from quality_results
        where lower(severity) = 'warning' {failed} {latest}
        order by all
        """
    ).fetchall()
    warnings = []
    for row in rows:
        values = dict(zip(selected, row, strict=True))
        where = " · ".join(str(values[name]) for name in described if values[name] is not None)
        text = str(values[message]) if message and values[message] is not None else ""
        seen = (
            f" (observed {values[observed]})" if observed and values[observed] is not None else ""
        )
        warnings.append({"text": " — ".join(part for part in (where, text) if part) + seen})
    return warnings


def _last_error(run: dict, reasons: list[tuple[str, int]]) -> str | None:
    finish_reason = run.get("finish_reason") or ""
    if finish_reason.startswith(_FAILED_PROCESS):
        return finish_reason.splitlines()[0]
    if reasons:
        return reasons[0][0]
    if run.get("stopped_because") == "error" or (run.get("errors") or 0) > 0:
        return f"the crawl stopped on an error ({finish_reason or 'no reason given'})"
    return None


def _status(run: dict | None, kept: int, error: str | None) -> str:
    if run is None:
        return STATUS_NOT_CRAWLED
    if error is not None:
        return STATUS_FAILING
    return STATUS_NO_ITEMS if kept == 0 else STATUS_OK


def _note(label: str, status: str, newest: datetime | None, error: str | None, zone) -> str | None:
    if status == STATUS_OK:
        return None
    if status == STATUS_NOT_CRAWLED:
        return f"{label}: not crawled yet"
    since = f"{newest.astimezone(zone):%Y-%m-%d %H:%M}" if newest else "the first crawl"
    note = f"{label}: no items since {since}"
    return note + (f", last error: {error}" if error else "")


def build_coverage(con, config: Config, start: date, end: date) -> dict:
    """Coverage of the period start..end per source and target, from the warehouse."""
    zone = ZoneInfo(config.timezone)
    period_end = datetime.combine(end + timedelta(days=1), time(), tzinfo=zone)
    tables = _tables(con)
    latest = _latest_crawls(con, tables)
    files = [name for run in latest.values() for name in (run["file"], _rejects_file(run["file"]))]
    kept_rows = _kept_rows(con, tables, files)
    quarantined = _quarantined(con, tables, files)
    clean = _last_clean_crawls(con, tables)
    items = _items(con, tables, start, end, period_end)

    targets_by_source: dict[str, list[dict]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for brand, source, target in config.targets():
        key = (source.source, target.target_id)
        if key in seen:
            continue
        seen.add(key)
        run = latest.get(key)
        reasons: dict[str, int] = defaultdict(int)
        if run is not None:
            for name in (run["file"], _rejects_file(run["file"])):
                for reason, count in quarantined.get(name, []):
                    reasons[reason] += count
        ordered_reasons = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
        kept = kept_rows.get(run["file"], 0) if run else 0
        period_items, exact, newest = items.get(key, (0, 0, None))
        # Pages that failed are the crawl's errors; rejected rows are the data's problems.
        page_reasons = quarantined.get(_rejects_file(run["file"]), []) if run else []
        error = _last_error(run, page_reasons) if run else None
        status = _status(run, kept, error)
        targets_by_source[source.source].append(
            {
                "brand": brand.name,
                "source": source.source,
                "target_id": target.target_id,
                "target_label": target.label,
                "status": status,
                "last_crawl_at": run["started_at"] if run else None,
                "pages_fetched": (run.get("responses") or 0) if run else 0,
                "items_kept": kept,
                "items_quarantined": sum(reasons.values()),
                "reasons": [{"reason": r, "rows": n} for r, n in ordered_reasons],
                "period_items": period_items,
                "exact_dates": exact,
                "exact_date_share": exact / period_items if period_items else None,
                "newest_item_at": newest,
                "newest_item_age": _age_text(period_end - newest if newest else None),
                "last_successful_crawl": clean.get(key),
                "last_error": error,
                "note": _note(f"{source.source} {target.label}", status, newest, error, zone),
            }
        )
    sources = [
        _source_summary(name, rows, period_end, zone) for name, rows in targets_by_source.items()
    ]
    return {
        "start": start,
        "end": end,
        "period_end": period_end,
        "timezone": config.timezone,
        "sources": sources,
        "problems": [note for source in sources for note in source["notes"]],
        "quality_warnings": _quality_warnings(con, tables),
    }


def _source_summary(name: str, targets: list[dict], period_end: datetime, zone) -> dict:
    reasons: dict[str, int] = defaultdict(int)
    for target in targets:
        for item in target["reasons"]:
            reasons[item["reason"]] += item["rows"]
    top = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))[:TOP_REASONS]
    period_items = sum(target["period_items"] for target in targets)
    exact = sum(target["exact_dates"] for target in targets)
    newest = max((t["newest_item_at"] for t in targets if t["newest_item_at"]), default=None)
    cleans = [t["last_successful_crawl"] for t in targets if t["last_successful_crawl"]]
    status = min((t["status"] for t in targets), key=_STATUS_ORDER.index)
    notes = [target["note"] for target in targets if target["note"]]
    same_status = len({target["status"] for target in targets}) == 1
    if len(notes) == len(targets) > 1 and same_status and status != STATUS_NOT_CRAWLED:
        # Every target of the source in the same trouble: say it once for the source.
        errors = [t["last_error"] for t in targets if t["last_error"]]
        notes = [_note(name, status, newest, errors[0] if errors else None, zone)]
    return {
        "source": name,
        "status": status,
        "targets": targets,
        "pages_fetched": sum(target["pages_fetched"] for target in targets),
        "items_kept": sum(target["items_kept"] for target in targets),
        "items_quarantined": sum(target["items_quarantined"] for target in targets),
        "top_reasons": [{"reason": reason, "rows": count} for reason, count in top],
        "period_items": period_items,
        "exact_date_share": exact / period_items if period_items else None,
        "newest_item_at": newest,
        "newest_item_age": _age_text(period_end - newest if newest else None),
        "last_successful_crawl": max(cleans, default=None),
        "notes": notes,
    }
