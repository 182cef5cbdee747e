"""The DAGs under real Airflow: they import cleanly and follow the policy, and a whole daily
run (`airflow dags test`) crawls the demo site, fills the mart and mails the report.
(tests/test_airflow_scheduler.py runs them on a real scheduler.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from repwatch.config import load_config
from tests.conftest import DEMO_CONFIG, REPO

DAGS_DIR = REPO / "dags"
AIRFLOW = Path(sys.executable).with_name("airflow")

DAG_IDS = {"repwatch_daily", "repwatch_weekly", "repwatch_monthly", "repwatch_alerts"}
WAREHOUSE_POOL = "repwatch_warehouse"

# The dag-processor parses a bundle with its folder on sys.path (the DAGs share
# dags/repwatch_common.py); BundleDagBag does the same.
_DAGBAG_REPORT = """
import json, sys
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag
bag = BundleDagBag(dag_folder=sys.argv[1], bundle_path=Path(sys.argv[1]))

def callbacks(task):
    found = task.on_failure_callback or []
    return [
        {"kind": type(c).__name__, "to": sorted(getattr(c, "to", None) or [])}
        for c in (found if isinstance(found, list) else [found])
    ]

print(json.dumps({
    "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "dags": {
        dag_id: {
            "fileloc": dag.fileloc,
            "tags": sorted(dag.tags),
            "doc_md": bool(dag.doc_md),
            "catchup": dag.catchup,
            "timetable": type(dag.timetable).__name__,
            "timezone": str(dag.timetable.timezone),
            "tasks": {
                t.task_id: {"retries": t.retries, "owner": t.owner,
                            "backoff": t.retry_exponential_backoff,
                            "timeout": t.execution_timeout is not None,
                            "pool": t.pool,
                            "mapped": bool(getattr(t, "_is_mapped", False)),
                            "on_failure": callbacks(t)}
                for t in dag.tasks
            },
        }
        for dag_id, dag in bag.dags.items()
    },
}))
"""


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """Airflow on a SQLite metadata DB under `home`; the DAG files read the demo config when
    they are parsed unless `extra` names another."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "GX_ANALYTICS_ENABLED": "False",
        "REPWATCH_CONFIG": str(DEMO_CONFIG),
        **extra,
    }
    env.pop("REPWATCH_DATA_DIR", None)
    return env


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("airflow_home")
    done = subprocess.run(
        [sys.executable, "-c", _DAGBAG_REPORT, str(DAGS_DIR)],
        env=airflow_env(home),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_dags_import_without_errors(dagbag):
    assert dagbag["import_errors"] == {}
    assert set(dagbag["dags"]) == DAG_IDS


def test_dags_follow_the_policy(dagbag):
    data_engineers = sorted(r.email for r in load_config(DEMO_CONFIG).quality.notify)
    assert data_engineers, "the demo config names its data engineers"
    for dag_id, dag in dagbag["dags"].items():
        assert Path(dag["fileloc"]).stem == dag_id, "file name = dag_id"
        assert "repwatch" in dag["tags"]
        assert dag["doc_md"], f"{dag_id} has no docs"
        assert dag["catchup"] is False
        # Periods are derived from data intervals in the report time zone (docs/airflow.md).
        assert dag["timetable"] == "CronDataIntervalTimetable"
        assert dag["timezone"] == load_config(DEMO_CONFIG).timezone
        for task_id, task in dag["tasks"].items():
            where = f"{dag_id}.{task_id}"
            assert task["retries"] >= 1, f"{where} has no retries"
            assert task["backoff"] > 0, f"{where} retries without exponential backoff"
            assert task["owner"] == "data-engineering"
            assert task["timeout"], f"{where} has no execution timeout"
            assert task["on_failure"] == [{"kind": "SmtpNotifier", "to": data_engineers}], where


def test_every_task_that_opens_the_warehouse_runs_in_the_one_slot_pool(dagbag):
    # Crawls write files and the sensors read Airflow's own database; every other task opens
    # DuckDB, which takes one writer process and no reader beside it.
    for dag_id, dag in dagbag["dags"].items():
        for task_id, task in dag["tasks"].items():
            outside = task_id.startswith("crawl_") or task_id.startswith("wait_for_")
            expected = "default_pool" if outside else WAREHOUSE_POOL
            assert task["pool"] == expected, f"{dag_id}.{task_id} runs in {task['pool']}"


def test_each_source_is_one_task_mapped_over_its_targets(dagbag):
    config = load_config(DEMO_CONFIG)
    sources = {source.source for _, source, _ in config.targets()}
    for dag_id, wanted in (
        ("repwatch_daily", sources),
        ("repwatch_alerts", sources & {"reddit", "hackernews"}),
    ):
        tasks = dagbag["dags"][dag_id]["tasks"]
        crawls = {
            task_id.removeprefix("crawl_") for task_id in tasks if task_id.startswith("crawl_")
        }
        assert crawls == wanted, dag_id
        assert all(tasks[f"crawl_{source}"]["mapped"] for source in crawls)


def test_dag_files_do_not_import_heavy_libraries_at_parse_time():
    # Parsing runs often in the dag-processor: Scrapy, GX and DuckDB load inside tasks only.
    probe = (
        "import sys, runpy; sys.path.insert(0, sys.argv[2]); runpy.run_path(sys.argv[1]);"
        "heavy = [m for m in ('scrapy', 'great_expectations', 'duckdb', 'matplotlib')"
        " if m in sys.modules]; print(','.join(heavy))"
    )
    for dag_file in DAGS_DIR.glob("*.py"):
        done = subprocess.run(
            [sys.executable, "-c", probe, str(dag_file), str(DAGS_DIR)],
            env=airflow_env(Path(os.environ.get("TMPDIR", "/tmp"))),
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.strip() == "", f"{dag_file.name} imports {done.stdout.strip()}"


@pytest.mark.airflow
def test_airflow_dags_test_runs_the_day_end_to_end(demo_env, tmp_path):
    home = tmp_path / "airflow_home"
    env = airflow_env(home, REPWATCH_CONFIG=str(demo_env.config_path))
    subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, check=True, capture_output=True)
    day = demo_env.day.isoformat()
    done = subprocess.run(
        [str(AIRFLOW), "dags", "test", "repwatch_daily", day],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    with duckdb.connect(str(demo_env.config.paths.warehouse), read_only=True) as con:
        reviews, negative = con.execute(
            "select sum(reviews), sum(negative) from mart_brand_daily "
            "where day = ? and brand = 'Acme Shop'",
            [demo_env.day],
        ).fetchone()
    assert reviews > 0 and negative > 0

    recipients = [r.email for r in demo_env.config.reports.daily.recipients]
    received = demo_env.sink.messages("daily")
    assert sorted(m["To"].addresses[0].addr_spec for m in received) == sorted(recipients)
    # Each recipient gets the version in their language (the subject carries the day).
    languages = {r.email: r.language for r in demo_env.config.reports.daily.recipients}
    chinese_day = f"{demo_env.day.year}年{demo_env.day.month}月{demo_env.day.day}日"
    for message in received:
        english = languages[message["To"].addresses[0].addr_spec] == "en"
        assert (day if english else chinese_day) in str(message["Subject"])

    # The weekly DAG's report task on those marts: the run of Monday 2026-11-16 reports
    # 2026-W47 (its sensor, which waits for seven daily runs, is not part of `tasks test`).
    done = subprocess.run(
        [str(AIRFLOW), "tasks", "test", "repwatch_weekly", "report_week", "2026-11-16"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    weekly = demo_env.sink.messages("weekly")
    wanted = {r.email for r in demo_env.config.reports.weekly.recipients}
    assert {a.addr_spec for m in weekly for a in m["To"].addresses} == wanted
    assert {str(m["X-Repwatch-Report"]) for m in weekly} == {"weekly/2026-W47"}


_FAILING_DAG = """
from datetime import timedelta

from airflow.sdk import dag, task
from repwatch_common import default_args, parse_config, start_date

CONFIG = parse_config()


@dag(
    schedule=None,
    start_date=start_date(CONFIG),
    default_args={**default_args(CONFIG, timeout=timedelta(minutes=5)), "retries": 0},
)
def repwatch_failing():
    @task
    def explode():
        raise RuntimeError("broken on purpose")

    explode()


repwatch_failing()
"""


@pytest.mark.airflow
def test_a_failed_task_emails_the_data_engineers_through_the_named_connection(demo_env, tmp_path):
    # The repwatch DAGs' default arguments on a task that fails for good; the Airflow Variable
    # names the SMTP connection, which points at the test's SMTP server.
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "repwatch_failing.py").write_text(_FAILING_DAG, encoding="utf-8")
    connection = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": demo_env.sink.port,
        "extra": {"disable_ssl": True, "disable_tls": True},
    }
    env = airflow_env(
        tmp_path / "airflow_home",
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        PYTHONPATH=os.pathsep.join([str(DAGS_DIR), os.environ.get("PYTHONPATH", "")]),
        REPWATCH_CONFIG=str(demo_env.config_path),
        AIRFLOW_VAR_REPWATCH_SMTP_CONN_ID="repwatch_test_smtp",
        AIRFLOW_CONN_REPWATCH_TEST_SMTP=json.dumps(connection),
    )
    subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, check=True, capture_output=True)
    done = subprocess.run(
        [str(AIRFLOW), "dags", "test", "repwatch_failing", demo_env.day.isoformat()],
        env=env,
        capture_output=True,
        text=True,
    )
    assert "broken on purpose" in done.stdout + done.stderr

    received = demo_env.sink.messages()
    assert len(received) == 1, done.stdout[-3000:] + done.stderr[-3000:]
    engineers = sorted(r.email for r in demo_env.config.quality.notify)
    assert sorted(a.addr_spec for a in received[0]["To"].addresses) == engineers
    assert "repwatch_failing.explode failed" in str(received[0]["Subject"])
    assert received[0]["From"].addresses[0].addr_spec == demo_env.config.smtp.sender


_PERIOD_PROBE = """
import json, sys
from datetime import datetime
from types import SimpleNamespace

sys.path.insert(0, sys.argv[1])
import repwatch_common as common

config = common.parse_config()
moment = datetime.fromisoformat


def context(logical, run_after, run_type="scheduled", send=None):
    return {
        "logical_date": moment(logical) if logical else None,
        "dag_run": SimpleNamespace(run_after=moment(run_after), run_type=run_type),
        "params": {"send": send},
    }


cases = {
    "daily": common.run_day(context("2026-11-20T00:00:00+00:00", "2026-11-21T00:00:00+00:00"),
                            config).isoformat(),
    "daily_manual": common.run_day(context(None, "2026-11-28T06:30:00+00:00"), config).isoformat(),
    "hourly_manual": common.run_day(context(None, "2026-11-28T06:30:00+00:00"), config,
                                    hourly=True).isoformat(),
    "hourly_manual_after_midnight": common.run_day(context(None, "2026-11-28T00:30:00+00:00"),
                                                   config, hourly=True).isoformat(),
    "weekly": common.run_period(context("2026-11-16T00:00:00+00:00", "2026-11-23T00:00:00+00:00"),
                                config, "weekly").label,
    "weekly_manual": common.run_period(context(None, "2026-11-28T06:30:00+00:00"), config,
                                       "weekly").label,
    "monthly": common.run_period(context("2026-10-01T00:00:00+00:00", "2026-11-01T00:00:00+00:00"),
                                 config, "monthly").label,
    "monthly_manual": common.run_period(context(None, "2026-11-28T06:30:00+00:00"), config,
                                        "monthly").label,
    "mail": [
        common.wants_mail(context("2026-11-20T00:00:00+00:00", "2026-11-28T00:00:00+00:00",
                                  run_type=run_type, send=send))
        for run_type, send in [("scheduled", None), ("manual", None), ("backfill", None),
                               ("backfill", True), ("manual", False)]
    ],
}
print(json.dumps(cases))
"""


def test_how_a_run_finds_its_period_and_whether_it_mails():
    done = subprocess.run(
        [sys.executable, "-c", _PERIOD_PROBE, str(DAGS_DIR)],
        env=airflow_env(Path(os.environ.get("TMPDIR", "/tmp"))),
        capture_output=True,
        text=True,
        check=True,
    )
    cases = json.loads(done.stdout.strip().splitlines()[-1])
    assert cases == {
        "daily": "2026-11-20",
        # Triggered without a logical date: the last period complete at the trigger.
        "daily_manual": "2026-11-27",
        "hourly_manual": "2026-11-28",
        "hourly_manual_after_midnight": "2026-11-27",
        "weekly": "2026-W47",
        "weekly_manual": "2026-W47",
        "monthly": "2026-10",
        "monthly_manual": "2026-10",
        "mail": [True, True, False, True, False],
    }
