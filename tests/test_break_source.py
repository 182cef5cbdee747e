"""Breaking a demo source: the demo site's break switch, and the daily job over real HTTP
and real SMTP with one source broken — its pages are quarantined, the report's coverage
section says the source is failing, and the other sources' numbers are still delivered."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import date

import duckdb
import pytest
from conftest import DEMO_DAY, demo_base_urls, write_config

from repwatch.config import load_config
from repwatch.demo_site.server import running_server
from repwatch.pipeline import run_day
from repwatch.smtp_sink import SmtpSink
from repwatch.warehouse import read_quarantine

JD_PAGE = (
    "/comment/productPageComments.action?callback=fetchJSON_comment98&productId=100012043978"
    "&score=0&sortType=6&page=0&pageSize=10"
)
DATA_ENGINEERS = "data@acme.example"
APPSTORE_PAGE = "/us/rss/customerreviews/page=1/id=1000001/sortby=mostrecent/json"


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_break_switch_modes_affect_only_the_broken_source():
    with running_server(last_day=date(2026, 11, 20)) as server:
        healthy_status, healthy = _get(server.base_url + JD_PAGE)
        assert healthy_status == 200 and healthy.startswith(b"fetchJSON_comment98(")

        server.break_source("jd", "markup")
        status, body = _get(server.base_url + JD_PAGE)
        assert status == 200 and body.lstrip().startswith(b"<!DOCTYPE html>")
        assert b"comments" not in body
        other_status, other = _get(server.base_url + APPSTORE_PAGE)
        assert other_status == 200 and other.lstrip().startswith(b"{")

        server.break_source("jd", "empty")
        assert _get(server.base_url + JD_PAGE) == (200, b"")
        server.break_source("jd", "errors")
        assert _get(server.base_url + JD_PAGE)[0] == 503

        server.repair_source("jd")
        assert _get(server.base_url + JD_PAGE) == (healthy_status, healthy)
        # One-off faults still work beside the switch.
        from repwatch.demo_site.routing import Response

        server.inject(r"productPageComments", Response.text("slow down", status=429))
        assert _get(server.base_url + JD_PAGE)[0] == 429
        assert _get(server.base_url + JD_PAGE)[0] == 200


def test_break_switch_rejects_unknown_sources_and_modes():
    with running_server(last_day=date(2026, 11, 20)) as server:
        with pytest.raises(ValueError, match="break mode"):
            server.break_source("jd", "slow")
        with pytest.raises(ValueError, match="no demo site"):
            server.break_source("nosuchsite", "markup")


def test_demo_site_command_validates_break(tmp_path):
    from click.testing import CliRunner

    from repwatch.cli import main

    result = CliRunner().invoke(main, ["demo-site", "--break", "jd=melt"])
    assert result.exit_code != 0 and "SOURCE=MODE" in result.output


@pytest.mark.reliability(
    row="A source's markup changed (a redesign: data markers renamed, an API answering with "
    "an HTML page), through a whole daily run",
    expected="Its pages are quarantined with the parser's reason and kept; the report reaches "
    "its recipients with the other sources' numbers and says the source is failing; the data "
    "engineers get a data-quality e-mail naming it",
)
def test_a_broken_source_is_quarantined_and_shown_while_the_others_are_delivered(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("REPWATCH_DATA_DIR", raising=False)
    with (
        running_server(last_day=DEMO_DAY, broken={"jd": "markup"}) as server,
        SmtpSink(host="127.0.0.1", port=0, out_dir=tmp_path / "mailbox") as sink,
    ):
        config = load_config(
            write_config(
                tmp_path,
                crawl={"base_urls": demo_base_urls(server.base_url), "lookback_days": 14},
                smtp={"host": "127.0.0.1", "port": sink.port},
                paths={"data_dir": str(tmp_path / "data")},
                quality={"notify": [{"email": DATA_ENGINEERS, "name": "Data engineering"}]},
            )
        )
        run_day(config, DEMO_DAY)
        messages = sink.messages()

    # 1. The broken source's pages are in the quarantine, with the parser's reason.
    jd_entries = read_quarantine(config, source="jd")
    jd_targets = {t.target_id for _b, s, t in config.targets() if s.source == "jd"}
    assert {entry["target_id"] for entry in jd_entries} == jd_targets
    for entry in jd_entries:
        assert entry["kind"] == "page"
        assert entry["reason"].startswith("page failed to parse: not JSON or JSONP")
        assert "We have a new look" in entry["payload"]

    # 2. The other sources were loaded; the broken one has nothing.
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        loaded = dict(con.execute("select source, count(*) from int_reviews group by 1").fetchall())
        appstore_reviews = con.execute(
            "select sum(reviews) from mart_brand_daily "
            "where brand = 'Acme Shop' and source = 'appstore' and day = ?",
            [DEMO_DAY],
        ).fetchone()[0]
    assert "jd" not in loaded
    assert {"appstore", "reddit", "hackernews", "trustpilot"} <= set(loaded)
    assert appstore_reviews > 0

    # 3. The daily report reached its recipients, with the other sources' numbers and a
    #    visible note on the broken one.
    daily = [m for m in messages if str(m["X-Repwatch-Report"]).startswith("daily/")]
    languages = {r.email: r.language for r in config.reports.daily.recipients}
    assert sorted(m["To"].addresses[0].addr_spec for m in daily) == sorted(languages)
    for message in daily:
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        if languages[message["To"].addresses[0].addr_spec] != "en":
            # Translated labels; the figures and the parser's own error text stay as they are.
            for body in (text, html):
                assert f"{appstore_reviews}" in body
                assert "page failed to parse" in body
            continue
        assert f"- App Store: {appstore_reviews} reviews" in text
        for body in (text, html):
            assert "How complete is this report" in body
            assert (
                "JD.com: no items since the first crawl, last error: page failed to parse" in body
            )
        jd_line = next(line for line in text.splitlines() if line.startswith("- JD.com ("))
        assert jd_line.startswith("- JD.com (failing): ") and "0 items kept" in jd_line
        appstore_line = next(line for line in text.splitlines() if line.startswith("- App Store ("))
        assert appstore_line.startswith("- App Store (ok): ")

    # 4. The data engineers got a data-quality e-mail naming the broken source.
    to_engineers = [m for m in messages if m["To"].addresses[0].addr_spec == DATA_ENGINEERS]
    assert len(to_engineers) == 1
    body = to_engineers[0].get_body(preferencelist=("plain",)).get_content()
    assert "jd" in str(to_engineers[0]["Subject"]) and "jd" in body
