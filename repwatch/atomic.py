"""Writing files so that a reader, or a crash, never leaves half of one behind; and saying
clearly when a write failed because the disk is full."""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Quota exhaustion reads the same to whoever has to make room.
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_FULL_TEXT = re.compile(r"No space left on device|Disk quota exceeded|\[Errno (28|122)\]")
# DuckDB names the file it could not write: 'Could not write file "<path>": No space ...'.
_DUCKDB_PATH = re.compile(r'(?:write|open|create|extend) file "([^"]+)"')


class DiskFullError(OSError):
    """A write failed for lack of space. The message names the path, the free space left on
    its filesystem and the cause; `path` holds the path."""

    def __init__(self, path: Path, cause: BaseException):
        self.path = Path(path)
        self.cause = cause
        super().__init__(
            errno.ENOSPC,
            f"no space left on device: could not write {self.path} "
            f"({_free_bytes(self.path):,} bytes free on its filesystem); the run stopped there. "
            "Files written before are whole and the warehouse keeps its last committed state: "
            f"free some space and run again. Cause: {_cause_summary(cause)}",
        )

    def __str__(self) -> str:
        return self.strerror


def write_atomically(path: Path, data: str | bytes) -> None:
    """Write to a unique temporary file beside `path`, flush it to disk, then rename it over
    `path`: a reader sees the old or the new file, never part of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, part = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data.encode("utf-8") if isinstance(data, str) else data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(part, path)
    except OSError as error:
        Path(part).unlink(missing_ok=True)
        if error.filename is None:
            # A failed write(2) names no file; say which one it was.
            error.filename = str(path)
        raise
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise


def disk_full_path(error: BaseException, fallback: Path) -> Path | None:
    """The path a write ran out of space on, when `error` (or an error it was raised from or
    while handling) is a full disk; `fallback` when that error names no path; else None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DiskFullError):
            return current.path
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            return Path(current.filename) if current.filename else fallback
        text = str(current)
        if _FULL_TEXT.search(text):
            named = _DUCKDB_PATH.search(text)
            return Path(named.group(1)) if named else fallback
        current = current.__cause__ or current.__context__
    return None


@contextmanager
def full_disk_reported(fallback: Path) -> Iterator[None]:
    """Turn a full-disk failure inside the block into one DiskFullError naming the path
    (`fallback` when the failure names none); other errors pass unchanged."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as error:
        path = disk_full_path(error, fallback)
        if path is None:
            raise
        raise DiskFullError(path, error) from error


def _cause_summary(cause: BaseException) -> str:
    """The cause's first line, and the line saying the disk is full when that comes later
    (a crawl process's error ends with the tail of its stderr)."""
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    first = f"{type(cause).__name__}: {lines[0] if lines else ''}"
    full = [line for line in lines[1:] if _FULL_TEXT.search(line)]
    return f"{first} … {full[-1]}" if full else first


def _free_bytes(path: Path) -> int:
    for folder in (path, *path.parents):
        try:
            stats = os.statvfs(folder)
        except OSError:
            continue
        return stats.f_bavail * stats.f_frsize
    return 0
