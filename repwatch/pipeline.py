"""One day's job, step by step: crawl → check → load → transform → check quality → report
→ send.

Each step is a function that the `repwatch` command and the Airflow tasks both call, taking
and returning plain values (paths, dates, dicts) so they can travel between Airflow tasks.

Every step that writes the warehouse holds the data folder's lock (repwatch.locking) while it
runs: a second run waits for the first. A step that runs out of disk space stops with one
DiskFullError naming the path (repwatch.atomic); what was written before stays whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from repwatch.alerts import check_alerts
from repwatch.atomic import DiskFullError, disk_full_path, full_disk_reported
from repwatch.config import Config
from repwatch.landing import landing_file, new_run_id
from repwatch.locking import run_lock
from repwatch.periods import Period, period_containing

if TYPE_CHECKING:
    from repwatch.report import RenderedReport
    from repwatch.warehouse import TransformResult

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@contextmanager
def _exclusive(config: Config, what: str, progress: Progress | None = None) -> Iterator[None]:
    """Hold the data folder's lock for a step that uses the warehouse (DuckDB lets no other
    process open it, even to read, while one writes), and report a full disk met inside it as
    a DiskFullError (naming the data folder when the error names no path)."""
    with run_lock(config, what, progress=progress), full_disk_reported(config.paths.data_dir):
        yield


@dataclass
class DayResult:
    day: date
    landed_files: list[Path] = field(default_factory=list)
    valid_rows: int = 0
    quarantined_rows: int = 0
    archive_path: Path | None = None
    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    transport: str | None = None
    # Data-quality checks of the run (raw, then staging and marts).
    quality: list[QualitySummary] = field(default_factory=list)
    report_withheld: bool = False


@dataclass(frozen=True)
class QualitySummary:
    """What one stage of data-quality checks found; stored in quality_results/quality_runs."""

    run_id: str
    stage: str  # "raw" (raw suites and volume checks) or "warehouse" (staging and marts)
    errors: list[str]
    warnings: list[str]
    docs_index: str | None
    mailed: list[str]

    @property
    def withholds_report(self) -> bool:
        """Errors in staging or marts stop the report; raw errors only stop their rows."""
        return self.stage == "warehouse" and bool(self.errors)

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "stage": self.stage,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "docs_index": self.docs_index,
            "mailed": list(self.mailed),
            "withholds_report": self.withholds_report,
        }


def crawl_targets(
    config: Config,
    *,
    since: date,
    incremental: bool = True,
    run_id: str | None = None,
    progress: Progress = _quiet,
) -> list[Path]:
    """Crawl every configured target, each in its own process, into the raw landing.

    Sources run side by side (different sites); the targets of one source run one after
    another, so each site sees one request at a time. With `incremental`, a target whose
    previous crawl finished cleanly starts from its watermark (less an overlap for late
    replies) when that is newer than `since`; a backfill passes incremental=False to page
    back to `since`. A target whose crawl fails is recorded and the others go on.
    """
    from concurrent.futures import ThreadPoolExecutor

    run_id = run_id or new_run_id()
    watermarks = {}
    if incremental:
        with _exclusive(config, "read crawl watermarks", progress):
            watermarks = _watermarks(config)
    overlap = timedelta(hours=config.crawl.overlap_hours)
    by_source: dict[str, list] = {}
    for brand, source, target in config.targets():
        watermark = watermarks.get((source.source, target.target_id))
        start = max(since, (watermark - overlap).date()) if watermark else since
        by_source.setdefault(source.source, []).append((brand, source, target, start))
    total = sum(len(jobs) for jobs in by_source.values())
    progress(f"crawling {total} targets of {len(by_source)} sources")

    def crawl_source(jobs: list) -> list[Path]:
        return [_crawl_one(config, run_id, *job, progress=progress) for job in jobs]

    with (
        full_disk_reported(config.paths.raw_dir),
        ThreadPoolExecutor(max_workers=config.crawl.parallel_sources) as pool,
    ):
        landed = [path for paths in pool.map(crawl_source, by_source.values()) for path in paths]
    return landed


def _crawl_one(config: Config, run_id: str, brand, source, target, since: date, *, progress):
    from repwatch.crawl import CrawlError, CrawlOptions, crawl_in_subprocess, failed_crawl

    destination = landing_file(
        config.paths.raw_dir, source.source, target.target_id, run_id, datetime.now(UTC).date()
    )
    options = CrawlOptions(
        since=since,
        base_url=config.base_url(source.source),
        user_agent=_user_agent(config),
        download_delay=config.crawl.download_delay,
        download_timeout=config.crawl.download_timeout,
        obey_robots_txt=config.crawl.obey_robots_txt,
        max_pages=config.crawl.max_pages,
        config_path=config.config_file,
    )
    label = f"{source.source} {target.target_id} ({brand.name}) since {since}"
    try:
        stats = crawl_in_subprocess(source.source, target.params, destination.path, options)
    except CrawlError as exc:
        if disk_full_path(exc, destination.path) is not None:
            # Nothing more can land; the other targets would fail the same way.
            raise DiskFullError(destination.path, exc) from exc
        log.error("crawl of %s failed: %s", label, exc)
        progress(f"crawl {label}: FAILED ({str(exc).splitlines()[0]})")
        # Land an empty batch with the failure in its stats: the run is on record.
        with full_disk_reported(destination.path):
            failed_crawl(source.source, target.params, destination.path, options, str(exc))
        return destination.path
    progress(
        f"crawl {label}: {stats.items} items, {stats.rejects} rejected pages, "
        f"stopped: {stats.stopped_because}"
    )
    return destination.path


def _watermarks(config: Config) -> dict[tuple[str, str], datetime]:
    """Newest item seen per (source, target) by crawls that finished cleanly."""
    from repwatch.warehouse import read_watermarks

    return read_watermarks(config)


def _user_agent(config: Config) -> str:
    contact = f"; {config.crawl.contact}" if config.crawl.contact else ""
    agent = config.crawl.user_agent
    return f"{agent[:-1]}{contact})" if agent.endswith(")") and contact else agent + contact


@dataclass(frozen=True)
class CheckedLoad:
    batch_id: str
    valid_rows: int
    quarantined_rows: int
    days: list[date]
    quality: QualitySummary | None = None


def check_and_load(
    config: Config,
    files: list[Path],
    *,
    batch_id: str | None = None,
    include_pending: bool = True,
) -> CheckedLoad:
    """Run the quality gate on landed files and load what passes; quarantine the rest.

    With include_pending, files landed by an earlier run that never got loaded (it died
    after crawling) are loaded too: a drop read once must not be lost with that run. Each such
    run's files are a batch of their own, loaded first, oldest first: this run's crawl of the
    same target then replaces their rows, where one batch holding both crawls would fail the
    gate's check for a review repeated within a batch (and e-mail a false alarm).

    Each source's rows are checked with its raw suite and each crawl run's volume against its
    trailing baseline; the outcomes are stored (quality_results), written to Data Docs, and an
    error e-mails the data engineers. The result adds up every batch loaded; its batch id is
    that of `files`."""
    with _exclusive(config, "load"):
        loads = []
        if include_pending:
            earlier = [path for path in pending_landings(config) if path not in files]
            for run_files in _by_crawl_run(earlier):
                loads.append(_check_and_load(config, run_files, batch_id=None))
        loads.append(_check_and_load(config, files, batch_id=batch_id))
        return _added_up(loads)


def _by_crawl_run(files: list[Path]) -> list[list[Path]]:
    """Landing files grouped by the run that landed them (their name starts with its
    time-ordered id), oldest run first."""
    runs: dict[str, list[Path]] = {}
    for path in files:
        runs.setdefault(path.name.split(".", 1)[0], []).append(path)
    return [runs[run_id] for run_id in sorted(runs)]


def _added_up(loads: list[CheckedLoad]) -> CheckedLoad:
    last = loads[-1]
    if len(loads) == 1:
        return last
    summaries = [load.quality for load in loads if load.quality is not None]
    quality = None
    if summaries:
        quality = QualitySummary(
            run_id=last.batch_id,
            stage="raw",
            errors=[line for summary in summaries for line in summary.errors],
            warnings=[line for summary in summaries for line in summary.warnings],
            docs_index=summaries[-1].docs_index,
            mailed=[address for summary in summaries for address in summary.mailed],
        )
    return CheckedLoad(
        batch_id=last.batch_id,
        valid_rows=sum(load.valid_rows for load in loads),
        quarantined_rows=sum(load.quarantined_rows for load in loads),
        days=sorted({day for load in loads for day in load.days}),
        quality=quality,
    )


def _check_and_load(config: Config, files: list[Path], *, batch_id: str | None) -> CheckedLoad:
    from repwatch.quality import check_raw_batch
    from repwatch.suites import QualityRun
    from repwatch.volume import check_volume
    from repwatch.warehouse import connect, load_batch

    batch_id = batch_id or new_run_id()
    run = QualityRun(batch_id, config.paths.data_dir)
    checked = check_raw_batch(files, now=datetime.now(UTC), run=run)
    # Every file read, page-reject sidecars included, so a reload replaces all their rows.
    files_read = [Path(name) for name in checked.summary["files_read"]]
    log.info(
        "loading batch %s (%d landed files) into %s",
        batch_id,
        len(files_read),
        config.paths.warehouse,
    )
    loaded = load_batch(
        config, checked.valid, checked.quarantined, batch_id=batch_id, files=files_read
    )
    with connect(config) as con:
        run.outcomes += check_volume(con, batch_id, config.quality.volume)
        quality = _record_quality(
            config, con, run, stage="raw", days=loaded.days, quarantined=checked.summary["reasons"]
        )
    return CheckedLoad(batch_id, loaded.valid_rows, loaded.quarantined_rows, loaded.days, quality)


def check_quality(
    config: Config,
    start: date,
    end: date,
    *,
    run_id: str | None = None,
    progress: Progress = _quiet,
) -> QualitySummary:
    """Validate staging (the rows of load `run_id`, else those published start..end) and the
    marts of start..end widened to whole weeks and months; store, document and, on an error,
    e-mail the data engineers. An error here withholds the period's report."""
    from repwatch.suites import QualityRun, check_warehouse
    from repwatch.warehouse import connect, widened_range

    first, last = widened_range(start, end)
    run = QualityRun(run_id or new_run_id(), config.paths.data_dir)
    with _exclusive(config, "check quality", progress), connect(config) as con:
        check_warehouse(con, run, first=first, last=last, batch_id=run_id)
        quarantined = dict(
            con.execute(
                "select reason, count(*) from quarantine where batch_id = ? group by reason",
                [run_id],
            ).fetchall()
        )
        quality = _record_quality(
            config, con, run, stage="warehouse", days=[first, last], quarantined=quarantined
        )
    _say_quality(quality, progress)
    return quality


