"""Shared fixtures: the demo environment (demo review site + SMTP sink + a config pointing at
them) on free loopback ports, with its data folder under the test's tmp_path; the demo config
to change and write; and the project's spiders and Scrapy settings as a test meets them."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from repwatch.config import Config, load_config

if TYPE_CHECKING:
    from scrapy.http import TextResponse
    from scrapy.settings import Settings

    from spiders.base import ReviewSpider

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


def demo_settings() -> dict:
    """The demo config as YAML data, for a test to change and `write_settings`."""
    settings = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    # The copy lives elsewhere: point drop folders at the demo's own.
    for brand in settings["brands"]:
        for source in brand["sources"]:
            for target in source["targets"]:
                if "folder" in target:
                    target["folder"] = str(DEMO_CONFIG.parent / target["folder"])
    return settings


def with_sections(settings: dict, **sections) -> dict:
    """`settings` with sections changed: a mapping is merged into the section, anything else
    (the list of brands, say) replaces it."""
    for section, values in sections.items():
        if isinstance(values, dict):
            values = {**settings.get(section, {}), **values}
        settings[section] = values
    return settings


def write_settings(tmp_path: Path, settings: dict) -> Path:
    """`settings` written as tmp_path/repwatch.yaml."""
    path = tmp_path / "repwatch.yaml"
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    return path


def write_config(tmp_path: Path, **overrides) -> Path:
    """The demo config with sections changed (`with_sections`), written under tmp_path."""
    return write_settings(tmp_path, with_sections(demo_settings(), **overrides))


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


# ---------------------------------------------------------------- spiders (Scrapy loads here)


def spider_class(site: str) -> type[ReviewSpider]:
    """The spider of `site`: the ReviewSpider named so in spiders/sites/<site>.py."""
    from spiders.base import ReviewSpider

    module = importlib.import_module(f"spiders.sites.{site}")
    (found,) = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, ReviewSpider)
        and getattr(value, "name", None) == site
    ]
    return found


def page_response(url: str, body: bytes, headers: dict[str, str]) -> TextResponse:
    """A page as Scrapy hands it to a spider, in process: an HtmlResponse where the
    Content-Type says HTML, else a TextResponse."""
    from scrapy.http import HtmlResponse, Request, TextResponse

    kind = HtmlResponse if "html" in headers.get("Content-Type", "") else TextResponse
    return kind(url=url, body=body, headers=headers, request=Request(url))


def project_scrapy_settings() -> Settings:
    """Scrapy's settings as the project's crawls run with them (spiders/settings.py)."""
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("spiders.settings", priority="project")
    return settings
