"""Shared fixtures: the demo environment (demo review site + SMTP sink + a config pointing at
them) on free loopback ports, with its data folder under the test's tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import yaml

from repwatch.config import Config, load_config

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / "demo" / "repwatch.yaml"
# A fixed past day keeps the demo site's catalogue, and so every figure, reproducible.
DEMO_DAY = date(2026, 11, 20)


@dataclass
class DemoEnv:
    config_path: Path
    config: Config
    site_url: str
    sink: object  # repwatch.smtp_sink.SmtpSink
    day: date
    data_dir: Path


def write_config(tmp_path: Path, **overrides) -> Path:
    """The demo config with sections replaced, written under tmp_path."""
    settings = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    # The copy lives elsewhere: point drop folders at the demo's own.
    for brand in settings["brands"]:
        for source in brand["sources"]:
            for target in source["targets"]:
                if "folder" in target:
                    target["folder"] = str(DEMO_CONFIG.parent / target["folder"])
    for section, values in overrides.items():
        settings[section] = {**settings.get(section, {}), **values}
    path = tmp_path / "repwatch.yaml"
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    return path


def demo_base_urls(site_url: str) -> dict[str, str]:
    """Every web source of the demo pointed at the local demo site."""
    from repwatch.config import KNOWN_SOURCES

    return {source: site_url for source in KNOWN_SOURCES if source != "files"}


@pytest.fixture
def demo_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoEnv]:
    from repwatch.demo_site.server import serve_in_thread
    from repwatch.smtp_sink import SmtpSink

    monkeypatch.delenv("REPWATCH_DATA_DIR", raising=False)
    data_dir = tmp_path / "data"
    with (
        serve_in_thread(port=0, last_day=DEMO_DAY) as site_url,
        SmtpSink(host="127.0.0.1", port=0, out_dir=tmp_path / "mailbox") as sink,
    ):
        config_path = write_config(
            tmp_path,
            crawl={"base_urls": demo_base_urls(site_url), "lookback_days": 14},
            smtp={"host": "127.0.0.1", "port": sink.port},
            paths={"data_dir": str(data_dir)},
        )
        yield DemoEnv(config_path, load_config(config_path), site_url, sink, DEMO_DAY, data_dir)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """The demo config with its data folder under tmp_path (no servers started)."""
    return load_config(write_config(tmp_path, paths={"data_dir": str(tmp_path / "data")}))