def _record_quality(config: Config, con, run, *, stage: str, days, quarantined) -> QualitySummary:
    from repwatch.quality import notify_data_engineers, quality_message
    from repwatch.suites import store_outcomes

    docs_index = run.build_docs()
    span = (min(days), max(days)) if days else (None, None)
    store_outcomes(con, run.run_id, stage, run.outcomes, days=span, docs_index=docs_index)
    errors = run.errors
    mailed = []
    if errors:
        for outcome in errors:
            log.error("data quality (%s): %s", stage, outcome.describe())
        message = quality_message(
            run.run_id, stage, errors, quarantined=quarantined, docs_index=docs_index
        )
        mailed = notify_data_engineers(config, con, message)
    return QualitySummary(
        run_id=run.run_id,
        stage=stage,
        errors=[outcome.describe() for outcome in errors],
        warnings=[outcome.describe() for outcome in run.warnings],
        docs_index=str(docs_index) if docs_index else None,
        mailed=mailed,
    )


def _say_quality(quality: QualitySummary, progress: Progress) -> None:
    progress(
        f"data quality ({quality.stage}): {len(quality.errors)} errors, "
        f"{len(quality.warnings)} warnings; Data Docs: {quality.docs_index}"
    )
    for line in quality.errors:
        progress(f"  error: {line}")
    for line in quality.warnings:
        progress(f"  warning: {line}")
    if quality.mailed:
        progress(f"  data-quality e-mail to {', '.join(quality.mailed)}")


