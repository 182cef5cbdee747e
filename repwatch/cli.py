"""The `repwatch` command: everything a DAG does, runnable by hand for debugging and backfills."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click

from repwatch.config import Config, ConfigError, default_config_path, load_config


def _yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


class _Date(click.ParamType):
    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx):
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date like 2026-11-26", param, ctx)


DATE = _Date()


def _load(ctx: click.Context) -> Config:
    path = ctx.obj["config_path"]
    try:
        return load_config(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _say(message: str) -> None:
    click.echo(message, err=True)


def _is_operational_error(error: Exception) -> bool:
    """Failures a data engineer acts on from the message alone: another run holds the data
    folder, a full disk, a mail server that would not take the report."""
    from repwatch.atomic import DiskFullError
    from repwatch.locking import RunLocked

    known: tuple[type[Exception], ...] = (DiskFullError, RunLocked)
    mail = sys.modules.get("repwatch.mail")  # loaded whenever a DeliveryError can exist
    if mail is not None:
        known += (mail.DeliveryError,)
    return isinstance(error, known)


class _Commands(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as error:
            if _is_operational_error(error):
                raise click.ClickException(str(error)) from None
            raise


@click.group(cls=_Commands)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Config file (default: $REPWATCH_CONFIG or ./repwatch.yaml).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
@click.version_option(package_name="repwatch")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, verbose: bool) -> None:
    """Watch what customers say online; turn it into metrics, warnings and e-mailed reports."""
    from dotenv import load_dotenv

    # Secrets and overrides may live in ./.env (ignored by git); the real environment wins.
    load_dotenv(Path.cwd() / ".env", override=False)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path or default_config_path()


@main.command()
@click.option(
    "--date", "day", type=DATE, default=None, help="Day to report (default: yesterday, UTC)."
)
@click.option("--send/--no-send", default=True, help="E-mail the report (default: send).")
@click.option("--resend", is_flag=True, help="Send again even to recipients who already got it.")
@click.pass_context
def run(ctx: click.Context, day: date | None, send: bool, resend: bool) -> None:
    """Crawl, check, load, transform, report and send for one day."""
    from repwatch.pipeline import run_day

    result = run_day(_load(ctx), day or _yesterday(), send=send, resend=resend, progress=_say)
    click.echo(f"report: {result.archive_path}")


@main.command()
@click.argument("report_name", metavar="REPORT", type=click.Choice(["daily", "weekly", "monthly"]))
@click.option(
    "--period",
    "label",
    default=None,
    help="2026-11-27 (daily), 2026-W48 (weekly), 2026-11 (monthly), or any day in the period "
    "(default: the last complete period).",
)
@click.option("--send/--no-send", default=True, help="E-mail the report (default: send).")
@click.option("--resend", is_flag=True, help="Send again even to recipients who already got it.")
@click.pass_context
def report(ctx: click.Context, report_name: str, label: str | None, send: bool, resend: bool):
    """Render, archive and e-mail one report from what the warehouse holds (no crawl): what
    the weekly and monthly DAGs run. Each recipient gets their language and department's
    version once."""
    from repwatch.periods import last_complete_period, parse_period
    from repwatch.pipeline import run_report

    config = _load(ctx)
    today = _yesterday() + timedelta(days=1)
    try:
        period = (
            parse_period(report_name, label) if label else last_complete_period(report_name, today)
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from None
    result = run_report(config, period, send=send, resend=resend, progress=_say)
    for path in result.archive_paths:
        click.echo(f"report: {path}")


@main.command()
@click.option("--from", "start", type=DATE, required=True)
@click.option("--to", "end", type=DATE, required=True)
@click.option("--send", is_flag=True, help="Also e-mail each day's report (off by default).")
@click.pass_context
def backfill(ctx: click.Context, start: date, end: date, send: bool) -> None:
    """Re-crawl and recompute a range of days, reporting each day in order."""
    from repwatch.pipeline import backfill as run_backfill

    if end < start:
        raise click.BadParameter("--to is before --from")
    results = run_backfill(_load(ctx), start, end, send=send, progress=_say)
    click.echo(f"{len(results)} days reported, last: {results[-1].archive_path}")


@main.command()
@click.option("--from", "start", type=DATE, required=True)
@click.option("--to", "end", type=DATE, required=True)
@click.pass_context
def transform(ctx: click.Context, start: date, end: date) -> None:
    """Recompute the marts for a range of days from what is loaded, in one pass and one
    transaction; the range widens to the whole weeks and months it touches."""
    from repwatch.pipeline import transform_days

    if end < start:
        raise click.BadParameter("--to is before --from")
    result = transform_days(_load(ctx), start, end)
    if result is None:
        raise click.ClickException("nothing loaded yet: run `repwatch run` first")
    first, last = result.recomputed
    click.echo(f"transformed {start} .. {end} (whole weeks and months: {first} .. {last})")


def _parse_targets(values: tuple[str, ...]) -> dict[str, str]:
    params = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r}: expected key=value", param_hint="--target")
        params[key] = val
    return params


@main.command()
@click.argument("source")
@click.option("--target", "targets", multiple=True, required=True, help="key=value, repeatable.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="JSON-lines output.")
@click.option("--since", type=DATE, default=None, help="Stop at items older than this day.")
@click.option("--base-url", default=None, help="Crawl this host instead of the real site.")
@click.option("--user-agent", default=None)
@click.option("--download-delay", type=float, default=None, help="Seconds between requests.")
@click.option("--download-timeout", type=float, default=None, help="Seconds to wait for a page.")
@click.option("--max-pages", type=click.IntRange(min=1), default=None, help="Page limit.")
@click.option(
    "--http-cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Development: store responses in this folder and replay them on the next run.",
)
@click.option("--ignore-robots-txt", is_flag=True, help="For local test servers only.")
@click.option("--no-throttle", is_flag=True, help="AutoThrottle off: benchmarks, local servers.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 32),
    default=1,
    show_default=True,
    help="Requests in flight per site; above 1 only where the site allows it.",
)
def crawl(
    source: str,
    targets: tuple[str, ...],
    out: Path,
    since: date | None,
    base_url: str | None,
    user_agent: str | None,
    download_delay: float | None,
    download_timeout: float | None,
    max_pages: int | None,
    http_cache: Path | None,
    ignore_robots_txt: bool,
    no_throttle: bool,
    concurrency: int,
) -> None:
    """Crawl one target of one source into a JSON-lines file (in this process)."""
    config_path = click.get_current_context().find_root().obj["config_path"]
    from repwatch.crawl import CrawlOptions, run_spider

    options = CrawlOptions(
        since=since,
        base_url=base_url,
        user_agent=user_agent,
        download_delay=download_delay,
        download_timeout=download_timeout,
        obey_robots_txt=not ignore_robots_txt,
        max_pages=max_pages,
        http_cache=http_cache,
        throttle=not no_throttle,
        concurrency=concurrency,
        config_path=Path(config_path),
    )
    stats = run_spider(source, _parse_targets(targets), out, options)
    click.echo(
        f"{source}: {stats.items} items, {stats.rejects} rejected pages, "
        f"{stats.requests} requests, stopped: {stats.stopped_because} -> {out}"
    )


def _parse_breaks(values: tuple[str, ...]) -> dict[str, str]:
    from repwatch.demo_site.routing import site_names
    from repwatch.demo_site.server import BREAK_MODES

    broken = {}
    for value in values:
        source, _, mode = value.partition("=")
        if source not in site_names() or mode not in BREAK_MODES:
            raise click.BadParameter(
                f"{value!r}: expected SOURCE=MODE, SOURCE one of {', '.join(site_names())}, "
                f"MODE one of {', '.join(BREAK_MODES)}",
                param_hint="--break",
            )
        broken[source] = mode
    return broken


@main.command("demo-site")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0 in a container, so other containers reach it).",
)
@click.option("--port", type=int, default=8808, show_default=True)
@click.option("--last-day", type=DATE, default=None, help="Newest day served (default: yesterday).")
@click.option(
    "--break",
    "breaks",
    multiple=True,
    metavar="SOURCE=markup|empty|errors",
    help="Serve a source broken: changed markup, empty pages or HTTP errors (repeatable).",
)
def demo_site(host: str, port: int, last_day: date | None, breaks: tuple[str, ...]) -> None:
    """Serve the demo review site until interrupted."""
    from repwatch.demo_site.server import serve_forever

    serve_forever(port, last_day=last_day, broken=_parse_breaks(breaks), host=host)


@main.group("quarantine")
def quarantine_group() -> None:
    """Rows and pages the quality gate set aside: list them, replay them after a fix."""


@quarantine_group.command("list")
@click.option("--source", default=None, help="Only this source.")
@click.option("--since", type=DATE, default=None, help="Quarantined on or after this day.")
@click.option("--reason", default=None, help="Reason contains this text (any case).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Newest N entries.")
@click.option("--include-replayed", is_flag=True, help="Also entries that left by a replay.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@click.pass_context
def quarantine_list(
    ctx: click.Context,
    source: str | None,
    since: date | None,
    reason: str | None,
    limit: int | None,
    include_replayed: bool,
    as_json: bool,
) -> None:
    """Quarantined entries, newest first: when, source, target, reason, file:line, payload;
    counts per reason at the end."""
    from repwatch.quarantine import entries_as_json, format_entries, start_of_day
    from repwatch.warehouse import read_quarantine

    config = _load(ctx.find_root())
    entries = read_quarantine(
        config,
        source=source,
        since=start_of_day(config, since) if since else None,
        reason=reason,
        include_replayed=include_replayed,
        limit=limit,
    )
    click.echo(entries_as_json(entries) if as_json else format_entries(config, entries))


@quarantine_group.command("replay")
@click.option("--source", default=None, help="Only this source.")
@click.option("--since", type=DATE, default=None, help="Quarantined on or after this day.")
@click.pass_context
def quarantine_replay(ctx: click.Context, source: str | None, since: date | None) -> None:
    """Re-check quarantined rows and re-parse quarantined pages (after a parser fix): what
    passes is loaded and leaves the quarantine, the rest stays with its current reason.
    Running it again changes nothing."""
    from repwatch.locking import run_lock
    from repwatch.quarantine import replay

    config = _load(ctx.find_root())
    with run_lock(config, "repwatch quarantine replay", progress=_say):
        result = replay(config, source=source, since=since)
    click.echo(result.summary())
    if result.days:
        click.echo(f"recomputed the marts of {result.days[0]} .. {result.days[-1]}")


@main.command("smtp-sink")
@click.option("--port", type=int, default=8025, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("data/mailbox"))
def smtp_sink(port: int, out: Path) -> None:
    """Run a local SMTP server that saves every message it receives as an .eml file."""
    from repwatch.smtp_sink import serve_forever

    def announce(sink) -> None:
        click.echo(f"SMTP sink on 127.0.0.1:{sink.port}, saving to {out} (Ctrl-C stops)", err=True)

    serve_forever("127.0.0.1", port, out, on_ready=announce)


@main.command()
@click.option("--date", "day", type=DATE, default=None, help="Day to report (default: yesterday).")
@click.pass_context
def demo(ctx: click.Context, day: date | None) -> None:
    """Run the whole daily job against the local demo site and a local SMTP server."""
    from repwatch.demo import run_demo, subject_of

    try:
        outcome = run_demo(_load(ctx), day or _yesterday(), progress=_say)
    except OSError as exc:
        raise click.ClickException(f"cannot start the demo servers: {exc}") from None
    click.echo("")
    click.echo(f"Report (archive): {outcome.archive_path}")
    click.echo(f"Report index:     {outcome.index_path}")
    for path in outcome.received:
        click.echo(f"E-mail received:  {path.name}: {subject_of(path)}")
    if outcome.received:
        click.echo(f"Mailbox:          {outcome.received[0].parent}")
    click.echo(f"Daily headline:   {outcome.subject}")


@main.command()
@click.option(
    "--mailbox",
    "mailbox_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Folder of .eml files: the SMTP sink's mailbox or the outbox (default: the "
    "data folder's mailbox).",
)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None)
@click.pass_context
def screenshots(ctx: click.Context, mailbox_dir: Path | None, out_dir: Path | None) -> None:
    """Render every e-mail of a folder in headless Chromium at phone and desktop width, as a
    mail client would (no scripts, no network), and fail if an image is broken."""
    from repwatch.screenshot import BrokenImagesError, ScreenshotError, screenshot_mailbox

    data_dir = _load(ctx).paths.data_dir
    mailbox_dir = mailbox_dir or data_dir / "mailbox"
    out_dir = out_dir or data_dir / "screenshots"
    try:
        written = screenshot_mailbox(mailbox_dir, out_dir)
    except BrokenImagesError as exc:
        for name, sources in sorted(exc.broken.items()):
            _say(f"{name}: broken images: {', '.join(sources)}")
        raise click.ClickException(f"{len(exc.broken)} e-mails with broken images") from None
    except ScreenshotError as exc:
        raise click.ClickException(str(exc)) from None
    for path in written:
        click.echo(f"screenshot: {path}")


@main.command("demo-data")
@click.option(
    "--reviews",
    "items",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="Items to generate: reviews, mentions, complaints and survey answers.",
)
@click.option("--days", type=click.IntRange(min=1), default=730, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same warehouse.")
@click.option("--last-day", type=DATE, default=None, help="Newest day (default: yesterday, UTC).")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the warehouse into this folder (default: the config's data folder).",
)
@click.option(
    "--out-config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a copy of the config whose data folder is the generated one.",
)
@click.option("--replace", is_flag=True, help="Overwrite an existing warehouse.")
@click.option(
    "--transform/--no-transform", default=True, help="Compute the marts afterwards (default: yes)."
)
@click.pass_context
def demo_data(
    ctx: click.Context,
    items: int,
    days: int,
    seed: int,
    last_day: date | None,
    data_dir: Path | None,
    out_config: Path | None,
    replace: bool,
    transform: bool,
) -> None:
    """Generate a realistic warehouse of any size for the config's brands and sources."""
    from repwatch.config import Paths
    from repwatch.demo_data import generate, save_config

    config = _load(ctx)
    if data_dir is not None:
        config = config.model_copy(update={"paths": Paths(data_dir=data_dir.resolve())})
    last_day = last_day or _yesterday()
    try:
        summary = generate(
            config, items=items, days=days, last_day=last_day, seed=seed, replace=replace
        )
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from None
    kinds = ", ".join(f"{count:,} {kind}s" for kind, count in summary.by_record_type.items())
    _say(
        f"generated {kinds} ({summary.first_day} .. {summary.last_day}) in {summary.seconds:.1f} s"
    )
    if transform:
        from repwatch.pipeline import transform_days

        transform_days(config, summary.first_day, summary.last_day)
        _say(f"transformed {summary.first_day} .. {summary.last_day}")
    if out_config is not None:
        save_config(config, out_config)
        _say(f"config for this warehouse: {out_config}")
    click.echo(summary.warehouse)


