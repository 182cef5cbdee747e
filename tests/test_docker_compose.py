"""docker-compose.yml and its image: the compose file validates (`docker compose config`, or
Debian's `docker-compose`; no engine is needed) and has the services, volumes and settings a
Celery deployment of repwatch needs; the compose config is the demo's with only the
deployment's hosts and paths changed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from repwatch.config import load_config
from tests.conftest import DEMO_CONFIG, REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
DEPLOY_CONFIG = REPO / "deploy" / "repwatch.compose.yaml"
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}
DATA_MOUNT = "/opt/repwatch/data"


def _compose_command() -> list[str] | None:
    """`docker compose` (the v2 plugin) where it works, else `docker-compose`."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.fixture(scope="module")
def compose() -> dict:
    command = _compose_command()
    if command is None:
        pytest.skip("no docker compose plugin and no docker-compose (Debian package) here")
    done = subprocess.run(
        [*command, "--project-directory", str(REPO), "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def _mounts(service: dict) -> dict[str, str]:
    """Target → source of a service's volumes, in either syntax the tools print."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *_ = volume.split(":")
        else:
            source, target = volume.get("source"), volume["target"]
        mounts[target] = source
    return mounts


def _environment(service: dict) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def test_the_compose_file_has_every_service_of_a_celery_deployment(compose):
    services = compose["services"]
    assert {"postgres", "redis", "mailpit", "demo-site", *AIRFLOW_SERVICES} <= set(services)
    for name in AIRFLOW_SERVICES | {"demo-site"}:
        assert services[name]["build"]["context"] == str(REPO), f"{name} builds the image"
        assert services[name]["image"] == services["airflow-worker"]["image"]
    # Scalable with --scale airflow-worker=N: no fixed name, no host port.
    assert "container_name" not in services["airflow-worker"]
    assert not services["airflow-worker"].get("ports")
    assert "celery" in services["airflow-worker"]["command"]


def test_every_airflow_service_shares_the_data_volume_and_the_settings(compose):
    services = compose["services"]
    assert {"repwatch-data", "postgres-db-volume"} <= set(compose["volumes"])
    for name in AIRFLOW_SERVICES:
        assert _mounts(services[name]).get(DATA_MOUNT) == "repwatch-data", name
        environment = _environment(services[name])
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert environment["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
        assert "@postgres/" in environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert environment["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith(
            "http://airflow-apiserver:8080/"
        )
        config_in_container = Path(environment["REPWATCH_CONFIG"])
        deploy_mount = _mounts(services[name])[str(config_in_container.parent)]
        assert (Path(deploy_mount) / config_in_container.name).resolve() == DEPLOY_CONFIG
    init = " ".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in init
    assert "airflow pools set repwatch_warehouse 1" in init


def test_mail_goes_to_mailpit_and_its_web_ui_is_published(compose):
    mailpit = compose["services"]["mailpit"]
    assert mailpit["image"].startswith("axllent/mailpit:")
    published = {
        str(port["target"]) if isinstance(port, dict) else port.split(":")[-1]
        for port in mailpit["ports"]
    }
    assert "8025" in published
    config = load_config(DEPLOY_CONFIG)
    assert (config.smtp.host, config.smtp.port) == ("mailpit", 1025)
    smtp_connection = _environment(compose["services"]["airflow-worker"])
    assert '"host": "mailpit"' in smtp_connection["AIRFLOW_CONN_SMTP_DEFAULT"]


def test_the_compose_config_is_the_demo_config_on_the_compose_services():
    demo = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    deploy = yaml.safe_load(DEPLOY_CONFIG.read_text(encoding="utf-8"))
    config = load_config(DEPLOY_CONFIG)
    assert set(config.crawl.base_urls.values()) == {"http://demo-site:8808"}
    assert config.paths.data_dir == REPO / "data", "../data: the volume at /opt/repwatch/data"
    for brand in config.brands:
        for source in brand.sources:
            for target in source.targets:
                if "folder" in target.params:
                    folder = DEPLOY_CONFIG.parent / target.params["folder"]
                    assert folder.resolve().is_relative_to(DEMO_CONFIG.parent), folder
    # Everything else equal: the deployment differs only in where things are.
    for settings in (demo, deploy):
        settings["crawl"].pop("base_urls")
        settings["smtp"].pop("host")
        settings["smtp"].pop("port")
        for brand in settings["brands"]:
            for source in brand["sources"]:
                for target in source["targets"]:
                    if "folder" in target:
                        target["folder"] = Path(target["folder"]).name
    assert deploy == demo


def test_the_image_is_built_from_the_pinned_requirements_with_cjk_fonts():
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert [line for line in dockerfile.splitlines() if line.startswith("FROM ")] == [
        "FROM python:3.11-slim"
    ]
    assert "fonts-noto-cjk" in dockerfile
    assert "pip install -r requirements.txt" in dockerfile
    assert "chromium" not in dockerfile
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", "data", ".git"} <= set(ignored)
