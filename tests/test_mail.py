"""Building and delivering report e-mails over real SMTP (aiosmtpd) with a DuckDB send ledger."""

from __future__ import annotations

import logging
import socket
from datetime import date
from email import message_from_bytes
from email.policy import default as default_policy

import duckdb
import pytest
from aiosmtpd.controller import Controller

from repwatch.charts import sentiment_trend_png
from repwatch.config import Config, Paths, Recipient
from repwatch.mail import DeliveryError, build_message, deliver
from repwatch.report import RenderedReport
from repwatch.smtp_sink import SmtpSink

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


def test_transient_refusal_is_retried(tmp_path, rendered, ledger_db, scripted_server):
    handler, port = scripted_server
    handler.replies["ceo@acme.example"] = ["451 4.3.0 Try again later"]
    config = make_config(tmp_path, {"host": "127.0.0.1", "port": port})
    result = deliver(config, rendered, con=ledger_db, retry_delay_seconds=0.01)
    assert result.sent == ["cs-lead@acme.example", "ceo@acme.example"]
    assert handler.rcpt_attempts.count("ceo@acme.example") == 2
    assert len(handler.delivered) == 2
    assert len(ledger_rows(ledger_db)) == 2


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
