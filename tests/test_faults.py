"""Faults, each provoked for real: the demo site timing out, cutting pages off and trickling
them; the SMTP server down, dying half-way through the recipients and back; `kill -9` during
the load and during the transform; two runs of one day at once; a full disk.

Real parts throughout: the demo site over loopback, SmtpSink (aiosmtpd), DuckDB files, and
`repwatch run` in a process of its own wherever a process has to die or two have to race.
One undisturbed run (a module fixture) is the reference: every disturbed run, once repeated,
must end with the same marts, no duplicate rows and every e-mail sent exactly once.

The moments to strike are found by watching what the run says on stderr (`-v` adds the
library's log lines) or what it has written, never by sleeping.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml

from repwatch.atomic import DiskFullError
from repwatch.config import Config, load_config
from repwatch.demo_site.server import Stall, Trickle, Truncate, running_server
from repwatch.landing import landed_files
from repwatch.locking import RunLocked, lock_path, read_holder, run_lock
from repwatch.mail import DeliveryError
from repwatch.pipeline import run_day
from repwatch.smtp_sink import SmtpSink
from spiders import settings as spider_settings
from tests.conftest import DEMO_CONFIG, DEMO_DAY, demo_base_urls

# A short crawl window keeps every run quick; the drops (read once, spanning months) still
# make a first run load days far outside it.
LOOKBACK_DAYS = 3
# The sources each brand keeps here: enough for every fault, fewer crawl processes.
KEPT_SOURCES = {
    "Acme Shop": ("appstore", "jd", "hackernews", "trustpilot", "files"),
    "RivalMart": ("appstore", "trustpilot"),
}
KEPT_APPSTORE_COUNTRY = "us"
# Only as a guard against a hang: no assertion depends on how long anything takes.
HANG_GUARD_SECONDS = 900
POLL_SECONDS = 0.005

APPSTORE_ACME_FIRST_PAGE = r"^/us/rss/customerreviews/page=1/id=1000001/"
TRUSTPILOT_RIVALMART = r"^/review/rivalmart\.example"
HACKERNEWS_SEARCH = r"^/api/v1/search_by_date$"


# ------------------------------------------------------------------------------ set-up


@pytest.fixture(scope="module", autouse=True)
def _no_repwatch_environment() -> Iterator[None]:
    """Settings in the environment (a data folder, an SMTP host) would override the test's."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("REPWATCH_"):
                patch.delenv(name)
        yield


# Short, so the stalled page's retry comes soon; long enough for a page under load.
DOWNLOAD_TIMEOUT_SECONDS = 5


def write_fault_config(folder: Path, site_url: str, smtp_port: int) -> Path:
    """The demo config with fewer sources, pointed at `site_url` and an SMTP server on
    `smtp_port`, its data folder `folder/data`."""
    settings = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    for brand in settings["brands"]:
        kept = KEPT_SOURCES[brand["name"]]
        brand["sources"] = [source for source in brand["sources"] if source["source"] in kept]
        for source in brand["sources"]:
            if source["source"] == "appstore":
                source["targets"] = [
                    target
                    for target in source["targets"]
                    if target["country"] == KEPT_APPSTORE_COUNTRY
                ]
            for target in source["targets"]:
                if "folder" in target:
                    target["folder"] = str(DEMO_CONFIG.parent / target["folder"])
    settings["crawl"] = {
        **settings["crawl"],
        "base_urls": demo_base_urls(site_url),
        "lookback_days": LOOKBACK_DAYS,
        "download_timeout": DOWNLOAD_TIMEOUT_SECONDS,
    }
    settings["smtp"] = {**settings["smtp"], "host": "127.0.0.1", "port": smtp_port}
    settings["paths"] = {"data_dir": str(folder / "data")}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "repwatch.yaml"
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def marts(config: Config) -> dict[str, list[tuple]]:
    """Every mart table's rows, ordered."""
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        names = [
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables "
                "where table_name like 'mart_%' order by 1"
            ).fetchall()
        ]
        return {
            name: con.execute(f"select * from {name} order by all").fetchall() for name in names
        }


def tables(config: Config) -> set[str]:
    if not config.paths.warehouse.exists():
        return set()
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        return {
            name for (name,) in con.execute("select table_name from duckdb_tables()").fetchall()
        }


def review_keys(config: Config) -> dict[tuple[str, str], set[str]]:
    """Review ids in int_reviews per (source, target)."""
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        rows = con.execute("select source, target_id, review_id from int_reviews").fetchall()
    keys: dict[tuple[str, str], set[str]] = {}
    for source, target_id, review_id in rows:
        keys.setdefault((source, target_id), set()).add(review_id)
    return keys


