"""The DAGs on a real Airflow: PostgreSQL as metadata database (a database of its own, dropped
afterwards), the API server's Execution API, the scheduler and the dag-processor as
processes, and the demo site and SMTP sink of `demo_env`.

- LocalExecutor: `airflow backfill create` over three days of repwatch_daily; every run
  succeeds, the marts hold the three days, the first day's crawl serves the two after it (the
  raw archive holds them), and no report is e-mailed.
- CeleryExecutor: one triggered run executed by an `airflow celery worker` process, with
  Redis as broker and PostgreSQL as result backend.

PostgreSQL (127.0.0.1:5432, user postgres, trust auth) and Redis (127.0.0.1:6379) run on the
development and CI machines before a session starts. The time limits below are safety stops,
not performance assertions.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, suppress
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import psycopg2
import pytest
import yaml

from repwatch.config import load_config
from tests.conftest import REPO

pytestmark = pytest.mark.airflow

AIRFLOW = Path(sys.executable).with_name("airflow")
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS_URL = "redis://127.0.0.1:6379"
# A Redis database of its own, so the broker's keys never meet another application's.
REDIS_DB = 11
WAREHOUSE_POOL = "repwatch_warehouse"
RUNS_TIMEOUT = timedelta(minutes=15)
STARTUP_TIMEOUT = timedelta(minutes=3)


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _admin_connection():
    connection = psycopg2.connect(dbname="postgres", **POSTGRES)
    connection.autocommit = True
    return connection


@pytest.fixture
def metadata_db() -> Iterator[str]:
    """A fresh PostgreSQL database for Airflow's metadata; dropped with every connection."""
    name = f"repwatch_airflow_{secrets.token_hex(4)}"
    with closing(_admin_connection()) as admin, admin.cursor() as cursor:
        cursor.execute(f'create database "{name}"')
    try:
        yield name
    finally:
        with closing(_admin_connection()) as admin, admin.cursor() as cursor:
            cursor.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s",
                [name],
            )
            cursor.execute(f'drop database if exists "{name}"')


