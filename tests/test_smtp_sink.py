"""The local SMTP sink over a real socket."""

from __future__ import annotations

import smtplib
import threading
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

from repwatch.smtp_sink import SmtpSink, serve_forever


def sample_message(subject: str, message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "repwatch@acme.example"
    message["To"] = "ceo@acme.example"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content("Plain text ✓")
    message.add_alternative("<p>HTML ✓</p>", subtype="html")
    message.get_payload()[1].add_related(
        b"\x89PNG\r\n\x1a\nnot-really-a-png", "image", "png", cid="<chart@repwatch>"
    )
    return message


def send(port: int, message: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(message)


def test_received_message_is_saved_as_parseable_eml(tmp_path):
    with SmtpSink(out_dir=tmp_path / "mail") as sink:
        assert sink.port > 0
        send(sink.port, sample_message("Négatif ▲ 41 reviews", "<daily.2026-11-26.abc@repwatch>"))
        (path,) = sink.received
    assert path.parent == tmp_path / "mail"
    assert path.name == "0001-daily.2026-11-26.abc_repwatch.eml"
    parsed = message_from_bytes(path.read_bytes(), policy=default_policy)
    assert parsed["Subject"] == "Négatif ▲ 41 reviews"
    assert [part.get_content_type() for part in parsed.walk()] == [
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
    ]
    assert parsed.get_body(("plain",)).get_content().strip() == "Plain text ✓"
    png = next(part for part in parsed.walk() if part.get_content_type() == "image/png")
    assert png["Content-ID"] == "<chart@repwatch>"
    assert png.get_content() == b"\x89PNG\r\n\x1a\nnot-really-a-png"


def test_numbering_continues_after_existing_files(tmp_path):
    out_dir = tmp_path / "mail"
    with SmtpSink(out_dir=out_dir) as sink:
        send(sink.port, sample_message("one", "<one@x>"))
    with SmtpSink(out_dir=out_dir) as sink:
        send(sink.port, sample_message("two", "<two@x>"))
        send(sink.port, sample_message("three", "<three@x>"))
        assert [path.name for path in sink.received] == ["0002-two_x.eml", "0003-three_x.eml"]
    assert sorted(path.name for path in out_dir.iterdir()) == [
        "0001-one_x.eml",
        "0002-two_x.eml",
        "0003-three_x.eml",
    ]


def test_serve_forever_until_stopped(tmp_path):
    stop = threading.Event()
    ready: list[SmtpSink] = []
    started = threading.Event()

    def on_ready(sink: SmtpSink) -> None:
        ready.append(sink)
        started.set()

    server = threading.Thread(
        target=serve_forever,
        args=("127.0.0.1", 0, tmp_path / "mail"),
        kwargs={"stop": stop, "on_ready": on_ready},
    )
    server.start()
    try:
        while not started.wait(0.05):
            assert server.is_alive(), "serve_forever ended before it was ready"
        send(ready[0].port, sample_message("served", "<served@x>"))
    finally:
        stop.set()
        server.join()
    assert [path.name for path in (tmp_path / "mail").iterdir()] == ["0001-served_x.eml"]
