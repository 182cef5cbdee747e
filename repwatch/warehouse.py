"""The DuckDB warehouse: loading checked batches and running the SQL models in transforms/.

Each model file declares how it is materialised in its header:
- `temp`: built in memory for the run, for the models after it (never stored);
- `table`: rebuilt from scratch on each run;
- `upsert(k1, k2)`: rows whose key appears in the new result replace the stored ones;
- `period(col)`: rows whose `col` falls in the range being processed are replaced;
- `period(start_col, end_col)`: rows whose period lies wholly inside the range are replaced
  (the multi-grain marts: a day, an ISO week or a month per row).
A period model must return only rows of its range; the runner checks. So re-running any load or
range replaces rows and never adds duplicates. Everything a run changes happens in one
transaction: a crash leaves the previous state.

A load records the days it touched in `pending_transform_days`; the transform that recomputes
them clears them in its own transaction. So when a process dies (or the disk fills) between a
load and its transform, the next run still finds those days and recomputes them.

`transform_period` widens a requested range to whole ISO weeks and calendar months, so every
week and month it touches is recomputed from all of its days, in one set-based pass.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from repwatch.config import PROJECT_DIR, Config

TRANSFORMS_DIR = PROJECT_DIR / "transforms"
# Order of execution for a load and for a period; a model comes after the models it reads.
LOAD_MODELS = ("stg_reviews", "int_reviews")
PERIOD_MODELS = (
    "int_review_facts",
    "mart_dimension_satisfaction",
    "mart_brand_kpis",
    "mart_brand_daily",
    "mart_problem_types",
    "mart_top_terms",
    "mart_overdue_reviews",
    "mart_kpi_baselines",
    "mart_complaints",
    "mart_surveys",
    "mart_event_effects",
)
# The config's events as the SQL variable `events` (mart_event_effects).
EVENTS_SQL_TYPE = (
    "struct(name varchar, date date, brand varchar, kind varchar, window_days integer)[]"
)
# Macros the period models share (transforms/macros.sql).
MACROS_FILE = "macros.sql"

_MATERIALIZED = re.compile(r"^--\s*materialized:\s*(\w+)(?:\(([^)]*)\))?\s*$", re.MULTILINE)
_UNIQUE_KEY = re.compile(r"^--\s*unique key:\s*(.+?)\s*$", re.MULTILINE)
_WORD = re.compile(r"\w+")
_QUARANTINE_COLUMNS = ("source", "target_id", "review_id", "reason", "payload", "file", "line")
# A quarantined page (kept body of a page that failed to parse) versus a rejected row.
QUARANTINE_PAGE = "page"
QUARANTINE_ROW = "row"
_PAGE_REASON_PREFIX = "page failed to parse"
_REJECTS_SUFFIX = ".rejects.jsonl"
# A crawl that ended for one of these reasons saw everything down to its `since`.
COMPLETE_STOPS = ("empty page", "last page", "older than since")

_BOOKKEEPING_DDL = """
create table if not exists quarantine (
    source varchar,
    target_id varchar,
    review_id varchar,
    reason varchar not null,
    payload varchar,
    file varchar not null,
    line integer,
    batch_id varchar not null,
    quarantined_at timestamptz not null,
    entry_id varchar,
    kind varchar,
    replayed_at timestamptz,
    replay_batch_id varchar,
    resolution varchar
);
create table if not exists load_log (
    batch_id varchar not null,
    file varchar not null,
    valid_rows integer not null,
    quarantined_rows integer not null,
    loaded_at timestamptz not null
);
create table if not exists crawl_runs (
    file varchar not null,
    batch_id varchar not null,
    source varchar,
    target_id varchar,
    since date,
    base_url varchar,
    started_at timestamptz,
    finished_at timestamptz,
    requests integer,
    responses integer,
    items integer,
    rejects integer,
    errors integer,
    finish_reason varchar,
    stopped_because varchar,
    newest_published_at timestamptz,
    complete boolean not null
);
create table if not exists dim_targets (
    brand varchar not null,
    is_competitor boolean not null,
    source varchar not null,
    target_id varchar not null
);
create table if not exists pending_transform_days (
    day date not null,
    batch_id varchar not null,
    loaded_at timestamptz not null
);
"""


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(name.strip() for name in (text or "").split(",") if name.strip())


@dataclass(frozen=True)
class Model:
    name: str
    sql: str
    materialized: str
    keys: tuple[str, ...]
    # The columns that identify a row (its grain), from the header `-- unique key: a, b`.
    unique_key: tuple[str, ...] = ()

    @classmethod
    def load(cls, name: str, folder: Path = TRANSFORMS_DIR) -> Model:
        sql = (folder / f"{name}.sql").read_text(encoding="utf-8")
        match = _MATERIALIZED.search(sql)
        if not match:
            raise ValueError(f"{name}.sql: header '-- materialized: ...' is missing")
        unique_key = _UNIQUE_KEY.search(sql)
        return cls(
            name=name,
            sql=sql,
            materialized=match.group(1),
            keys=_names(match.group(2)),
            unique_key=_names(unique_key.group(1) if unique_key else None),
        )


@contextmanager
def connect(config: Config, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse file, closed on exit. One writer at a time."""
    path = config.paths.warehouse
    if read_only and not path.exists():
        raise FileNotFoundError(f"no warehouse yet at {path}: run `repwatch run` first")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        con.execute("set variable report_timezone = ?", [config.timezone])
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the block in one transaction: committed at its end, rolled back on any error.

    The block's own error is what propagates. (A commit that fails, for lack of disk space
    say, has already ended the transaction, and a plain `rollback` then raises "no transaction
    is active" in place of the error that says what went wrong.)"""
    con.execute("begin transaction")
    try:
        yield
        con.execute("commit")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("rollback")
        raise


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_name = ?", [name]
    ).fetchone()
    return bool(row and row[0])