def pending_landings(config: Config) -> list[Path]:
    """Record files in the raw landing that no load has taken in yet."""
    from repwatch.landing import landed_files
    from repwatch.warehouse import loaded_files

    loaded = loaded_files(config)
    return [path for path in landed_files(config.paths.raw_dir) if str(path) not in loaded]


def enrich_reviews(config: Config, *, progress: Progress = _quiet) -> int:
    """Annotate reviews not enriched yet (or whose text or enrichment version changed)."""
    from repwatch.enrich import enrich

    with _exclusive(config, "enrich", progress):
        count = enrich(config)
    progress(f"enriched {count} reviews")
    return count


def transform_days(config: Config, start: date, end: date) -> TransformResult | None:
    """Recompute the marts of start..end, widened to whole weeks and months; None before the
    first load."""
    from repwatch.warehouse import transform_period

    with _exclusive(config, f"transform {start} .. {end}"):
        return transform_period(config, start, end)


@dataclass
class ReportRun:
    """What reporting one period did: the archived versions and who was e-mailed."""

    period: Period
    archive_paths: list[Path] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already in the send ledger
    transport: str | None = None


def render_period(config: Config, period: Period) -> list[tuple[RenderedReport, list]]:
    """Every version of the period's report that its recipients need (by language,
    department and brands), each with its recipients, plus the default version (English,
    management order, every brand) for the archive even when nobody receives it."""
    from repwatch.report import Variant, build_context, render_report, render_variants
    from repwatch.warehouse import connect

    with connect(config, read_only=True) as con:
        context = build_context(con, config, period)
    recipients = getattr(config.reports, period.report).recipients
    versions = render_variants(config, period, context, recipients)
    if all(rendered.variant != Variant() for rendered, _ in versions):
        versions.append((render_report(config, period, context), []))
    # The default version first: it is the one a run's summary points at.
    return sorted(versions, key=lambda version: not version[0].variant.is_default)