@main.command()
@click.option("--only", multiple=True, help="Run only this benchmark module (repeatable).")
@click.option("--runs", type=click.IntRange(min=1), default=3, show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("data/bench/results.json"),
    show_default=True,
)
def bench(only: tuple[str, ...], runs: int, out: Path) -> None:
    """Measure every performance figure against its target and its peer."""
    import tempfile

    from repwatch import bench as benchmarks

    with tempfile.TemporaryDirectory(prefix="repwatch-bench-") as work_dir:
        context = benchmarks.Context(runs=runs, work_dir=Path(work_dir))
        rows = benchmarks.run(context, only)
    click.echo(benchmarks.format_table(rows))
    benchmarks.write_results(rows, out)
    click.echo(f"\n{sum(row.ok for row in rows)} of {len(rows)} targets met; results in {out}")


@main.command()
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@click.option(
    "--rules",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Problem-type rules file (default: the shipped rules).",
)
def classify(source, rules: Path | None) -> None:
    """Annotate texts: plain lines or JSON lines with `text` (and optional `title`, `rating`),
    from FILE or standard input; one JSON line out per item."""
    from repwatch.enrich import classify as annotate
    from repwatch.enrich import read_items

    items = read_items(source)
    for item, annotation in zip(items, annotate(items, rules_path=rules), strict=True):
        click.echo(json.dumps({"text": item.get("text"), **annotation}, ensure_ascii=False))


