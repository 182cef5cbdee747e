"""`repwatch demo`: the daily job end to end on the embedded defaults.

Starts the demo review site and a local SMTP server on the ports the config points at,
runs the day, then the weekly and monthly reports of the newest complete week and month,
and returns where the reports and the received e-mails are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from repwatch.config import Config
from repwatch.periods import last_complete_period
from repwatch.pipeline import Progress, run_day, run_report


@dataclass
class DemoOutcome:
    archive_path: Path
    index_path: Path
    subject: str
    received: list[Path] = field(default_factory=list)


def _demo_site_port(config: Config) -> int:
    base_url = config.base_url("appstore")
    parts = urlsplit(base_url or "")
    if parts.hostname not in ("127.0.0.1", "localhost") or not parts.port:
        raise ValueError(
            f"{config.config_file}: crawl.base_urls.appstore must point at 127.0.0.1:<port> "
            f"for the demo (it is {base_url!r})"
        )
    return parts.port


def run_demo(config: Config, day: date, *, progress: Progress) -> DemoOutcome:
    from repwatch.demo_site.server import serve_in_thread
    from repwatch.smtp_sink import SmtpSink

    if not config.smtp.host:
        raise ValueError(f"{config.config_file}: smtp.host must be set for the demo")
    mailbox = config.paths.data_dir / "mailbox"
    with (
        serve_in_thread(port=_demo_site_port(config), last_day=day) as site_url,
        SmtpSink(host=config.smtp.host, port=config.smtp.port, out_dir=mailbox) as sink,
    ):
        progress(f"demo review site: {site_url}; SMTP server: {config.smtp.host}:{sink.port}")
        before = len(sink.received)
        result = run_day(config, day, send=True, progress=progress)
        # The management reports of the newest week and month the demo site's history covers.
        for report in ("weekly", "monthly"):
            period = last_complete_period(report, day + timedelta(days=1))
            run_report(config, period, send=True, progress=progress)
        # The sink saves a message before it accepts it, so all are on disk by now.
        received = list(sink.received[before:])
    daily = [eml for eml in received if "-daily." in eml.name]
    subject = subject_of(daily[0]) if daily else "(no new daily mail: already sent for this day)"
    return DemoOutcome(
        archive_path=result.archive_path,
        index_path=config.paths.reports_dir / "index.html",
        subject=subject,
        received=received,
    )


def subject_of(eml: Path) -> str:
    from email import policy
    from email.parser import BytesParser

    with eml.open("rb") as handle:
        return str(BytesParser(policy=policy.default).parse(handle)["Subject"])
