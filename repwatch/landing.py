"""Raw landing: append-only crawl files per source and crawl date.

Layout: `<raw_dir>/<source>/crawl_date=<YYYY-MM-DD>/<run_id>.<target-slug>.jsonl`, each with
its `.rejects.jsonl` and `.stats.json` siblings written by the crawl. Files are never rewritten;
a new crawl adds new files, so any period can be re-derived from what was landed.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def new_run_id(now: datetime | None = None) -> str:
    """Sortable by time, unique across concurrent runs."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def target_slug(target_id: str) -> str:
    return _UNSAFE.sub("_", target_id.replace("&", "__"))[:120]


@dataclass(frozen=True)
class LandingFile:
    source: str
    crawl_date: date
    path: Path

    @property
    def rejects_path(self) -> Path:
        return self.path.with_suffix(".rejects.jsonl")

    @property
    def stats_path(self) -> Path:
        return self.path.with_suffix(".stats.json")


def landing_file(
    raw_dir: Path, source: str, target_id: str, run_id: str, crawl_date: date
) -> LandingFile:
    folder = raw_dir / source / f"crawl_date={crawl_date.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}.{target_slug(target_id)}.jsonl"
    if path.exists():
        raise FileExistsError(f"raw landing is append-only and {path} already exists")
    return LandingFile(source=source, crawl_date=crawl_date, path=path)


def landed_files(
    raw_dir: Path,
    *,
    source: str | None = None,
    from_date: date | None = None,
    to_date: date | None = None,
) -> list[Path]:
    """Record files landed for a source (or all), by crawl date, oldest first."""
    found = []
    for folder in sorted(raw_dir.glob(f"{source or '*'}/crawl_date=*")):
        crawl_date = date.fromisoformat(folder.name.removeprefix("crawl_date="))
        if (from_date and crawl_date < from_date) or (to_date and crawl_date > to_date):
            continue
        found += [
            path
            for path in sorted(folder.glob("*.jsonl"))
            if not path.name.endswith(".rejects.jsonl")
        ]
    return found
