"""Run one spider for one target and write its records, page rejects and statistics.

Twisted's reactor cannot restart within a process, so each crawl gets a process of its
own: `crawl_in_subprocess` starts `python -m repwatch crawl ...`, which calls
`run_spider` in that fresh process.

Files written next to `out` (records as JSON lines):
    out.with_suffix(".rejects.jsonl")  pages that could not be parsed (always created)
    out.with_suffix(".stats.json")     a CrawlStats
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from repwatch.atomic import write_atomically
from repwatch.config import PROJECT_DIR, Target
from repwatch.records import now_utc_iso

STOP_REASONS = ("empty page", "last page", "older than since", "max pages", "error")
STDERR_TAIL_CHARS = 4000

log = logging.getLogger(__name__)


class CrawlError(Exception):
    """A crawl process that failed; the message ends with the tail of its stderr."""


@dataclass(frozen=True)
class CrawlStats:
    source: str
    target_id: str
    params: dict[str, str]
    since: str | None
    base_url: str | None
    started_at: str
    finished_at: str
    requests: int
    responses: int
    items: int
    rejects: int
    errors: int
    finish_reason: str | None
    stopped_because: str | None
    elapsed_seconds: float | None = None  # the engine's run time, without process start-up
    listing_seconds: float | None = None  # first page requested to last page parsed

    @classmethod
    def of(cls, source: str, params: dict[str, str], options: CrawlOptions, **counts) -> CrawlStats:
        """Stats of a crawl of `source` for `params` with `options`; counts as keywords."""
        return cls(
            source=source,
            target_id=Target(params=params).target_id,
            params=dict(params),
            since=options.since.isoformat() if options.since else None,
            base_url=options.base_url,
            **counts,
        )

    @classmethod
    def from_file(cls, path: Path) -> CrawlStats:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{name: values.get(name) for name in names})

    def to_file(self, path: Path) -> None:
        write_atomically(path, json.dumps(dataclasses.asdict(self), indent=2) + "\n")

    def summary(self) -> str:
        return (
            f"{self.source} {self.target_id}: {self.items} items, {self.rejects} rejected pages, "
            f"{self.requests} requests, stopped: {self.stopped_because or self.finish_reason}"
        )


def rejects_path(out: Path) -> Path:
    return Path(out).with_suffix(".rejects.jsonl")


def stats_path(out: Path) -> Path:
    return Path(out).with_suffix(".stats.json")


@dataclass(frozen=True)
class CrawlOptions:
    """How far back and how politely to crawl; None leaves the spider's own default."""

    since: date | None = None
    base_url: str | None = None
    user_agent: str | None = None
    download_delay: float | None = None
    download_timeout: float | None = None
    obey_robots_txt: bool = True
    max_pages: int | None = None
    http_cache: Path | None = None
    throttle: bool = True  # AutoThrottle; off only for benchmarks and local test servers
    concurrency: int = 1  # requests in flight per site (pages fetched ahead where numbered)
    config_path: Path | None = None  # for sources configured beyond their target (files)

    def spider_arguments(self, params: dict[str, str]) -> dict[str, str]:
        arguments = dict(params)
        if self.since is not None:
            arguments["since"] = self.since.isoformat()
        if self.base_url:
            arguments["base_url"] = self.base_url
        if self.max_pages is not None:
            arguments["max_pages"] = str(self.max_pages)
        return arguments

    def command_options(self) -> list[str]:
        """The same options as `repwatch crawl` flags."""
        flags: list[str] = []
        for flag, value in (
            ("--since", self.since.isoformat() if self.since else None),
            ("--base-url", self.base_url),
            ("--user-agent", self.user_agent),
            ("--download-delay", self.download_delay),
            ("--download-timeout", self.download_timeout),
            ("--max-pages", self.max_pages),
            ("--http-cache", self.http_cache),
        ):
            if value is not None and value != "":
                flags += [flag, str(value)]
        if not self.obey_robots_txt:
            flags.append("--ignore-robots-txt")
        if not self.throttle:
            flags.append("--no-throttle")
        if self.concurrency != 1:
            flags += ["--concurrency", str(self.concurrency)]
        return flags


