"""The config file: a good one loads, a wrong one gives one clear line naming file, key, problem."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from repwatch.config import KNOWN_SOURCES, ConfigError, load_config
from tests.conftest import DEMO_CONFIG, REPO


def _write(tmp_path, settings) -> str:
    path = tmp_path / "repwatch.yaml"
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    return path


def _demo_settings() -> dict:
    return yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))


def test_demo_config_loads_with_paths_relative_to_the_file():
    config = load_config(DEMO_CONFIG)
    assert [brand.name for brand in config.brands] == ["Acme Shop", "RivalMart"]
    assert config.paths.data_dir == (REPO / "data").resolve()
    settings = _demo_settings()
    expected = [
        (brand["name"], source["source"], len(source["targets"]))
        for brand in settings["brands"]
        for source in brand["sources"]
    ]
    assert [
        (b.name, s.source, len(s.targets)) for b in config.brands for s in b.sources
    ] == expected
    first = config.targets()[0][2]
    assert first.target_id == "app_id=1000001&country=us"


@pytest.mark.parametrize(
    ("change", "expected_key", "expected_problem"),
    [
        (
            lambda s: s["brands"][0]["sources"][0].update(source="appstor"),
            "brands.0.sources.0.source",
            "unknown source 'appstor'",
        ),
        (
            lambda s: s["thresholds"].update(negative_share_warning=3),
            "thresholds.negative_share_warning",
            "less than or equal to 1",
        ),
        (lambda s: s.update(timezone="Mars/Olympus"), "timezone", "unknown time zone"),
        (lambda s: s["smtp"].update(prot=25), "smtp.prot", "unknown key"),
        (
            lambda s: s["reports"]["daily"]["recipients"][0].update(email="nobody"),
            "reports.daily.recipients.0.email",
            "pattern",
        ),
        (lambda s: s.update(brands=[]), "brands", "at least 1"),
        (
            lambda s: s["brands"][0]["sources"][0]["targets"][0].pop("country"),
            "brands.0.sources.0",
            "targets.0: missing country",
        ),
        (
            lambda s: s["brands"][0]["sources"][0]["targets"][0].update(shop="x"),
            "brands.0.sources.0",
            "targets.0: unknown shop",
        ),
    ],
)
def test_wrong_values_name_the_file_the_key_and_the_problem(
    tmp_path, change, expected_key, expected_problem
):
    settings = _demo_settings()
    change(settings)
    path = _write(tmp_path, settings)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert expected_key in message
    assert expected_problem in message


def test_password_in_the_file_is_refused(tmp_path):
    settings = _demo_settings()
    settings["smtp"]["password"] = "hunter2"
    with pytest.raises(ConfigError, match="REPWATCH_SMTP_PASSWORD"):
        load_config(_write(tmp_path, settings))


def test_password_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("REPWATCH_SMTP_PASSWORD", "s3cret")
    assert load_config(DEMO_CONFIG).smtp.password == "s3cret"


def test_environment_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("REPWATCH_SMTP_HOST", "mail.internal")
    monkeypatch.setenv("REPWATCH_SMTP_PORT", "2525")
    monkeypatch.setenv("REPWATCH_DATA_DIR", str(tmp_path / "elsewhere"))
    config = load_config(DEMO_CONFIG)
    assert (config.smtp.host, config.smtp.port) == ("mail.internal", 2525)
    assert config.paths.data_dir == tmp_path / "elsewhere"


def test_broken_yaml_reports_the_line(tmp_path):
    path = tmp_path / "repwatch.yaml"
    path.write_text("brands:\n  - name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line \d+: not valid YAML"):
        load_config(path)


def test_unsafe_yaml_tag_is_not_executed(tmp_path):
    path = tmp_path / "repwatch.yaml"
    path.write_text("brands: !!python/object/apply:os.system ['echo pwned']\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_cli_prints_one_line_and_no_traceback(tmp_path):
    settings = _demo_settings()
    settings["brands"][0]["sources"][0]["source"] = "appstor"
    path = _write(tmp_path, settings)
    done = subprocess.run(
        [sys.executable, "-m", "repwatch", "--config", str(path), "config", "check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"Error: {path}: brands.0.sources.0.source: unknown source 'appstor' "
        f"(known: {', '.join(KNOWN_SOURCES)})"
    ]


def test_config_show_masks_the_password(monkeypatch):
    monkeypatch.setenv("REPWATCH_SMTP_PASSWORD", "s3cret-value")
    done = subprocess.run(
        [sys.executable, "-m", "repwatch", "--config", str(DEMO_CONFIG), "config", "show"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "s3cret-value" not in done.stdout
    assert '"password": "********"' in done.stdout


def test_own_problem_rules_path_is_relative_to_the_config_file(tmp_path):
    settings = _demo_settings()
    settings["nlp"] = {"problem_rules": "rules/my-problems.yaml"}
    config = load_config(_write(tmp_path, settings))
    assert config.nlp.problem_rules == tmp_path / "rules" / "my-problems.yaml"
