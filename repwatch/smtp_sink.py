"""A local SMTP server that keeps every message it receives as an .eml file (demo and tests)."""

from __future__ import annotations

import logging
import re
import signal
import socket
import threading
from collections.abc import Callable
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.policy import default as default_policy
from pathlib import Path

from aiosmtpd.controller import Controller

log = logging.getLogger(__name__)

_NOT_SLUG = re.compile(r"[^A-Za-z0-9._-]+")
_NUMBERED = re.compile(r"^(\d+)-")


def _free_port(host: str) -> int:
    # aiosmtpd's Controller connects to its own port to check the server is up,
    # so it needs the concrete port before it starts.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _message_slug(content: bytes) -> str:
    headers = BytesHeaderParser(policy=default_policy).parsebytes(content)
    message_id = str(headers.get("Message-ID") or "").strip().strip("<>")
    return _NOT_SLUG.sub("_", message_id)[:80].strip("._-") or "no-message-id"


class _SaveMessages:
    """aiosmtpd handler: numbers messages after the ones already in the folder."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.received: list[Path] = []
        self._lock = threading.Lock()
        numbers = [
            int(match.group(1))
            for path in out_dir.glob("*.eml")
            if (match := _NUMBERED.match(path.name))
        ]
        self._last_number = max(numbers, default=0)

    async def handle_DATA(self, server, session, envelope) -> str:
        content = envelope.original_content or envelope.content
        with self._lock:
            self._last_number += 1
            path = self.out_dir / f"{self._last_number:04d}-{_message_slug(content)}.eml"
            partial = path.with_name(path.name + ".partial")
            partial.write_bytes(content)
            partial.replace(path)
            self.received.append(path)
        log.info("saved message from %s to %s", envelope.mail_from, path)
        return "250 Message accepted for delivery"


class SmtpSink:
    """Context manager running an SMTP server in a thread; `received` lists the saved files."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, out_dir: Path):
        self.host = host
        self.port = port
        self.out_dir = Path(out_dir)
        self._controller: Controller | None = None
        self._handler: _SaveMessages | None = None

    @property
    def received(self) -> list[Path]:
        return list(self._handler.received) if self._handler else []

    def messages(self, report: str | None = None) -> list[EmailMessage]:
        """The received messages, parsed; with `report` ("daily", "alert", …) only those whose
        X-Repwatch-Report header names that report."""
        parsed = [
            BytesParser(policy=default_policy).parse(path.open("rb")) for path in self.received
        ]
        if report is None:
            return parsed
        return [
            message
            for message in parsed
            if str(message.get("X-Repwatch-Report", "")).startswith(f"{report}/")
        ]

    def start(self) -> SmtpSink:
        if self._controller is not None:
            raise RuntimeError("SMTP sink already running")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.port == 0:
            self.port = _free_port(self.host)
        self._handler = _SaveMessages(self.out_dir)
        controller = Controller(
            self._handler,
            hostname=self.host,
            port=self.port,
            # Skips socket.getfqdn(), which can stall on hosts without working DNS.
            server_hostname="repwatch-smtp-sink",
            enable_SMTPUTF8=True,
        )
        controller.start()
        self._controller = controller
        log.info("SMTP sink listening on %s:%d, saving to %s", self.host, self.port, self.out_dir)
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def serve_forever(
    host: str,
    port: int,
    out_dir: Path,
    *,
    stop: threading.Event | None = None,
    on_ready: Callable[[SmtpSink], None] | None = None,
) -> None:
    """Run the sink until `stop` is set, Ctrl-C, or SIGTERM (when called from the main thread)."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    with SmtpSink(host, port, out_dir=out_dir) as sink:
        if on_ready is not None:
            on_ready(sink)
        try:
            # Short waits keep Ctrl-C and SIGTERM responsive.
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            log.info("SMTP sink stopped")