def run_report(
    config: Config,
    period: Period,
    *,
    send: bool,
    resend: bool = False,
    progress: Progress = _quiet,
) -> ReportRun:
    """Render the daily, weekly or monthly report of `period`, archive every version and,
    when `send`, e-mail each recipient its version once (the send ledger skips anyone who
    already has it unless `resend`)."""
    with _exclusive(config, f"{period.report} report {period}", progress):
        return _run_report(config, period, send=send, resend=resend, progress=progress)


def _run_report(
    config: Config, period: Period, *, send: bool, resend: bool, progress: Progress
) -> ReportRun:
    from repwatch.mail import deliver
    from repwatch.report import write_archive, write_index
    from repwatch.warehouse import connect

    result = ReportRun(period=period)
    versions = render_period(config, period)
    for rendered, _ in versions:
        result.archive_paths.append(write_archive(config, rendered, index=False))
    write_index(config)
    progress(f"{period.report} report {period}: {', '.join(map(str, result.archive_paths))}")
    if not send:
        return result
    with connect(config) as con:
        for rendered, recipients in versions:
            if not recipients:
                continue
            delivery = deliver(config, rendered, con=con, recipients=recipients, resend=resend)
            result.sent += delivery.sent
            result.skipped += delivery.skipped
            result.transport = delivery.transport
    progress(
        f"mail via {result.transport or 'nobody configured'}: {len(result.sent)} sent, "
        f"{len(result.skipped)} already sent before"
    )
    return result


def render_report(config: Config, day: date) -> tuple[RenderedReport, Path]:
    """The default version of the daily report for `day` (English, management order, every
    brand), archived; `run_report` renders and sends every recipient's version."""
    from repwatch.report import build_context, write_archive
    from repwatch.report import render_report as render_version
    from repwatch.warehouse import connect

    period = period_containing("daily", day)
    with _exclusive(config, f"daily report {day}"):
        with connect(config, read_only=True) as con:
            context = build_context(con, config, period)
        rendered = render_version(config, period, context)
        return rendered, write_archive(config, rendered)


def send_report(config: Config, rendered, *, resend: bool = False):
    """E-mail one rendered version to the configured recipients of its report."""
    from repwatch.mail import deliver
    from repwatch.warehouse import connect

    with (
        _exclusive(config, f"send {rendered.report} report {rendered.period}"),
        connect(config) as con,
    ):
        return deliver(config, rendered, con=con, resend=resend)


def crawl_for_day(config: Config, day: date, *, progress: Progress = _quiet) -> list[Path]:
    """Crawl what a daily run of `day` needs: items published since `lookback_days` before it."""
    since = day - timedelta(days=config.crawl.lookback_days)
    return crawl_targets(config, since=since, progress=progress)


def transform_for_day(
    config: Config, day: date, loaded_days: list[date], *, progress: Progress = _quiet
) -> tuple[date, date]:
    """Recompute the crawl window of `day` and any other day whose reviews the load touched."""
    first_day = day - timedelta(days=config.crawl.lookback_days)
    return transform_covering(config, first_day, day, loaded_days, progress=progress)


