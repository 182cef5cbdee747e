"""One writer at a time: an exclusive lock on the data folder for every step that writes the
warehouse.

DuckDB lets one process at a time open a database file for writing; a second process fails
at once ("Could not set lock on file"), wherever it is in its run, and two runs of one period
could otherwise interleave their loads, transforms and sends. So the steps that write the
warehouse (`run_day`, `backfill`, `run_report`, `check_and_load`, `enrich_reviews`,
`transform_days`, `check_quality` in repwatch.pipeline, and so the `repwatch run`, `report`,
`backfill` and `transform` commands and the Airflow tasks that call them) first take an
exclusive advisory lock, flock(2), on `<data_dir>/repwatch.lock`.

Waiting is the default, not stopping: scheduled jobs overlap now and then (a daily run, an
hourly alert check, a weekly report, a backfill started by hand), and the later one should
simply run after the earlier one, as it would have a minute later. A run that finds the lock
taken says whom it waits for, waits up to DEFAULT_WAIT_SECONDS (30 minutes: longer than a
daily run takes) and then stops with RunLocked, whose message names the lock file, when the
holder took it, its pid and what it runs. `wait_seconds=0` stops at once.

The kernel releases the lock when its holder exits, however it exits (kill -9 included), so
a crashed run never blocks the next one. The file stays, holding the last holder's details;
they are only read for messages, never trusted as the lock itself.

Within one process the lock is re-entrant (a run's steps take it again) and it excludes the
process's other threads too. It is advisory: it holds off other repwatch processes, not a
program that writes the warehouse without taking it. Keep the data folder on a local
filesystem: flock over some network filesystems locks only within one machine.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from repwatch.config import Config

LOCK_FILE_NAME = "repwatch.lock"
DEFAULT_WAIT_SECONDS = 30 * 60.0
# How often a waiting process tries again; the holder's exit is noticed within this.
_RETRY_SECONDS = 0.2

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Holder:
    """Who took the lock, as the holder wrote it into the lock file (None: not readable)."""

    pid: int | None = None
    since: str | None = None  # UTC, ISO 8601
    what: str | None = None  # e.g. "run 2026-11-20"
    host: str | None = None

    def describe(self) -> str:
        pid = self.pid if self.pid is not None else "unknown"
        since = self.since or "an unknown time"
        what = f" ({self.what})" if self.what else ""
        host = f" on {self.host}" if self.host and self.host != socket.gethostname() else ""
        return f"since {since}, pid {pid}{host}{what}"


class RunLocked(RuntimeError):
    """Another process held the data folder's lock for longer than this one would wait."""

    def __init__(self, path: Path, holder: Holder, waited_seconds: float):
        self.path = path
        self.holder = holder
        self.waited_seconds = waited_seconds
        super().__init__(
            f"another repwatch run holds {path} {holder.describe()}; gave up after waiting "
            f"{waited_seconds:.0f} s. Let it finish and try again (a run that died left no "
            "lock behind: the kernel released it)"
        )


def lock_path(config: Config) -> Path:
    return config.paths.data_dir / LOCK_FILE_NAME


def read_holder(path: Path) -> Holder:
    """The details the current (or last) holder wrote; empty when there are none yet."""
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Holder()
    if not isinstance(values, dict):
        return Holder()
    pid = values.get("pid")
    return Holder(
        pid=pid if isinstance(pid, int) else None,
        since=str(values["since"]) if values.get("since") else None,
        what=str(values["what"]) if values.get("what") else None,
        host=str(values["host"]) if values.get("host") else None,
    )


class _ProcessLock:
    """The lock file of one data folder as this process holds it: the open file, how many
    nested steps hold it, and a thread lock so that one thread at a time does."""

    def __init__(self) -> None:
        self.threads = threading.RLock()
        self.fd: int | None = None
        self.depth = 0


_locks: dict[Path, _ProcessLock] = {}
_locks_guard = threading.Lock()


def _process_lock(path: Path) -> _ProcessLock:
    with _locks_guard:
        return _locks.setdefault(path, _ProcessLock())


@contextmanager
def run_lock(
    config: Config,
    what: str,
    *,
    wait_seconds: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> Iterator[Path]:
    """Hold the data folder's lock for the duration of the block (see the module docstring).

    `what` says what this process does, for the message another process shows while it
    waits. Waits up to `wait_seconds` (default DEFAULT_WAIT_SECONDS) for another holder,
    telling `progress` (default: a log warning) once whom it waits for; then raises
    RunLocked. Yields the lock file's path."""
    path = lock_path(config)
    wait = DEFAULT_WAIT_SECONDS if wait_seconds is None else max(0.0, wait_seconds)
    started = time.monotonic()
    held = _process_lock(path)
    acquired = held.threads.acquire(timeout=wait) if wait > 0 else held.threads.acquire(False)
    if not acquired:
        raise RunLocked(path, Holder(os.getpid(), what="another thread of this process"), wait)
    try:
        if held.depth == 0:
            held.fd = _take(path, what, wait, started, progress or log.warning)
        held.depth += 1
        try:
            yield path
        finally:
            held.depth -= 1
            if held.depth == 0 and held.fd is not None:
                # Closing the file releases the flock; the details stay for the next reader.
                os.close(held.fd)
                held.fd = None
    finally:
        held.threads.release()


def _take(
    path: Path, what: str, wait: float, started: float, progress: Callable[[str], None]
) -> int:
    """Open and flock the lock file, waiting up to `wait` seconds; write our details."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    told = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= wait:
                    raise RunLocked(path, read_holder(path), waited) from None
                if not told:
                    progress(
                        f"waiting for another repwatch run to finish: it holds {path} "
                        f"{read_holder(path).describe()}; waiting up to {wait:.0f} s"
                    )
                    told = True
                time.sleep(min(_RETRY_SECONDS, max(0.0, wait - waited)))
        details = {
            "pid": os.getpid(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            "what": what,
            "host": socket.gethostname(),
        }
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(details) + "\n").encode("utf-8"), 0)
        except OSError as error:
            # The details only inform others; a full disk must not stop the run here, where
            # it would say nothing of where space ran out.
            log.warning("could not write the lock holder's details to %s: %s", path, error)
        if told:
            progress(f"took {path} after waiting {time.monotonic() - started:.0f} s")
        return fd
    except BaseException:
        os.close(fd)
        raise
