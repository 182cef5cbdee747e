"""Quarantine: list what the quality gate set aside, and replay it after a fix.

Replay takes every entry still quarantined (optionally of one source, since a day):
- a rejected row: its original payload goes through the same quality gate again;
- a rejected page (a page that failed to parse; its body is kept in the crawl's
  `.rejects.jsonl`): the spider's `parse_page` runs again on the kept body and URL, and the
  records it now yields go through the gate.
What passes is loaded; its entry is marked replayed (never deleted). What still fails stays
with the reason it fails for now. Entries are resolved once, so a second replay changes
nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from repwatch.config import Config
from repwatch.landing import new_run_id
from repwatch.warehouse import (
    QUARANTINE_PAGE,
    QUARANTINE_ROW,
    RESOLVED_REPARSED,
    RESOLVED_SUPERSEDED,
    apply_replay,
    crawl_stats_of,
    quarantine_entry_id,
    read_quarantine,
)

PAYLOAD_EXCERPT_CHARS = 60


def start_of_day(config: Config, day: date) -> datetime:
    """Midnight of `day` in the config's time zone: where `--since DAY` starts."""
    return datetime.combine(day, time(), tzinfo=ZoneInfo(config.timezone))


# --- list ------------------------------------------------------------------------------------


def _excerpt(text: str | None, limit: int = PAYLOAD_EXCERPT_CHARS) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _short_path(config: Config, file: str) -> str:
    """A landing file relative to the raw folder, where the folder is obvious."""
    path, raw_dir = Path(file), config.paths.raw_dir
    return str(path.relative_to(raw_dir)) if path.is_relative_to(raw_dir) else str(path)


def format_entries(config: Config, entries: list[dict]) -> str:
    """A readable table of entries (when, source, target, reason, file:line, payload), then
    the count of entries per reason."""
    zone = ZoneInfo(config.timezone)
    header = ("when", "source", "target", "reason", "file:line", "payload")
    rows = [
        (
            f"{entry['quarantined_at'].astimezone(zone):%Y-%m-%d %H:%M}",
            entry["source"] or "?",
            entry["target_id"] or "?",
            _excerpt(entry["reason"], 50)
            + (f" [replayed: {entry['resolution']}]" if entry["replayed_at"] else ""),
            f"{_short_path(config, entry['file'])}:{entry['line']}",
            _excerpt(entry["payload"]),
        )
        for entry in entries
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in [header, *rows]
    ]
    counts = Counter(entry["reason"] for entry in entries)
    lines += ["", f"{len(entries)} entries"]
    lines += [f"{count:>6}  {reason}" for reason, count in counts.most_common()]
    return "\n".join(lines)


def entries_as_json(entries: list[dict]) -> str:
    return json.dumps(entries, default=str, ensure_ascii=False, indent=2)


# --- replay ----------------------------------------------------------------------------------


@dataclass
class ReplayResult:
    batch_id: str
    entries: int = 0  # entries looked at
    loaded_rows: int = 0
    resolved: int = 0
    still_failing: int = 0
    reasons_changed: int = 0
    new_entries: int = 0
    days: list[date] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"replayed {self.entries} quarantined entries: {self.resolved} left the quarantine "
            f"({self.loaded_rows} rows loaded), {self.still_failing} still fail "
            f"({self.reasons_changed} with a new reason), {self.new_entries} new entries "
            "for records of re-parsed pages that fail the gate"
        )


@dataclass
class _Line:
    """One JSON line to re-check, and the quarantine entry it belongs to."""

    entry_id: str
    text: str
    file: str
    line: int
    # A record of a re-parsed page: it has no entry yet, and gets one only if it fails.
    from_page: bool = False
    source: str | None = None
    target_id: str | None = None