def duplicate_reviews(config: Config) -> int:
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        return con.execute(
            "select count(*) from (select source, target_id, review_id from int_reviews "
            "group by all having count(*) > 1)"
        ).fetchone()[0]


def ledger(config: Config) -> list[tuple[str, str]]:
    """(recipient, Message-ID) of every send the ledger records, sorted."""
    if "send_ledger" not in tables(config):
        return []
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        return sorted(con.execute("select recipient, message_id from send_ledger").fetchall())


def mails(sink: SmtpSink) -> list[tuple[str, str]]:
    """(recipient, Message-ID) of every message the sink received, in order."""
    return [
        (message["To"].addresses[0].addr_spec, str(message["Message-ID"]))
        for message in sink.messages()
    ]


@dataclass(frozen=True)
class Reference:
    """What the undisturbed run left: marts, reviews per target and the mail it sent."""

    marts: dict[str, list[tuple]]
    reviews: dict[tuple[str, str], set[str]]
    mails: list[tuple[str, str]]


@pytest.fixture(scope="module")
def site() -> Iterator:
    with running_server(last_day=DEMO_DAY) as server:
        yield server


@pytest.fixture(scope="module")
def reference(site, tmp_path_factory) -> Reference:
    folder = tmp_path_factory.mktemp("undisturbed")
    with SmtpSink(out_dir=folder / "mailbox") as sink:
        config = load_config(write_fault_config(folder, site.base_url, sink.port))
        run_day(config, DEMO_DAY)
        sent = mails(sink)
    reference = Reference(marts(config), review_keys(config), sorted(sent))
    assert reference.marts["mart_brand_daily"], "the undisturbed run computed marts"
    assert len(reference.mails) == len(set(reference.mails)) > 0
    return reference


def assert_same_as_undisturbed(config: Config, reference: Reference) -> None:
    assert marts(config) == reference.marts
    assert duplicate_reviews(config) == 0