@dataclass
class Airflow:
    """Airflow processes sharing one AIRFLOW_HOME and metadata database."""

    home: Path
    database: str
    env: dict[str, str]
    processes: list[subprocess.Popen] = field(default_factory=list)

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [str(AIRFLOW), *args], env=self.env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"airflow {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, name: str, *args: str) -> None:
        """A long-running Airflow command in a process group of its own (it forks workers)."""
        log = (self.home / f"{name}.log").open("w")
        self.processes.append(
            subprocess.Popen(
                [str(AIRFLOW), *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log.close()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # Task processes the executors started may outlive their parent's group leader.
        for process in self.processes:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with (
            closing(psycopg2.connect(dbname=self.database, **POSTGRES)) as connection,
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, params or [])
            return cursor.fetchall()

    def wait_for_dag(self, dag_id: str) -> None:
        """Until the dag-processor has parsed and stored `dag_id`; its import errors fail."""
        deadline = time.monotonic() + STARTUP_TIMEOUT.total_seconds()
        while time.monotonic() < deadline:
            self._check_alive()
            if self.query("select 1 from serialized_dag where dag_id = %s", [dag_id]):
                return
            errors = self.query("select filename, stacktrace from import_error")
            assert not errors, f"DAG import errors: {errors}"
            time.sleep(1)
        pytest.fail(f"{dag_id} was not parsed within {STARTUP_TIMEOUT}\n{self.logs()}")

    def wait_for_runs(self, dag_id: str, count: int) -> list[tuple]:
        """Until `count` runs of `dag_id` have finished; returns (logical date, state) rows."""
        deadline = time.monotonic() + RUNS_TIMEOUT.total_seconds()
        while time.monotonic() < deadline:
            self._check_alive()
            runs = self.query(
                "select logical_date, state from dag_run where dag_id = %s order by logical_date",
                [dag_id],
            )
            if len(runs) >= count and all(state in ("success", "failed") for _, state in runs):
                return runs
            if any(state == "failed" for _, state in runs):
                return runs
            time.sleep(2)
        pytest.fail(f"runs of {dag_id} not finished within {RUNS_TIMEOUT}\n{self.logs()}")

    def task_states(self, dag_id: str) -> tuple[set[str], set[str], set[str]]:
        """States of the crawl task instances of the first run, of the later runs, and of
        every other task of every run."""
        rows = self.query(
            "select dr.logical_date, ti.task_id, ti.state from task_instance ti "
            "join dag_run dr on dr.dag_id = ti.dag_id and dr.run_id = ti.run_id "
            "where ti.dag_id = %s",
            [dag_id],
        )
        first = min(logical for logical, _, _ in rows)
        first_crawls, later_crawls, steps = set(), set(), set()
        for logical, task_id, state in rows:
            if not task_id.startswith("crawl_"):
                steps.add(state)
            elif logical == first:
                first_crawls.add(state)
            else:
                later_crawls.add(state)
        return first_crawls, later_crawls, steps

    def _check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                pytest.fail(f"{process.args[1:3]} exited ({process.returncode})\n{self.logs()}")

    def failed_task_logs(self) -> str:
        failed = self.query(
            "select dag_id, run_id, task_id, map_index from task_instance "
            "where state in ('failed', 'upstream_failed', 'up_for_retry')"
        )
        logs = [str(failed)]
        for dag_id, run_id, task_id, _ in failed:
            for path in sorted(
                (self.home / "logs").glob(
                    f"dag_id={dag_id}/run_id={run_id}/task_id={task_id}/**/*.log"
                )
            ):
                logs.append(f"--- {path}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(logs)

    def logs(self) -> str:
        parts = [
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.home.glob("*.log"))
        ]
        return "\n".join(parts)


def _airflow_env(home: Path, database: str, config_path: Path, **extra: str) -> dict[str, str]:
    api_port = _free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
            f"postgresql+psycopg2://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}"
            f"/{database}"
        ),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "8",
        # Tasks report to the Execution API of the API server this test starts.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        # Only the runs this test creates: no scheduled run of the latest interval, which
        # would e-mail its report. Unpaused, so that the backfill's tasks are queued.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # Shorter loops than a production scheduler's, for a test that waits on them.
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "1",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        # Parse the four files once, not every 30 s while the runs take the CPU.
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
        "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "600",
        "GX_ANALYTICS_ENABLED": "False",
        "REPWATCH_CONFIG": str(config_path),
        **extra,
    }
    env.pop("REPWATCH_DATA_DIR", None)
    return env


def _test_config(demo_env) -> Path:
    """The demo config with a short crawl window: a backfill day crawls from its own start,
    a scheduled or manual run from lookback_days before its day."""
    settings = yaml.safe_load(demo_env.config_path.read_text(encoding="utf-8"))
    settings["crawl"]["lookback_days"] = 2
    path = demo_env.config_path.with_name("repwatch.airflow.yaml")
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def airflow_cluster(tmp_path: Path, metadata_db: str, demo_env) -> Iterator[Airflow]:
    home = tmp_path / "airflow_home"
    home.mkdir()
    env = _airflow_env(home, metadata_db, _test_config(demo_env))
    airflow = Airflow(home, metadata_db, env)
    try:
        yield airflow
    finally:
        airflow.stop()


def _start(airflow: Airflow, *components: tuple[str, ...]) -> None:
    airflow.run("db", "migrate")
    airflow.run("pools", "set", WAREHOUSE_POOL, "1", "DuckDB takes one writer process")
    airflow.start("api-server", "api-server", "--apps", "execution", "--workers", "1")
    airflow.start("dag-processor", "dag-processor")
    for name, *args in components:
        airflow.start(name, *args)
    airflow.wait_for_dag("repwatch_daily")


def _mart_days(config_path: Path, days: list[date]) -> dict[date, int]:
    config = load_config(config_path)
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        rows = con.execute(
            "select day, sum(reviews) from mart_brand_daily "
            "where brand = 'Acme Shop' and day between ? and ? group by day",
            [min(days), max(days)],
        ).fetchall()
    return dict(rows)


def _crawls_landed(config_path: Path) -> dict[tuple[str, str], int]:
    """How many times each (source, target) was crawled into the raw landing."""
    config = load_config(config_path)
    counts: dict[tuple[str, str], int] = {}
    for stats_file in config.paths.raw_dir.glob("*/crawl_date=*/*.stats.json"):
        stats = json.loads(stats_file.read_text(encoding="utf-8"))
        key = (stats["source"], stats["target_id"])
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_backfill_of_three_days_on_the_scheduler_with_local_executor(airflow_cluster, demo_env):
    airflow = airflow_cluster
    _start(airflow, ("scheduler", "scheduler"))
    days = [demo_env.day - timedelta(days=offset) for offset in (2, 1, 0)]

    airflow.run(
        "backfill", "create", "--dag-id", "repwatch_daily",
        "--from-date", days[0].isoformat(), "--to-date", days[-1].isoformat(),
        # One day after the other: the first day's crawl lands what the next two need.
        "--max-active-runs", "1",
    )  # fmt: skip
    runs = airflow.wait_for_runs("repwatch_daily", len(days))

    assert [state for _, state in runs] == ["success"] * len(days), airflow.failed_task_logs()
    assert [logical.date() for logical, _ in runs] == days
    # Every step ran on every day; the crawls ran on the first day only, the archive
    # serving the days after it.
    first_day_crawls, later_crawls, steps = airflow.task_states("repwatch_daily")
    assert first_day_crawls == {"success"}
    assert later_crawls == {"skipped"}
    assert steps == {"success"}
    config_path = Path(airflow.env["REPWATCH_CONFIG"])
    mart = _mart_days(config_path, days)
    assert sorted(mart) == days and all(reviews > 0 for reviews in mart.values()), mart
    # Days two and three were re-derived from the raw archive: every target crawled once.
    config = load_config(config_path)
    targets = {(source.source, target.target_id) for _, source, target in config.targets()}
    assert _crawls_landed(config_path) == dict.fromkeys(targets, 1)
    assert demo_env.sink.messages("daily") == []
    assert demo_env.sink.messages("alert") == []


def test_one_run_on_a_celery_worker(airflow_cluster, demo_env):
    airflow = airflow_cluster
    queue = f"repwatch_test_{secrets.token_hex(4)}"
    broker = f"{REDIS_URL}/{REDIS_DB}"
    airflow.env.update(
        {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": broker,
            "AIRFLOW__CELERY__RESULT_BACKEND": (
                f"db+postgresql://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}"
                f"/{airflow.database}"
            ),
            # A queue of this test's own: no other worker on the broker takes its tasks.
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
        }
    )
    try:
        _start(
            airflow,
            ("scheduler", "scheduler"),
            ("celery-worker", "celery", "worker", "--queues", queue, "--skip-serve-logs",
             "--without-gossip", "--without-mingle"),
        )  # fmt: skip
        day = demo_env.day.isoformat()
        airflow.run(
            "dags", "trigger", "repwatch_daily", "--logical-date", day,
            "--conf", json.dumps({"send": False}),
        )  # fmt: skip
        runs = airflow.wait_for_runs("repwatch_daily", 1)

        assert [state for _, state in runs] == ["success"], airflow.failed_task_logs()
        crawls, _, steps = airflow.task_states("repwatch_daily")
        assert crawls == steps == {"success"}
        hosts = airflow.query(
            "select distinct hostname, queue from task_instance where dag_id = 'repwatch_daily' "
            "and state = 'success'"
        )
        assert {queue_name for _, queue_name in hosts} == {queue}
        assert sum(_mart_days(Path(airflow.env["REPWATCH_CONFIG"]), [demo_env.day]).values()) > 0
        assert demo_env.sink.messages("daily") == []
    finally:
        airflow.stop()
        import redis

        client = redis.Redis.from_url(broker)
        for key in client.scan_iter(f"*{queue}*"):
            client.delete(key)
        client.close()