def replay(
    config: Config,
    *,
    source: str | None = None,
    since: date | None = None,
    now: datetime | None = None,
    recompute: bool = True,
) -> ReplayResult:
    """Re-process the entries still quarantined; see the module docstring. With `recompute`,
    the loaded rows are enriched and the marts of the days they fall on recomputed."""
    from repwatch.quality import REASON_DUPLICATE, check_raw_batch

    now = now or datetime.now(UTC)
    entries = read_quarantine(
        config, source=source, since=start_of_day(config, since) if since else None
    )
    result = ReplayResult(batch_id=f"replay-{new_run_id(now)}", entries=len(entries))
    resolved: dict[str, str] = {}
    failed: dict[str, str] = {}
    lines: list[_Line] = []
    for entry in entries:
        if entry["kind"] == QUARANTINE_PAGE:
            records, error = _reparse_page(entry["file"], entry["line"], entry["reason"])
            if error is not None:
                failed[entry["entry_id"]] = error
                continue
            resolved[entry["entry_id"]] = RESOLVED_REPARSED
            lines += [
                _Line(
                    quarantine_entry_id(entry["file"], entry["line"], item),
                    json.dumps(record, ensure_ascii=False),
                    entry["file"],
                    entry["line"],
                    from_page=True,
                    source=entry["source"],
                    target_id=entry["target_id"],
                )
                for item, record in enumerate(records)
            ]
        else:
            lines.append(
                _Line(entry["entry_id"], entry["payload"] or "", entry["file"], entry["line"])
            )

    valid = pd.DataFrame()
    new_entries = []
    if lines:
        with tempfile.TemporaryDirectory(prefix="repwatch-replay-") as folder:
            batch_file = Path(folder) / "replay.jsonl"
            batch_file.write_text("".join(line.text + "\n" for line in lines), encoding="utf-8")
            checked = check_raw_batch([batch_file], now=now)
        # The gate numbers lines from 1 in the order written.
        valid = checked.valid.copy()
        origins = [lines[number - 1] for number in valid["line"]]
        valid["file"] = [origin.file for origin in origins]
        valid["line"] = [origin.line for origin in origins]
        valid["entry_id"] = [None if o.from_page else o.entry_id for o in origins]
        for row in checked.quarantined.itertuples(index=False):
            origin = lines[row.line - 1]
            if row.reason == REASON_DUPLICATE:
                # The gate kept the newest copy of this review; this one has nothing to add.
                if not origin.from_page:
                    resolved[origin.entry_id] = RESOLVED_SUPERSEDED
            elif origin.from_page:
                new_entries.append(
                    {
                        "source": row.source or origin.source,
                        "target_id": row.target_id or origin.target_id,
                        "review_id": row.review_id,
                        "reason": row.reason,
                        "payload": origin.text,
                        "file": origin.file,
                        "line": origin.line,
                        "entry_id": origin.entry_id,
                        "kind": QUARANTINE_ROW,
                    }
                )
            else:
                failed[origin.entry_id] = row.reason
    stored = apply_replay(
        config,
        batch_id=result.batch_id,
        valid=valid,
        resolved=resolved,
        failed=failed,
        new_entries=pd.DataFrame(new_entries),
    )
    result.loaded_rows = stored.loaded
    result.resolved = stored.resolved
    result.still_failing = stored.still_failing
    result.reasons_changed = stored.reasons_changed
    result.new_entries = stored.new_entries
    result.days = stored.days
    if recompute and stored.days:
        from repwatch.pipeline import enrich_reviews, transform_days

        enrich_reviews(config)
        transform_days(config, min(stored.days), max(stored.days))
    return result


def _reparse_page(file: str, line: int, reason: str) -> tuple[list[dict], str | None]:
    """(records, None) when the spider now parses the kept page, else ([], the reason).
    A source without a spider (file drops are read again by their own run) keeps `reason`."""
    from repwatch.quality import REASON_PAGE_FAILED
    from spiders.encoding import PageParseError

    try:
        kept = json.loads(Path(file).read_bytes().split(b"\n")[line - 1])
    except (OSError, IndexError, ValueError) as exc:
        return [], f"kept page unreadable: {exc}"
    stats = crawl_stats_of(file)
    if not stats.get("source"):
        return [], "kept page unreadable: no crawl statistics beside it"
    loader = _spider_loader()
    if stats["source"] not in loader.list():
        return [], reason
    spider_class = loader.load(stats["source"])
    spider = spider_class(**(stats.get("params") or {}), base_url=stats.get("base_url"))
    response = _kept_response(kept.get("url") or "", kept.get("status"), _kept_body(kept))
    crawled_at = stats.get("started_at") or stats.get("finished_at")
    try:
        page = spider.parse_page(response, 1, crawled_at)
    except PageParseError as exc:
        return [], REASON_PAGE_FAILED.format(error=exc)
    except Exception as exc:  # a parser bug is a reason to keep the page, not to stop the replay
        return [], REASON_PAGE_FAILED.format(error=f"{type(exc).__name__}: {exc}")
    return page.records, None


def _spider_loader():
    from scrapy.settings import Settings
    from scrapy.spiderloader import SpiderLoader

    settings = Settings()
    settings.setmodule("spiders.settings", priority="project")
    return SpiderLoader.from_settings(settings)


def _kept_body(kept: dict) -> bytes:
    """The page's bytes: exact when the crawl kept them (not UTF-8, e.g. GBK), else its text."""
    if isinstance(kept.get("body_base64"), str):
        try:
            return base64.b64decode(kept["body_base64"], validate=True)
        except binascii.Error:
            pass
    body = kept.get("body")
    return body.encode("utf-8") if isinstance(body, str) else b""


def _kept_response(url: str, status: int | None, body: bytes):
    """The kept page as Scrapy would have handed it to the spider, its encoding left for the
    spider to sniff as it does for a live page (UTF-8 text, or the exact GBK bytes)."""
    from scrapy.http import HtmlResponse, TextResponse

    is_html = body.lstrip().startswith(b"<")
    content_type = "text/html" if is_html else "application/json"
    return (HtmlResponse if is_html else TextResponse)(
        url=url, status=status or 200, body=body, headers={"Content-Type": content_type}
    )