class RunProcess:
    """`repwatch -v run --date DAY` in a process of its own; its stderr collected line by
    line as it comes (progress lines, and the library's log lines thanks to -v)."""

    def __init__(self, config_path: Path, day: date):
        environment = {k: v for k, v in os.environ.items() if not k.startswith("REPWATCH_")}
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "repwatch", "--config", str(config_path), "-v"),
                *("run", "--date", day.isoformat()),
            ],
            cwd=config_path.parent,  # no .env of the repository
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.process.pid

    def said(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def stderr(self) -> str:
        return "\n".join(self.lines)

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        """Poll `condition` until it holds; fail if the run ends first."""
        deadline = time.monotonic() + HANG_GUARD_SECONDS
        while not condition():
            if self.process.poll() is not None:
                self._reader.join()
                if condition():
                    return
                pytest.fail(f"the run ended before {what}:\n{self.stderr()[-3000:]}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"no {what} within {HANG_GUARD_SECONDS} s:\n{self.stderr()[-3000:]}")
            time.sleep(POLL_SECONDS)

    def kill(self) -> None:
        """SIGKILL, as `kill -9` sends it: no handler, no clean-up in the process."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._reader.join()

    def wait(self) -> int:
        code = self.process.wait(timeout=HANG_GUARD_SECONDS)
        self._reader.join()
        return code


@pytest.fixture
def start_run() -> Iterator[Callable[[Path, date], RunProcess]]:
    """Starts RunProcesses; any still running when the test ends (it failed) is killed."""
    started: list[RunProcess] = []

    def start(config_path: Path, day: date) -> RunProcess:
        started.append(RunProcess(config_path, day))
        return started[-1]

    yield start
    for run in started:
        if run.process.poll() is None:
            run.kill()


# ------------------------------------------------------------- 1. the site misbehaves


@pytest.mark.reliability(
    row="The demo site not answering a page within the download timeout (once), cutting a "
    "target's pages off before their announced Content-Length (always), and trickling a "
    "source's pages a few hundred bytes at a time",
    expected="The timed-out page is asked again after the timeout and arrives; trickled pages "
    "arrive whole; the cut-off target is retried, then recorded as a failed crawl (crawl_runs: "
    "stopped by an error, not complete, its page quarantined with the data-loss error) and "
    "shown as failing in the report's coverage, not as a target without reviews; every other "
    "target delivers the same reviews as an undisturbed run and the report is sent",
)
def test_timeouts_cut_off_and_trickled_pages(reference, tmp_path):
    with (
        running_server(last_day=DEMO_DAY) as server,
        SmtpSink(out_dir=tmp_path / "mailbox") as sink,
    ):
        server.inject(APPSTORE_ACME_FIRST_PAGE, delivery=Stall(), times=1)
        server.inject(TRUSTPILOT_RIVALMART, delivery=Truncate(fraction=0.5), times=1000)
        trickle = Trickle(chunk_bytes=256, interval_seconds=0.02)
        server.inject(HACKERNEWS_SEARCH, delivery=trickle, times=1000)
        config = load_config(write_fault_config(tmp_path, server.base_url, sink.port))
        result = run_day(config, DEMO_DAY)
        seen = list(server.seen)
        daily = sink.messages("daily")
        quality_mail = sink.messages("quality")

    # The page that never came was asked again once the timeout had passed, and arrived.
    stalled, retried = [request for request in seen if "/page=1/id=1000001/" in request.path][:2]
    assert (stalled.fault, retried.fault) == (True, False)
    assert retried.at - stalled.at >= DOWNLOAD_TIMEOUT_SECONDS
    # Trickled pages were served that way, and read whole.
    searches = [request for request in seen if "search_by_date" in request.path]
    assert searches and all(request.fault for request in searches)

    reviews = review_keys(config)
    cut_off = ("trustpilot", "domain=rivalmart.example")
    assert cut_off not in reviews
    others = {key: ids for key, ids in reference.reviews.items() if key != cut_off}
    assert {key: ids for key, ids in reviews.items()} == others

    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        run = con.execute(
            "select requests, items, rejects, stopped_because, complete from crawl_runs "
            "where source = ? and target_id = ?",
            list(cut_off),
        ).fetchone()
        reasons = con.execute(
            "select kind, reason from quarantine where source = ? and target_id = ?",
            list(cut_off),
        ).fetchall()
    requests, items, rejects, stopped_because, complete = run
    tries = 1 + spider_settings.RETRY_TIMES
    assert requests >= tries and (items, rejects) == (0, 1)
    assert (stopped_because, complete) == ("error", False)
    assert [kind for kind, _ in reasons] == ["page"]
    assert "ResponseDataLossError" in reasons[0][1]

    # The report went out and says which target failed; the data engineers were told.
    assert result.sent and len(daily) == len(config.reports.daily.recipients)
    english = [m for m in daily if m["To"].addresses[0].addr_spec == "ceo@acme.example"][0]
    lines = english.get_body(preferencelist=("plain",)).get_content().splitlines()
    assert any(
        line.startswith("! Trustpilot domain=rivalmart.example: no items since the first crawl")
        and "ResponseDataLossError" in line
        for line in lines
    )
    assert any(line.startswith("- Trustpilot (failing): ") for line in lines)
    assert any(line.startswith("- Hacker News (ok): ") for line in lines)
    assert any(line.startswith("- App Store (ok): ") for line in lines)
    to_engineers = [m for m in quality_mail if "trustpilot" in str(m["Subject"])]
    assert [m["To"].addresses[0].addr_spec for m in to_engineers] == ["data-team@acme.example"]


# ------------------------------------------------------------------- 2. SMTP faults


class DyingSink(SmtpSink):
    """The SMTP sink, dying on the message after its first `accept`: it stops listening and
    drops the connection in the middle of that message's DATA, without keeping it."""

    def __init__(self, *, accept: int, **settings):
        super().__init__(**settings)
        self.accept = accept

    def start(self) -> DyingSink:
        super().start()
        handler, controller = self._handler, self._controller
        save = handler.handle_DATA

        async def handle_data(server, session, envelope):
            if len(handler.received) < self.accept:
                return await save(server, session, envelope)
            controller.server.close()  # no more connections
            server.transport.abort()  # and this one gone, the message not kept
            return "421 4.3.2 going down"

        handler.handle_DATA = handle_data
        return self


@pytest.mark.reliability(
    row="The SMTP server down for a whole run, then dying half-way through the report's "
    "recipients, then back",
    expected="Each failing run stops after its retries with a DeliveryError naming "
    "host:port, and the send ledger holds exactly the messages the server accepted; the run "
    "after the server is back sends the rest: every alert and report reaches every recipient "
    "exactly once, as in an undisturbed run",
)
def test_smtp_down_then_dying_half_way_then_back(site, reference, tmp_path):
    port = free_port()  # nothing listens there yet
    config = load_config(write_fault_config(tmp_path, site.base_url, port))
    mailbox = tmp_path / "mailbox"

    with pytest.raises(DeliveryError) as down:
        run_day(config, DEMO_DAY)
    assert f"127.0.0.1:{port}" in str(down.value) and "after 3 attempts" in str(down.value)
    assert ledger(config) == []

    accept = 3  # the two alert e-mails and the first daily report; the second kills it
    assert len(reference.mails) > accept + 1
    with DyingSink(accept=accept, port=port, out_dir=mailbox) as dying:
        with pytest.raises(DeliveryError) as died:
            run_day(config, DEMO_DAY)
        accepted = mails(dying)
    assert f"127.0.0.1:{port}" in str(died.value)
    assert len(accepted) == accept
    assert ledger(config) == sorted(accepted)

    with SmtpSink(port=port, out_dir=mailbox) as back:
        run_day(config, DEMO_DAY)
        rest = mails(back)
    assert sorted(accepted + rest) == reference.mails
    assert ledger(config) == reference.mails
    assert_same_as_undisturbed(config, reference)


# --------------------------------------------------------------------- 3. kill -9


@pytest.mark.reliability(
    row="`kill -9` of `repwatch run` during the load (the warehouse open, nothing committed "
    "yet) and during the transform, then the same run again",
    expected="The killed step left nothing half-done (the load or the transform is absent, "
    "not partial) and the lock died with the process; the re-run loads what the killed run "
    "landed, recomputes every day it had loaded, and ends with marts identical to an "
    "undisturbed run's, no duplicate rows in int_reviews and every e-mail sent once",
)
@pytest.mark.parametrize("moment", ["load", "transform"])
def test_kill_9_during_load_or_transform_then_a_rerun(site, reference, tmp_path, start_run, moment):
    with SmtpSink(out_dir=tmp_path / "mailbox") as sink:
        config_path = write_fault_config(tmp_path, site.base_url, sink.port)
        config = load_config(config_path)
        run = start_run(config_path, DEMO_DAY)
        if moment == "load":
            # The log line comes just before the load; the file appears when it connects.
            run.wait_until(
                lambda: run.said("loading batch") and config.paths.warehouse.exists(),
                "the load",
            )
        else:
            run.wait_until(lambda: run.said("enriched "), "the end of the enrichment")
        run.kill()

        assert landed_files(config.paths.raw_dir), "the crawl had landed its files"
        if moment == "load":
            assert not run.said("checked:")
            assert "load_log" not in tables(config) and "int_reviews" not in tables(config)
        else:
            assert not run.said("transformed ")
            assert "int_reviews" in tables(config)
            assert not {name for name in tables(config) if name.startswith("mart_")}
        assert read_holder(lock_path(config)).pid == run.pid, "the killed run held the lock"

        with pytest.MonkeyPatch.context() as patch:
            # The dead run's lock is gone: not waiting at all must do.
            patch.setattr("repwatch.locking.DEFAULT_WAIT_SECONDS", 0.0)
            run_day(config, DEMO_DAY)
        sent = mails(sink)

    assert_same_as_undisturbed(config, reference)
    assert sorted(sent) == reference.mails


# ------------------------------------------------------------ 4. two runs at once


@pytest.mark.reliability(
    row="Two `repwatch run` of the same day started at once",
    expected="The second says it waits for the first (naming the lock file, the holder's pid "
    "and since when), runs when the first has finished, and sends nothing twice; the "
    "warehouse ends as after one undisturbed run",
)
def test_a_second_run_waits_for_the_first(site, reference, tmp_path, start_run):
    with SmtpSink(out_dir=tmp_path / "mailbox") as sink:
        config_path = write_fault_config(tmp_path, site.base_url, sink.port)
        config = load_config(config_path)
        first = start_run(config_path, DEMO_DAY)
        first.wait_until(lambda: read_holder(lock_path(config)).pid == first.pid, "the lock")
        second = start_run(config_path, DEMO_DAY)
        second.wait_until(lambda: second.said("waiting for another repwatch run"), "waiting")
        assert first.wait() == 0, first.stderr()[-3000:]
        assert second.wait() == 0, second.stderr()[-3000:]
        sent = mails(sink)

    waiting = next(line for line in second.lines if "waiting for another repwatch run" in line)
    assert f"holds {lock_path(config)} since " in waiting
    assert f"pid {first.pid} (run {DEMO_DAY})" in waiting
    took = next(index for index, line in enumerate(second.lines) if line.startswith("took "))
    crawling = next(i for i, line in enumerate(second.lines) if line.startswith("crawling "))
    assert took < crawling, "the second run started its work only once it had the lock"
    assert second.said("mail via smtp: 0 sent, 3 already sent before")
    assert_same_as_undisturbed(config, reference)
    assert sorted(sent) == reference.mails


HOLD_LOCK = """
import sys
from repwatch.config import load_config
from repwatch.locking import run_lock

with run_lock(load_config(sys.argv[1]), "a long backfill"):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.mark.reliability(
    row="A run that cannot wait for the lock (its wait is over), and a lock holder killed "
    "with `kill -9`",
    expected="The run stops before doing anything with RunLocked: 'another repwatch run holds "
    "<data folder>/repwatch.lock since <time>, pid <pid> (<what it runs>)'; once the holder is "
    "killed the lock is free at once (the kernel drops it with the process)",
)
def test_a_run_that_cannot_wait_stops_and_a_killed_holder_frees_the_lock(tmp_path):
    config_path = write_fault_config(tmp_path, "http://127.0.0.1:9", free_port())
    config = load_config(config_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(config_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("repwatch.locking.DEFAULT_WAIT_SECONDS", 0.5)
            with pytest.raises(RunLocked) as locked:
                run_day(config, DEMO_DAY)
        message = str(locked.value)
        assert message.startswith(f"another repwatch run holds {lock_path(config)} since ")
        assert f", pid {holder.pid} (a long backfill)" in message
        assert not config.paths.raw_dir.exists(), "it stopped before crawling"
        assert not config.paths.warehouse.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with run_lock(config, "after the holder died", wait_seconds=0):
        assert read_holder(lock_path(config)).pid == os.getpid()


# ------------------------------------------------------------------- 5. full disk


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 64 MiB tmpfs mounted for the test (needs root, or CAP_SYS_ADMIN)."""
    if shutil.which("mount") is None:
        pytest.skip("no mount command to mount a small tmpfs to fill")
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill ({done.stderr.strip()}): needs root")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=False)


def fill(folder: Path) -> Path:
    """Write a file into `folder` until its filesystem has no space left."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as stream:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    stream.write(b"\0" * size)
            except OSError as error:
                assert error.errno == errno.ENOSPC
    return filler


class FillWhen:
    """A progress callback that fills the disk when the run says `words`."""

    def __init__(self, folder: Path, words: str | None):
        self.folder, self.words = folder, words
        self.filler: Path | None = None
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        if self.words and self.filler is None and line.startswith(self.words):
            self.filler = fill(self.folder)


@pytest.mark.reliability(
    row="A full disk under the data folder: before the crawl (raw landing), before the "
    "transform (the DuckDB file) and before the report (the archive)",
    expected="The run stops with a DiskFullError: 'no space left on device: could not write "
    "<path> …' naming the landing file, the warehouse file or the archive page; what was "
    "landed and loaded before is kept, nothing is e-mailed for an unarchived report, and the "
    "run after space is freed ends with the marts, rows and e-mails of an undisturbed run",
)
def test_a_full_disk_stops_the_run_clearly_and_loses_nothing(site, reference, tmp_path, small_disk):
    with SmtpSink(out_dir=tmp_path / "mailbox") as sink:
        config = load_config(write_fault_config(small_disk, site.base_url, sink.port))
        data_dir = config.paths.data_dir

        # Full before anything: nothing can land.
        data_dir.mkdir()
        filler = fill(data_dir)
        with pytest.raises(DiskFullError) as raw_full:
            run_day(config, DEMO_DAY)
        message = str(raw_full.value)
        assert message.startswith("no space left on device: could not write ")
        assert raw_full.value.path.is_relative_to(config.paths.raw_dir)
        assert str(raw_full.value.path) in message
        assert not config.paths.warehouse.exists()
        filler.unlink()

        # Full once the load and enrichment are done: the transform cannot write.
        before_transform = FillWhen(data_dir, "enriched ")
        with pytest.raises(DiskFullError) as warehouse_full:
            run_day(config, DEMO_DAY, progress=before_transform)
        assert warehouse_full.value.path.name.startswith(config.paths.warehouse.name)
        assert str(warehouse_full.value.path) in str(warehouse_full.value)
        landed = landed_files(config.paths.raw_dir)
        before_transform.filler.unlink()
        assert landed and "int_reviews" in tables(config)
        assert not {name for name in tables(config) if name.startswith("mart_")}

        # Full once the alerts are out: the report cannot be archived, so it is not sent.
        before_report = FillWhen(data_dir, "alert mail:")
        with pytest.raises(DiskFullError) as archive_full:
            run_day(config, DEMO_DAY, progress=before_report)
        assert archive_full.value.path.is_relative_to(config.paths.reports_dir)
        assert not any(line.startswith("mail via") for line in before_report.lines)
        before_report.filler.unlink()
        assert sink.messages("daily") == []
        assert set(landed) <= set(landed_files(config.paths.raw_dir)), "landed files kept"

        run_day(config, DEMO_DAY)
        sent = mails(sink)

    assert_same_as_undisturbed(config, reference)
    assert sorted(sent) == reference.mails