def table_names(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Tables of the warehouse: a warehouse never transformed has no marts yet."""
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = 'main'"
    ).fetchall()
    return {name for (name,) in rows}


def _load_batch(con: duckdb.DuckDBPyConnection, batch_id: str) -> list[date]:
    """Run the load models over the registered `batch_valid` rows as batch `batch_id`;
    returns the publication days the batch touched."""
    con.execute("create or replace temp table batch_meta as select ? as batch_id", [batch_id])
    for name in LOAD_MODELS:
        materialize(con, Model.load(name))
    rows = con.execute(
        "select distinct published_day from int_reviews "
        "where batch_id = ? and published_day is not null order by 1",
        [batch_id],
    ).fetchall()
    return [day for (day,) in rows]


def materialize(con: duckdb.DuckDBPyConnection, model: Model) -> None:
    """Apply one model's result to its table according to its materialisation."""
    if model.materialized == "temp":
        con.execute(f"create or replace temp table {model.name} as {model.sql}")
        return
    if model.materialized not in ("table", "upsert", "period"):
        raise ValueError(f"{model.name}: unknown materialisation {model.materialized!r}")
    new = f"_new_{model.name}"
    con.execute(f"create or replace temp table {new} as {model.sql}")
    if model.materialized == "period":
        in_range = _period_predicate(model)
        outside = con.execute(f"select count(*) from {new} where not ({in_range})").fetchone()[0]
        if outside:
            raise ValueError(
                f"{model.name}: {outside} rows lie outside the range being recomputed; "
                "a period model must filter on its range"
            )
    if model.materialized == "table" or not table_exists(con, model.name):
        con.execute(f"create or replace table {model.name} as select * from {new}")
    else:
        _add_new_columns(con, model.name, new)
        if model.materialized == "upsert":
            match = " and ".join(f"{model.name}.{k} = {new}.{k}" for k in model.keys)
            con.execute(f"delete from {model.name} using {new} where {match}")
        else:
            con.execute(f"delete from {model.name} where {in_range}")
        con.execute(f"insert into {model.name} by name select * from {new}")
    con.execute(f"drop table {new}")


def _period_predicate(model: Model) -> str:
    """SQL true for the rows of `model` that the current range replaces."""
    if len(model.keys) == 1:
        (column,) = model.keys
        return f"{column} between getvariable('period_start') and getvariable('period_end')"
    if len(model.keys) == 2:
        start, end = model.keys
        return f"recomputed({start}, {end})"
    raise ValueError(f"{model.name}: period() takes a day column or a start and an end column")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_name = ? order by ordinal_position",
        [table],
    ).fetchall()
    return dict(rows)


