"""The long-running commands as a user starts them: `repwatch demo-site` and `smtp-sink`."""

from __future__ import annotations

import json
import smtplib
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from email.message import EmailMessage


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen) -> None:
    for _ in range(200):
        assert process.poll() is None, process.stderr.read()
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@contextmanager
def _command(*arguments: str):
    process = subprocess.Popen(
        [sys.executable, "-m", "repwatch", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_demo_site_command_serves_the_app_store_feed():
    port = _free_port()
    with _command("demo-site", "--port", str(port), "--last-day", "2026-11-20") as process:
        _wait_for_port(port, process)
        url = f"http://127.0.0.1:{port}/us/rss/customerreviews/page=1/id=1000001/sortby=mostrecent/json"
        with urllib.request.urlopen(url) as response:
            feed = json.load(response)["feed"]
    assert len(feed["entry"]) == 50
    assert feed["entry"][0]["updated"]["label"].startswith("2026-11-2")


def test_smtp_sink_command_saves_what_it_receives(tmp_path):
    port = _free_port()
    with _command("smtp-sink", "--port", str(port), "--out", str(tmp_path)) as process:
        _wait_for_port(port, process)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@x.test", "b@x.test", "hello 你好"
        message.set_content("body")
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.send_message(message)
    saved = list(tmp_path.glob("*.eml"))
    assert len(saved) == 1
    assert "hello" in saved[0].read_text(encoding="utf-8")
