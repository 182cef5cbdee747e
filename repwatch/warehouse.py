"""The DuckDB warehouse: loading checked batches and running the SQL models in transforms/.

Each model file declares how it is materialised in its header:
- `table`: rebuilt from scratch on each run;
- `upsert(k1, k2)`: rows whose key appears in the new result replace the stored ones;
- `period(col)`: rows whose `col` falls in the period being processed are replaced.
So re-running any load or period replaces rows and never adds duplicates. Everything a run
changes happens in one transaction: a crash leaves the previous state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from repwatch.config import PROJECT_DIR, Config

TRANSFORMS_DIR = PROJECT_DIR / "transforms"
# Order of execution for a load; later issues add models here.
LOAD_MODELS = ("stg_reviews", "int_reviews")
PERIOD_MODELS = ("mart_brand_daily",)

_MATERIALIZED = re.compile(r"^--\s*materialized:\s*(\w+)(?:\(([^)]*)\))?\s*$", re.MULTILINE)
_QUARANTINE_COLUMNS = ("source", "target_id", "review_id", "reason", "payload", "file", "line")
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
    quarantined_at timestamptz not null
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
"""


@dataclass(frozen=True)
class Model:
    name: str
    sql: str
    materialized: str
    keys: tuple[str, ...]

    @classmethod
    def load(cls, name: str, folder: Path = TRANSFORMS_DIR) -> Model:
        sql = (folder / f"{name}.sql").read_text(encoding="utf-8")
        match = _MATERIALIZED.search(sql)
        if not match:
            raise ValueError(f"{name}.sql: header '-- materialized: ...' is missing")
        keys = tuple(k.strip() for k in (match.group(2) or "").split(",") if k.strip())
        return cls(name=name, sql=sql, materialized=match.group(1), keys=keys)


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


def _table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_name = ?", [name]
    ).fetchone()
    return bool(row and row[0])


def materialize(con: duckdb.DuckDBPyConnection, model: Model) -> None:
    """Apply one model's result to its table according to its materialisation."""
    con.execute(f"create or replace temp table _new_{model.name} as {model.sql}")
    new = f"_new_{model.name}"
    if model.materialized == "table" or not _table_exists(con, model.name):
        con.execute(f"create or replace table {model.name} as select * from {new}")
        con.execute(f"drop table {new}")
        return
    _add_new_columns(con, model.name, new)
    if model.materialized == "upsert":
        match = " and ".join(f"{model.name}.{k} = {new}.{k}" for k in model.keys)
        con.execute(f"delete from {model.name} using {new} where {match}")
        con.execute(f"insert into {model.name} by name select * from {new}")
    elif model.materialized == "period":
        (column,) = model.keys
        con.execute(
            f"delete from {model.name} where {column} between "
            "getvariable('period_start') and getvariable('period_end')"
        )
        con.execute(f"insert into {model.name} by name select * from {new}")
    else:
        raise ValueError(f"{model.name}: unknown materialisation {model.materialized!r}")
    con.execute(f"drop table {new}")


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
    from repwatch.enrich import ENRICHED_DDL

    con.execute(_BOOKKEEPING_DDL)
    # Marts read annotations when there are some; an empty table until the first enrichment.
    con.execute(ENRICHED_DDL)


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
    with connect(config) as con:
        con.execute("begin transaction")
        try:
            ensure_schema(con)
            sync_targets(con, config)
            con.execute("delete from quarantine where file in (select unnest(?))", [file_names])
            con.execute("delete from load_log where file in (select unnest(?))", [file_names])
            con.execute("delete from crawl_runs where file in (select unnest(?))", [file_names])
            _record_crawl_runs(con, valid, files, batch_id)
            if len(quarantined):
                rejected = quarantined.loc[:, list(_QUARANTINE_COLUMNS)].assign(
                    batch_id=batch_id, quarantined_at=now
                )
                con.register("batch_quarantined", rejected)
                con.execute("insert into quarantine by name select * from batch_quarantined")
                con.unregister("batch_quarantined")
            con.register("batch_valid", valid)
            con.execute(
                "create or replace temp table batch_meta as select ? as batch_id", [batch_id]
            )
            for name in LOAD_MODELS:
                materialize(con, Model.load(name))
            con.unregister("batch_valid")
            days = [
                row[0]
                for row in con.execute(
                    "select distinct published_day from int_reviews "
                    "where batch_id = ? and published_day is not null order by 1",
                    [batch_id],
                ).fetchall()
            ]
            counts = _per_file_counts(valid, quarantined, file_names)
            if counts:
                con.executemany(
                    "insert into load_log values (?, ?, ?, ?, ?)",
                    [(batch_id, name, ok, bad, now) for name, (ok, bad) in counts.items()],
                )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return LoadResult(batch_id, len(valid), len(quarantined), days)


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


def loaded_files(config: Config) -> set[str]:
    """Every landing file a load has recorded."""
    if not config.paths.warehouse.exists():
        return set()
    with connect(config, read_only=True) as con:
        if not _table_exists(con, "load_log"):
            return set()
        return {name for (name,) in con.execute("select distinct file from load_log").fetchall()}


def read_watermarks(config: Config) -> dict[tuple[str, str], datetime]:
    """Newest item per (source, target) seen by complete crawls; {} before the first load."""
    if not config.paths.warehouse.exists():
        return {}
    with connect(config, read_only=True) as con:
        if not _table_exists(con, "crawl_runs"):
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


def transform_period(config: Config, start: date, end: date) -> None:
    """Recompute every period model for the days start..end in one set-based pass."""
    if end < start:
        raise ValueError(f"period ends ({end}) before it starts ({start})")
    with connect(config) as con:
        con.execute("begin transaction")
        try:
            ensure_schema(con)
            if not _table_exists(con, "int_reviews"):
                con.execute("rollback")
                return
            con.execute("set variable period_start = ?::date", [start])
            con.execute("set variable period_end = ?::date", [end])
            for name in PERIOD_MODELS:
                materialize(con, Model.load(name))
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