def _add_new_columns(con: duckdb.DuckDBPyConnection, table: str, new: str) -> None:
    """A model that gained columns in a newer version adds them to its stored table (null in
    older rows), so an upgrade needs no manual migration."""
    stored = _columns(con, table)
    for name, data_type in _columns(con, new).items():
        if name not in stored:
            con.execute(f'alter table {table} add column "{name}" {data_type}')


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    from repwatch.enrich import ensure_enriched_table

    con.execute(_BOOKKEEPING_DDL)
    _migrate_quarantine(con)
    # Marts read annotations when there are some; an empty table until the first enrichment.
    ensure_enriched_table(con)


def _migrate_quarantine(con: duckdb.DuckDBPyConnection) -> None:
    """A quarantine table from before replay gains its columns; its rows get their entry id
    (the same as quarantine_entry_id computes) and their kind."""
    quarantine_ddl = _BOOKKEEPING_DDL.split(";")[0].replace(
        "create table if not exists quarantine", "create or replace temp table _quarantine_schema"
    )
    con.execute(quarantine_ddl)
    _add_new_columns(con, "quarantine", "_quarantine_schema")
    con.execute("drop table _quarantine_schema")
    con.execute(
        """
        update quarantine set
            entry_id = coalesce(entry_id, md5(file || ':' || coalesce(line, 0)::varchar)),
            kind = coalesce(
                kind,
                case when file like ? and starts_with(reason, ?) then ? else ? end
            )
        where entry_id is null or kind is null
        """,
        ["%" + _REJECTS_SUFFIX, _PAGE_REASON_PREFIX, QUARANTINE_PAGE, QUARANTINE_ROW],
    )


def quarantine_entry_id(file: str, line: int | None, item: int | None = None) -> str:
    """Stable id of a quarantine entry: its landing file and line, and for a record found
    by re-parsing a quarantined page, its index in that page."""
    key = f"{file}:{line or 0}" + (f"#{item}" if item is not None else "")
    return hashlib.md5(key.encode("utf-8")).hexdigest()


def quarantine_kind(file: str, reason: str) -> str:
    is_page = file.endswith(_REJECTS_SUFFIX) and reason.startswith(_PAGE_REASON_PREFIX)
    return QUARANTINE_PAGE if is_page else QUARANTINE_ROW


def _quarantine_entries(rejected: pd.DataFrame) -> pd.DataFrame:
    """Rejected rows as quarantine entries: entry id, kind, and the crawled target where the
    line itself names none (a crawl whose every page failed has no record to take it from)."""
    entries = rejected.copy()
    targets = {name: _crawled_target(name) for name in entries["file"].unique()}
    for column, position in (("source", 0), ("target_id", 1)):
        from_stats = entries["file"].map(lambda name, at=position: targets[name][at])
        entries[column] = entries[column].where(entries[column].notna(), from_stats)
    pairs = list(zip(entries["file"], entries["line"], entries["reason"], strict=True))
    entries["entry_id"] = [quarantine_entry_id(name, line) for name, line, _ in pairs]
    entries["kind"] = [quarantine_kind(name, reason) for name, _, reason in pairs]
    return entries


def records_file_of(path: str | Path) -> Path:
    """The records file a landing file belongs to (itself, or the one beside its sidecar)."""
    path = Path(path)
    if path.name.endswith(_REJECTS_SUFFIX):
        return path.with_name(path.name.removesuffix(_REJECTS_SUFFIX) + ".jsonl")
    return path


def crawl_stats_of(path: str | Path) -> dict:
    """The crawl statistics beside a landing file ({} when there are none)."""
    stats_file = records_file_of(path).with_suffix(".stats.json")
    if not stats_file.exists():
        return {}
    return json.loads(stats_file.read_text(encoding="utf-8"))


def _crawled_target(path: str) -> tuple[str | None, str | None]:
    stats = crawl_stats_of(path)
    return stats.get("source"), stats.get("target_id")


