"""The DAGs under real Airflow: they import cleanly and follow the policy, and a whole daily
run (`airflow dags test`) crawls the demo site, fills the mart and mails the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO

DAGS_DIR = REPO / "dags"
AIRFLOW = Path(sys.executable).with_name("airflow")

_DAGBAG_REPORT = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "dags": {
        dag_id: {
            "fileloc": dag.fileloc,
            "tags": sorted(dag.tags),
            "doc_md": bool(dag.doc_md),
            "catchup": dag.catchup,
            "tasks": {
                t.task_id: {"retries": t.retries, "owner": t.owner,
                            "timeout": t.execution_timeout is not None}
                for t in dag.tasks
            },
        }
        for dag_id, dag in bag.dags.items()
    },
}))
"""


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "GX_ANALYTICS_ENABLED": "False",
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
    assert "repwatch_daily" in dagbag["dags"]


def test_dags_follow_the_policy(dagbag):
    for dag_id, dag in dagbag["dags"].items():
        assert Path(dag["fileloc"]).stem == dag_id, "file name = dag_id"
        assert "repwatch" in dag["tags"]
        assert dag["doc_md"], f"{dag_id} has no docs"
        assert dag["catchup"] is False
        for task_id, task in dag["tasks"].items():
            assert task["retries"] >= 1, f"{dag_id}.{task_id} has no retries"
            assert task["owner"] == "data-engineering"
            assert task["timeout"], f"{dag_id}.{task_id} has no execution timeout"


def test_dag_files_do_not_import_heavy_libraries_at_parse_time():
    # Parsing runs often in the dag-processor: Scrapy, GX and DuckDB load inside tasks only.
    probe = (
        "import sys, runpy; runpy.run_path(sys.argv[1]);"
        "heavy = [m for m in ('scrapy', 'great_expectations', 'duckdb', 'matplotlib')"
        " if m in sys.modules]; print(','.join(heavy))"
    )
    for dag_file in DAGS_DIR.glob("*.py"):
        done = subprocess.run(
            [sys.executable, "-c", probe, str(dag_file)],
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
    assert all(day in str(m["Subject"]) for m in received)