@main.command()
@click.option("--from", "start", type=DATE, required=True)
@click.option("--to", "end", type=DATE, required=True)
@click.pass_context
def reenrich(ctx: click.Context, start: date, end: date) -> None:
    """Annotate again the reviews of a range of days, e.g. after a model or rule change;
    then run `repwatch transform` for the same range."""
    from repwatch.enrich import enrich
    from repwatch.locking import run_lock

    config = _load(ctx)
    with run_lock(config, f"repwatch reenrich {start} .. {end}", progress=_say):
        count = enrich(config, start=start, end=end)
    click.echo(f"re-enriched {count} reviews published {start} .. {end}")


@main.command("train-sentiment")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the model (default: the shipped repwatch/nlp/models file).",
)
def train_sentiment(out: Path | None) -> None:
    """Rebuild the sentiment model from the labelled data in the repository (fixed seed)."""
    from repwatch.nlp import train

    train.main([str(out)] if out else [])


@main.group("alerts")
def alerts_group() -> None:
    """Early-warning alerts: evaluate the rules and e-mail what fired."""


@alerts_group.command("check")
@click.option(
    "--date", "day", type=DATE, default=None, help="Day to check (default: today, config zone)."
)
@click.option("--from", "start", type=DATE, default=None, help="Evaluate from this day on.")
@click.option("--send/--no-send", default=True, help="E-mail new alerts (default: send).")
@click.option(
    "--crawl-mentions",
    is_flag=True,
    help="First crawl the mention sources incrementally, load and transform the day "
    "(what the hourly repwatch_alerts DAG does).",
)
@click.pass_context
def alerts_check(
    ctx: click.Context, day: date | None, start: date | None, send: bool, crawl_mentions: bool
) -> None:
    """Evaluate the alert rules on the warehouse as it is (run hourly after a load) and
    notify the alerts of the day; re-running sends nothing twice."""
    from zoneinfo import ZoneInfo

    from repwatch.alerts import check_alerts, describe

    config = _load(ctx.find_root())
    day = day or datetime.now(ZoneInfo(config.timezone)).date()
    if start is not None and start > day:
        raise click.BadParameter("--from is after --date")
    from repwatch.locking import run_lock

    with run_lock(config, f"repwatch alerts check {day}", progress=_say):
        if crawl_mentions:
            from repwatch.orchestration import refresh_mentions

            _say(f"mention sources: {refresh_mentions(config, day, progress=_say)} rows loaded")
        result = check_alerts(config, day, send=send, start=start, progress=_say)
    if result.evaluated is None:
        raise click.ClickException("nothing transformed yet: run `repwatch run` first")
    click.echo(f"{result.fired} alerts fired {result.evaluated[0]} .. {day}")
    for notice in result.notices:
        alert = notice.alert
        click.echo(f"{notice.kind}: {alert.brand} · {alert.source}: {describe(alert)['sentence']}")


@main.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@click.pass_context
def config_check(ctx: click.Context) -> None:
    """Validate the config file and say what it watches."""
    config = _load(ctx.find_root())
    click.echo(
        f"{config.config_file}: OK — {len(config.brands)} brands, "
        f"{len(config.targets())} crawl targets"
    )


@config_group.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the effective config as JSON, secrets masked."""
    from repwatch.config import shown_config

    shown = shown_config(_load(ctx.find_root()))
    click.echo(json.dumps(shown, indent=2, ensure_ascii=False))


def run_cli() -> None:
    main(prog_name="repwatch")


if __name__ == "__main__":
    sys.exit(run_cli())