def sync_targets(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """dim_targets mirrors the config: which brand each crawled target belongs to."""
    rows = [
        (brand.name, brand.competitor, source.source, target.target_id)
        for brand, source, target in config.targets()
    ]
    con.execute("delete from dim_targets")
    if rows:
        con.executemany("insert into dim_targets values (?, ?, ?, ?)", rows)


@dataclass(frozen=True)
class LoadResult:
    batch_id: str
    valid_rows: int
    quarantined_rows: int
    days: list[date]


def load_batch(
    config: Config,
    valid: pd.DataFrame,
    quarantined: pd.DataFrame,
    *,
    batch_id: str,
    files: list[Path],
) -> LoadResult:
    """Store a checked batch: valid rows into stg → int, rejected rows into quarantine.

    Returns the days whose reviews changed, so only those periods are recomputed.
    Loading the same batch again replaces its rows (quarantine rows are keyed by batch and file).
    """
    now = datetime.now(UTC)
    file_names = [str(path) for path in files]
    with connect(config) as con, transaction(con):
        ensure_schema(con)
        sync_targets(con, config)
        con.execute("delete from quarantine where file in (select unnest(?))", [file_names])
        con.execute("delete from load_log where file in (select unnest(?))", [file_names])
        con.execute("delete from crawl_runs where file in (select unnest(?))", [file_names])
        _record_crawl_runs(con, valid, files, batch_id)
        if len(quarantined):
            rejected = _quarantine_entries(quarantined.loc[:, list(_QUARANTINE_COLUMNS)]).assign(
                batch_id=batch_id, quarantined_at=now
            )
            con.register("batch_quarantined", rejected)
            con.execute("insert into quarantine by name select * from batch_quarantined")
            con.unregister("batch_quarantined")
        con.register("batch_valid", valid)
        days = _load_batch(con, batch_id)
        con.unregister("batch_valid")
        counts = _per_file_counts(valid, quarantined, file_names)
        if counts:
            con.executemany(
                "insert into load_log values (?, ?, ?, ?, ?)",
                [(batch_id, name, ok, bad, now) for name, (ok, bad) in counts.items()],
            )
        _add_pending_days(con, days, batch_id, now)
    return LoadResult(batch_id, len(valid), len(quarantined), days)


def read_quarantine(
    config: Config,
    *,
    source: str | None = None,
    since: datetime | None = None,
    reason: str | None = None,
    include_replayed: bool = False,
    limit: int | None = None,
) -> list[dict]:
    """Quarantine entries, newest first: those still quarantined, or all with
    include_replayed; `reason` matches part of the reason, in any case."""
    if not config.paths.warehouse.exists():
        return []
    conditions, values = ["true"], []
    if not include_replayed:
        conditions.append("replayed_at is null")
    if source is not None:
        conditions.append("source = ?")
        values.append(source)
    if since is not None:
        conditions.append("quarantined_at >= ?")
        values.append(since)
    if reason:
        conditions.append("contains(lower(reason), lower(?))")
        values.append(reason)
    limit_sql = f"limit {int(limit)}" if limit is not None else ""
    with connect(config) as con:
        ensure_schema(con)
        cursor = con.execute(
            f"""
            select
                entry_id, kind, quarantined_at, source, target_id, review_id, reason, payload,
                file, line, batch_id, replayed_at, replay_batch_id, resolution,
            from quarantine
            where {" and ".join(conditions)}
            order by quarantined_at desc, file, line, entry_id
            {limit_sql}
            """,
            values,
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@dataclass(frozen=True)
class ReplayLoad:
    batch_id: str
    loaded: int  # rows now in int_reviews
    resolved: int  # entries that left the quarantine
    still_failing: int
    reasons_changed: int
    new_entries: int  # records of re-parsed pages that fail the gate
    days: list[date]


RESOLVED_LOADED = "loaded"
RESOLVED_SUPERSEDED = "superseded"  # a copy from the same or a newer crawl is loaded
RESOLVED_REPARSED = "reparsed"  # a page whose records now parse


def apply_replay(
    config: Config,
    *,
    batch_id: str,
    valid: pd.DataFrame,
    resolved: dict[str, str],
    failed: dict[str, str],
    new_entries: pd.DataFrame,
) -> ReplayLoad:
    """Store the outcome of a replay in one transaction.

    `valid`: records that now pass the gate, with their landing `file`, `line` and the
    `entry_id` of their quarantine entry (null for records of a re-parsed page). A record
    whose review is already loaded from the same or a newer crawl is not loaded again (its
    entry is resolved as superseded). `resolved`: entry id -> resolution for entries that leave
    without a load of their own; `failed`: entry id -> the reason it fails now; `new_entries`:
    quarantine rows for failing records of re-parsed pages, added once (by entry id).
    Entries are marked, never deleted.
    """
    now = datetime.now(UTC)
    with connect(config) as con, transaction(con):
        ensure_schema(con)
        sync_targets(con, config)
        loaded, loaded_rows, days, superseded = _load_replayed(con, valid, batch_id)
        outcomes = pd.DataFrame(
            [
                *((entry, RESOLVED_LOADED, None) for entry in loaded),
                *((entry, RESOLVED_SUPERSEDED, None) for entry in superseded),
                *((entry, resolution, None) for entry, resolution in resolved.items()),
                *((entry, None, reason) for entry, reason in failed.items()),
            ],
            columns=["entry_id", "resolution", "reason"],
            dtype=object,
        )
        con.register("replay_outcomes", outcomes)
        resolved_count = con.execute(
            """
            update quarantine set
                replayed_at = ?, replay_batch_id = ?, resolution = outcome.resolution
            from replay_outcomes as outcome
            where quarantine.entry_id = outcome.entry_id
                and outcome.resolution is not null
                and quarantine.replayed_at is null
            """,
            [now, batch_id],
        ).fetchone()[0]
        changed = con.execute(
            """
            update quarantine set reason = outcome.reason
            from replay_outcomes as outcome
            where quarantine.entry_id = outcome.entry_id
                and outcome.reason is not null
                and quarantine.replayed_at is null
                and quarantine.reason is distinct from outcome.reason
            """
        ).fetchone()[0]
        con.unregister("replay_outcomes")
        added = 0
        if len(new_entries):
            con.register(
                "replay_new_entries",
                new_entries.assign(batch_id=batch_id, quarantined_at=now),
            )
            added = con.execute(
                """
                insert into quarantine by name
                select * from replay_new_entries
                where entry_id not in (select entry_id from quarantine)
                """
            ).fetchone()[0]
            con.unregister("replay_new_entries")
        _add_pending_days(con, days, batch_id, now)
    return ReplayLoad(
        batch_id=batch_id,
        loaded=loaded_rows,
        resolved=int(resolved_count),
        still_failing=len(failed),
        reasons_changed=int(changed),
        new_entries=int(added),
        days=days,
    )


def _load_replayed(
    con: duckdb.DuckDBPyConnection, valid: pd.DataFrame, batch_id: str
) -> tuple[list[str], int, list[date], list[str]]:
    """Load the replayed records not superseded by a loaded copy: (entry ids loaded, rows
    loaded, days touched, entry ids superseded)."""
    if not len(valid):
        return [], 0, [], []
    con.register("replay_valid", valid)
    key = "source, target_id, review_id"
    if table_exists(con, "int_reviews"):
        con.execute(
            """
            create or replace temp table replay_superseded as
            select *
            from replay_valid as replayed
            where exists (
                select 1
                from int_reviews as loaded
                where loaded.source = replayed.source
                    and loaded.target_id = replayed.target_id
                    and loaded.review_id = replayed.review_id
                    and loaded.crawled_at >= try_cast(replayed.crawled_at as timestamptz)
            )
            """
        )
    else:
        con.execute("create or replace temp table replay_superseded as from replay_valid limit 0")
    con.execute(
        f"""
        create or replace temp table batch_valid as
        select * exclude (entry_id) from replay_valid
        anti join replay_superseded using ({key})
        """
    )
    entries_of = "select distinct entry_id from {} where entry_id is not null order by 1"
    loaded = [
        row[0]
        for row in con.execute(
            entries_of.format(f"replay_valid anti join replay_superseded using ({key})")
        ).fetchall()
    ]
    superseded = [row[0] for row in con.execute(entries_of.format("replay_superseded")).fetchall()]
    days: list[date] = []
    rows = con.execute("select count(*) from batch_valid").fetchone()[0]
    if rows:
        days = _load_batch(con, batch_id)
    con.execute("drop table batch_valid")
    con.execute("drop table replay_superseded")
    con.unregister("replay_valid")
    return loaded, rows, days, superseded


def _record_crawl_runs(
    con: duckdb.DuckDBPyConnection, valid: pd.DataFrame, files: list[Path], batch_id: str
) -> None:
    """One crawl_runs row per records file that has crawl statistics beside it."""
    newest = (
        pd.to_datetime(valid["published_at"], utc=True, errors="coerce")
        .groupby(valid["file"])
        .max()
        if len(valid)
        else pd.Series(dtype="datetime64[ns, UTC]")
    )
    rows = []
    for path in files:
        stats_file = Path(path).with_suffix(".stats.json")
        if path.name.endswith(".rejects.jsonl") or not stats_file.exists():
            continue
        stats = json.loads(stats_file.read_text(encoding="utf-8"))
        newest_at = newest.get(str(path))
        rows.append(
            {
                "file": str(path),
                "batch_id": batch_id,
                **{key: stats.get(key) for key in _CRAWL_STATS_KEYS},
                "newest_published_at": None if pd.isna(newest_at) else newest_at,
                "complete": stats.get("stopped_because") in COMPLETE_STOPS,
            }
        )
    if rows:
        con.register("batch_crawl_runs", pd.DataFrame(rows))
        con.execute("insert into crawl_runs by name select * from batch_crawl_runs")
        con.unregister("batch_crawl_runs")


_CRAWL_STATS_KEYS = (
    "source",
    "target_id",
    "since",
    "base_url",
    "started_at",
    "finished_at",
    "requests",
    "responses",
    "items",
    "rejects",
    "errors",
    "finish_reason",
    "stopped_because",
)


def _add_pending_days(
    con: duckdb.DuckDBPyConnection, days: list[date], batch_id: str, now: datetime
) -> None:
    if days:
        con.executemany(
            "insert into pending_transform_days values (?, ?, ?)",
            [(day, batch_id, now) for day in days],
        )


def pending_transform_days(config: Config) -> list[date]:
    """Days a load touched that no transform has recomputed since (a run died, or ran out of
    disk, between its load and its transform), oldest first."""
    if not config.paths.warehouse.exists():
        return []
    with connect(config, read_only=True) as con:
        if not table_exists(con, "pending_transform_days"):
            return []
        rows = con.execute("select distinct day from pending_transform_days order by 1").fetchall()
    return [day for (day,) in rows]


def loaded_files(config: Config) -> set[str]:
    """Every landing file a load has recorded."""
    if not config.paths.warehouse.exists():
        return set()
    with connect(config, read_only=True) as con:
        if not table_exists(con, "load_log"):
            return set()
        return {name for (name,) in con.execute("select distinct file from load_log").fetchall()}


def read_watermarks(config: Config) -> dict[tuple[str, str], datetime]:
    """Newest item per (source, target) seen by complete crawls; {} before the first load."""
    if not config.paths.warehouse.exists():
        return {}
    with connect(config, read_only=True) as con:
        if not table_exists(con, "crawl_runs"):
            return {}
        rows = con.execute(
            "select source, target_id, max(newest_published_at) from crawl_runs "
            "where complete and newest_published_at is not null group by all"
        ).fetchall()
    return {(source, target): newest for source, target, newest in rows}


def _per_file_counts(
    valid: pd.DataFrame, quarantined: pd.DataFrame, file_names: list[str]
) -> dict[str, tuple[int, int]]:
    ok = valid["file"].value_counts() if len(valid) else pd.Series(dtype=int)
    bad = quarantined["file"].value_counts() if len(quarantined) else pd.Series(dtype=int)
    return {name: (int(ok.get(name, 0)), int(bad.get(name, 0))) for name in file_names}


def widened_range(start: date, end: date) -> tuple[date, date]:
    """start..end widened to whole ISO weeks (Monday to Sunday) and whole calendar months."""
    week_start = start - timedelta(days=start.weekday())
    week_end = end + timedelta(days=6 - end.weekday())
    next_month = (end.replace(day=1) + timedelta(days=32)).replace(day=1)
    return min(week_start, start.replace(day=1)), max(week_end, next_month - timedelta(days=1))


def _set_metric_settings(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """The metrics section as SQL variables, and tables of the dimension weights and of the
    words of each brand's name, for the models; the section's digest goes on every mart row, so
    rows computed under other settings can be told apart."""
    metrics = config.metrics
    values = {
        "sla_hours": metrics.sla_hours,
        "overdue_window_days": metrics.overdue_window_days,
        "excluded_flags": list(metrics.excluded_flags),
        "bayesian_prior_mean": metrics.bayesian_prior.mean,
        "bayesian_prior_weight": metrics.bayesian_prior.weight,
        "recency_half_life_days": metrics.recency_half_life_days,
        "top_terms": metrics.top_terms,
        "baseline_trailing_days": metrics.baselines.trailing_days,
        "baseline_min_trailing_days": metrics.baselines.min_trailing_days,
        "baseline_same_weekday_weeks": metrics.baselines.same_weekday_weeks,
        "baseline_min_same_weekday_weeks": metrics.baselines.min_same_weekday_weeks,
        **{
            f"reputation_weight_{name}": weight
            for name, weight in metrics.reputation_weights.model_dump().items()
        },
        "metric_settings": hashlib.sha256(metrics.model_dump_json().encode("utf-8")).hexdigest()[
            :12
        ],
    }
    for name, value in values.items():
        if isinstance(value, list):
            con.execute(f"set variable {name} = ?::varchar[]", [value])
        elif isinstance(value, float):
            con.execute(f"set variable {name} = ?::double", [value])
        else:
            con.execute(f"set variable {name} = ?", [value])
    con.execute(
        f"set variable events = ?::{EVENTS_SQL_TYPE}",
        [[event.model_dump() for event in config.events]],
    )
    con.execute(
        "create or replace temp table metric_dimension_weights "
        "(dimension varchar not null, weight double not null)"
    )
    con.executemany(
        "insert into metric_dimension_weights values (?, ?)",
        list(metrics.satisfaction_weights.items()),
    )
    con.execute(
        "create or replace temp table metric_brand_terms (brand varchar not null, term varchar)"
    )
    con.executemany(
        "insert into metric_brand_terms values (?, ?)",
        [
            (brand.name, word)
            for brand in config.brands
            for word in sorted(set(_WORD.findall(brand.name.lower())))
        ],
    )


def _readers(model: Model, models: list[Model]) -> int:
    """How many of `models` read `model`."""
    name = re.compile(rf"\b{model.name}\b")
    return sum(1 for other in models if other is not model and name.search(other.sql))


@dataclass(frozen=True)
class TransformResult:
    requested: tuple[date, date]
    # The days recomputed: the request widened to whole weeks and months.
    recomputed: tuple[date, date]


def transform_period(
    config: Config, start: date, end: date, *, models: Collection[str] | None = None
) -> TransformResult | None:
    """Recompute every period model for the days start..end (widened to whole weeks and
    months) in one set-based pass and one transaction; None before anything was loaded.

    `models` limits the run to some of PERIOD_MODELS (to time or debug a mart; the others keep
    their rows); the temp models are built anyway, as the marts read them. A temp model that
    at most one model of the run reads is a view, inlined into that model, so that only the
    columns it uses are computed."""
    if end < start:
        raise ValueError(f"period ends ({end}) before it starts ({start})")
    unknown = sorted(set(models or ()) - set(PERIOD_MODELS))
    if unknown:
        raise ValueError(f"not period models: {', '.join(unknown)}")
    selected = [
        model
        for model in (Model.load(name) for name in PERIOD_MODELS)
        if models is None or model.name in models or model.materialized == "temp"
    ]
    first, last = widened_range(start, end)
    with connect(config) as con:
        if not table_exists(con, "int_reviews"):
            return None
        with transaction(con):
            ensure_schema(con)
            con.execute("set variable period_start = ?::date", [first])
            con.execute("set variable period_end = ?::date", [last])
            _set_metric_settings(con, config)
            con.execute((TRANSFORMS_DIR / MACROS_FILE).read_text(encoding="utf-8"))
            for model in selected:
                if model.materialized == "temp" and _readers(model, selected) < 2:
                    con.execute(f"create or replace temp view {model.name} as {model.sql}")
                else:
                    materialize(con, model)
            if models is None:
                # Every mart of these days is current now, whatever load touched them.
                con.execute(
                    "delete from pending_transform_days where day between ? and ?", [first, last]
                )
    return TransformResult(requested=(start, end), recomputed=(first, last))