def run_spider(
    source: str, params: dict[str, str], out: Path, options: CrawlOptions = CrawlOptions()
) -> CrawlStats:
    """Crawl one target in THIS process (once per process: the reactor cannot restart)."""
    if source == "files":  # drops in a local folder: read directly, no Scrapy
        from repwatch.drops import crawl_drops

        return crawl_drops(params, Path(out), options)
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    rejects = rejects_path(out)
    rejects.write_text("", encoding="utf-8")

    settings = Settings()
    settings.setmodule("spiders.settings", priority="project")
    overrides: dict[str, object] = {
        "REPWATCH_RECORDS_FILE": str(part),
        "REPWATCH_REJECTS_FILE": str(rejects),
        "ROBOTSTXT_OBEY": options.obey_robots_txt,
    }
    if options.user_agent:
        overrides["USER_AGENT"] = options.user_agent
    if not options.throttle:
        overrides["AUTOTHROTTLE_ENABLED"] = False
    if options.concurrency != 1:
        overrides["CONCURRENT_REQUESTS_PER_DOMAIN"] = options.concurrency
        overrides["REPWATCH_PREFETCH_PAGES"] = options.concurrency
    if options.http_cache is not None:
        overrides["HTTPCACHE_ENABLED"] = True
        overrides["HTTPCACHE_DIR"] = str(Path(options.http_cache).resolve())
    if options.download_timeout is not None:
        overrides["DOWNLOAD_TIMEOUT"] = options.download_timeout
    if options.download_delay is not None:
        # AutoThrottle starts at the configured delay and never goes below it.
        overrides["DOWNLOAD_DELAY"] = options.download_delay
        overrides["AUTOTHROTTLE_START_DELAY"] = options.download_delay
    settings.setdict(overrides, priority="cmdline")

    started_at = now_utc_iso()
    # The `repwatch` command has configured logging already; a second root handler would
    # print every line twice.
    process = CrawlerProcess(settings, install_root_handler=False)
    # Scrapy filters by LOG_LEVEL only in its handler; without this every item would still be
    # formatted into a DEBUG "Scraped from" record first, which costs more than parsing it.
    logging.getLogger("scrapy").setLevel(settings.get("LOG_LEVEL"))
    crawler = process.create_crawler(source)
    process.crawl(crawler, **options.spider_arguments(params))
    process.start()
    finished_at = now_utc_iso()

    if not part.exists():
        part.write_text("", encoding="utf-8")
    part.replace(out)
    scrapy_stats = crawler.stats.get_stats()
    spider = crawler.spider
    stats = CrawlStats.of(
        source,
        params,
        options,
        started_at=started_at,
        finished_at=finished_at,
        requests=scrapy_stats.get("downloader/request_count", 0),
        responses=scrapy_stats.get("downloader/response_count", 0),
        items=scrapy_stats.get("item_scraped_count", 0),
        rejects=scrapy_stats.get("repwatch/page_rejects", 0),
        errors=scrapy_stats.get("log_count/ERROR", 0),
        finish_reason=scrapy_stats.get("finish_reason"),
        stopped_because=getattr(spider, "stopped_because", None),
        elapsed_seconds=scrapy_stats.get("elapsed_time_seconds"),
        listing_seconds=getattr(spider, "listing_seconds", None),
    )
    stats.to_file(stats_path(out))
    return stats


def crawl_in_subprocess(
    source: str, params: dict[str, str], out: Path, options: CrawlOptions = CrawlOptions()
) -> CrawlStats:
    """Crawl one target in a fresh process; raises CrawlError when it fails."""
    out = Path(out).resolve()
    stats_file = stats_path(out)
    stats_file.unlink(missing_ok=True)
    config_flag = ["--config", str(options.config_path)] if options.config_path else []
    command = [sys.executable, "-m", "repwatch", *config_flag, "crawl", source, "--out", str(out)]
    for key, value in params.items():
        command += ["--target", f"{key}={value}"]
    command += options.command_options()
    # The spiders package lives beside the library; make it importable from any directory.
    python_path = os.pathsep.join(
        part for part in (str(PROJECT_DIR), os.environ.get("PYTHONPATH")) if part
    )
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        env={**os.environ, "PYTHONPATH": python_path},
        check=False,
    )
    if completed.returncode != 0 or not stats_file.exists():
        tail = completed.stderr[-STDERR_TAIL_CHARS:]
        raise CrawlError(
            f"crawl of {source} {Target(params=params).target_id} failed "
            f"(exit code {completed.returncode}):\n{tail}"
        )
    stats = CrawlStats.from_file(stats_file)
    log.info("%s", stats.summary())
    return stats


def failed_crawl(
    source: str, params: dict[str, str], out: Path, options: CrawlOptions, error: str
) -> CrawlStats:
    """Write the files of a crawl whose process failed: no records, and stats that say why."""
    out = Path(out)
    out.write_text("", encoding="utf-8")
    rejects_path(out).write_text("", encoding="utf-8")
    now = now_utc_iso()
    stats = CrawlStats.of(
        source,
        params,
        options,
        started_at=now,
        finished_at=now,
        requests=0,
        responses=0,
        items=0,
        rejects=0,
        errors=1,
        finish_reason=f"crawl process failed: {error[-500:]}",
        stopped_because="error",
    )
    stats.to_file(stats_path(out))
    return stats