def transform_covering(
    config: Config, start: date, end: date, loaded_days: list[date], *, progress: Progress
) -> tuple[date, date]:
    """Recompute start..end widened to every day whose reviews the load touched, and to the
    days earlier loads touched that were never transformed (their run died in between)."""
    from repwatch.warehouse import pending_transform_days

    with _exclusive(config, "transform"):
        touched = [*loaded_days, *pending_transform_days(config)]
        start, end = min([start, *touched]), max([end, *touched])
        result = transform_days(config, start, end)
    if result is not None:
        first, last = result.recomputed
        progress(f"transformed {start} .. {end} (whole weeks and months: {first} .. {last})")
    return start, end


def run_day(
    config: Config,
    day: date,
    *,
    send: bool = True,
    resend: bool = False,
    progress: Progress = _quiet,
) -> DayResult:
    """The daily job for one day. Re-running it replaces that day's rows and sends nothing twice.
    Holds the data folder's lock throughout: a second run of any day waits for this one."""
    with _exclusive(config, f"run {day}", progress):
        return _run_day(config, day, send=send, resend=resend, progress=progress)


def _run_day(config: Config, day: date, *, send: bool, resend: bool, progress: Progress):
    result = DayResult(day=day)
    result.landed_files = crawl_for_day(config, day, progress=progress)
    loaded = _check_and_load_into(config, result, progress=progress)
    enrich_reviews(config, progress=progress)
    start, end = transform_for_day(config, day, loaded.days, progress=progress)
    _check_quality_into(config, start, end, loaded, result, progress=progress)
    check_alerts(config, day, send=send, progress=progress)
    _report_and_send(config, day, result, send=send, resend=resend, progress=progress)
    return result


def backfill(
    config: Config,
    start: date,
    end: date,
    *,
    send: bool = False,
    resend: bool = False,
    progress: Progress = _quiet,
) -> list[DayResult]:
    """Crawl once back to `start`, recompute the whole range in one pass, then report each day
    in order. Nothing is e-mailed unless `send` is true."""
    if end < start:
        raise ValueError(f"backfill ends ({end}) before it starts ({start})")
    with _exclusive(config, f"backfill {start} .. {end}", progress):
        return _backfill(config, start, end, send=send, resend=resend, progress=progress)


def _backfill(
    config: Config, start: date, end: date, *, send: bool, resend: bool, progress: Progress
) -> list[DayResult]:
    batch = DayResult(day=start)
    batch.landed_files = crawl_targets(config, since=start, incremental=False, progress=progress)
    loaded = _check_and_load_into(config, batch, progress=progress)
    enrich_reviews(config, progress=progress)
    first, last = transform_covering(config, start, end, loaded.days, progress=progress)
    _check_quality_into(config, first, last, loaded, batch, progress=progress)
    check_alerts(config, end, start=start, send=False, progress=progress)
    results = []
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    for number, day in enumerate(days, start=1):
        progress(f"[{number}/{len(days)}] report {day}")
        day_result = DayResult(day=day, report_withheld=batch.report_withheld)
        _report_and_send(config, day, day_result, send=send, resend=resend, progress=progress)
        results.append(day_result)
    return results


def _check_and_load_into(config: Config, result: DayResult, *, progress: Progress) -> CheckedLoad:
    loaded = check_and_load(config, result.landed_files)
    result.valid_rows, result.quarantined_rows = loaded.valid_rows, loaded.quarantined_rows
    progress(f"checked: {loaded.valid_rows} rows loaded, {loaded.quarantined_rows} quarantined")
    if loaded.quality is not None:
        result.quality.append(loaded.quality)
        _say_quality(loaded.quality, progress)
    return loaded


def _check_quality_into(
    config: Config, start: date, end: date, loaded: CheckedLoad, result: DayResult, *, progress
) -> None:
    quality = check_quality(config, start, end, run_id=loaded.batch_id, progress=progress)
    result.quality.append(quality)
    result.report_withheld = quality.withholds_report


def _report_and_send(
    config: Config, day: date, result: DayResult, *, send: bool, resend: bool, progress: Progress
) -> None:
    if send and result.report_withheld:
        progress("report not sent: data-quality errors in staging or marts (see above)")
        send = False
    run = run_report(
        config, period_containing("daily", day), send=send, resend=resend, progress=progress
    )
    result.archive_path = run.archive_paths[0]
    result.sent, result.skipped, result.transport = run.sent, run.skipped, run.transport
