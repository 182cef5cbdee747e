"""The demo review site: one local HTTP server serving every supported site's format at
its real path scheme, from the deterministic catalogue of real review texts.

Each site's formats live in `repwatch.demo_site.sites.<site>` as a list of ROUTES
(path pattern, handler); this module only routes and serves.

A source can be broken on purpose, to see the failure path (`break_source`, or
`repwatch demo-site --break jd=markup`): `markup` serves its pages in a changed layout,
`empty` answers with nothing, `errors` with HTTP 503. `inject` plants one-off faults: a
planted response (a 429, a 500, ...), or the real page delivered badly: never answered
(`Stall`), cut off after part of its announced length (`Truncate`) or sent a few bytes at a
time (`Trickle`).
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from repwatch.demo_site.routing import Request, Response, all_routes, site_names

ROBOTS_TXT = "User-agent: *\nAllow: /\n"
BREAK_MODES = ("markup", "empty", "errors")
# What a redesign renames: the script elements and microdata the HTML sites' data is in.
_RENAMED_MARKERS = (
    (b"application/ld+json", b"application/x-redesign+json"),
    (b"__NEXT_DATA__", b"__APP_STATE__"),
    (b"itemprop=", b"data-prop="),
)
_REDESIGNED_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>We have a new look</title></head>
<body><div class="app-root" data-v2="true"><p>Reviews now load in our new app.</p></div></body>
</html>
"""

log = logging.getLogger(__name__)


class DemoSiteHandler(BaseHTTPRequestHandler):
    server: DemoReviewServer
    server_version = "repwatch-demo-site/0.1"
    # Persistent connections, as real sites keep them: clients skip a TCP handshake per page.
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle's algorithm the body would wait
    # for the client's delayed ACK (40 ms) on every page of a kept-alive connection.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        parts = urlsplit(self.path)
        fault = self.server.take_fault(parts.path)
        self.server.log_request_seen(parts.path, fault)
        if fault is None:
            self._send(self._page(parts))
        elif isinstance(fault.delivery, Stall):
            self._stall(fault.delivery)
        else:
            response = fault.response if fault.response is not None else self._page(parts)
            if isinstance(fault.delivery, Truncate):
                self._send_truncated(response, fault.delivery)
            elif isinstance(fault.delivery, Trickle):
                self._send_trickled(response, fault.delivery)
            else:
                self._send(response)

    def _page(self, parts) -> Response:
        """What the site serves at this address (robots.txt, a page, an error, 404)."""
        if parts.path == "/robots.txt":
            return Response.text(ROBOTS_TXT)
        request = Request(
            path=parts.path,
            query={key: values[-1] for key, values in parse_qs(parts.query).items()},
            headers=dict(self.headers.items()),
            base_url=self.base_url,
            last_day=self.server.last_day,
        )
        for site, pattern, handler in all_routes():
            match = pattern.match(parts.path)
            if match:
                mode = self.server.broken.get(site)
                if mode == "errors":  # before the handler: a failing site computes nothing
                    return Response.text("service unavailable\n", status=503)
                response = handler(request, match)
                return broken_response(response, mode) if mode else response
        return Response.text("not found\n", status=HTTPStatus.NOT_FOUND)

    @property
    def base_url(self) -> str:
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        return f"http://{host}"

    def _send(self, response: Response) -> None:
        self._send_headers(response)
        self.wfile.write(response.body)

    def _send_headers(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _stall(self, stall: Stall) -> None:
        """Answer nothing; hold the connection until the client closes it (it timed out)."""
        self.close_connection = True
        self.connection.settimeout(stall.max_seconds)
        try:
            while self.connection.recv(4096):
                pass
        except OSError:  # our own cap, or the client reset the connection
            pass

    def _send_truncated(self, response: Response, truncate: Truncate) -> None:
        """Headers announcing the whole body, part of it, then the connection closes."""
        self._send_headers(response)
        self.wfile.write(response.body[: int(len(response.body) * truncate.fraction)])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_WR)

    def _send_trickled(self, response: Response, trickle: Trickle) -> None:
        self._send_headers(response)
        self.wfile.flush()
        for start in range(0, len(response.body), trickle.chunk_bytes):
            time.sleep(trickle.interval_seconds)
            self.wfile.write(response.body[start : start + trickle.chunk_bytes])
            self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (base signature)
        log.debug("%s " + format, self.address_string(), *args)


@dataclass(frozen=True)
class Stall:
    """Read the request and never answer, until the client gives up (or `max_seconds`)."""

    max_seconds: float = 300.0


@dataclass(frozen=True)
class Truncate:
    """Announce the whole body in Content-Length, send `fraction` of it, close the connection."""

    fraction: float = 0.5


@dataclass(frozen=True)
class Trickle:
    """Send the body `chunk_bytes` at a time, `interval_seconds` apart (a very slow site)."""

    chunk_bytes: int = 512
    interval_seconds: float = 0.05


@dataclass
class Fault:
    """A planted failure: the next `times` requests whose path matches get `response` (None:
    the real page), delivered as `delivery` says (None: normally)."""

    path: re.Pattern
    response: Response | None
    times: int = 1
    delivery: Stall | Truncate | Trickle | None = None


@dataclass(frozen=True)
class SeenRequest:
    at: float  # time.monotonic()
    path: str
    fault: bool


class DemoReviewServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's listen backlog is 5: a crawler opening 8+ connections at once would see
    # SYNs dropped and retried a second later, as no real site makes it wait.
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], last_day: date, broken: dict[str, str] | None = None
    ):
        super().__init__(address, DemoSiteHandler)
        self.last_day = last_day
        self.broken: dict[str, str] = {}
        for source, mode in (broken or {}).items():
            self.break_source(source, mode)
        self.faults: list[Fault] = []
        self.seen: list[SeenRequest] = []
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return base_url_of(self)

    def inject(
        self,
        path: str,
        response: Response | None = None,
        times: int = 1,
        delivery: Stall | Truncate | Trickle | None = None,
    ) -> None:
        """Answer the next `times` requests for paths matching the regex `path` with
        `response` (a 429 with Retry-After, a 500, changed markup, ...; None: the real page),
        delivered normally or as `delivery` says (never, cut off, or slowly)."""
        if response is None and delivery is None:
            raise ValueError("a fault needs a response, a delivery, or both")
        with self._lock:
            self.faults.append(Fault(re.compile(path), response, times, delivery))

    def break_source(self, source: str, mode: str) -> None:
        """Serve every page of `source` broken until repaired: `markup` (a changed layout),
        `empty` (an empty body) or `errors` (HTTP 503)."""
        if mode not in BREAK_MODES:
            raise ValueError(f"unknown break mode {mode!r}; one of {', '.join(BREAK_MODES)}")
        if source not in site_names():
            raise ValueError(f"no demo site for {source!r}; one of {', '.join(site_names())}")
        self.broken[source] = mode

    def repair_source(self, source: str) -> None:
        self.broken.pop(source, None)

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.path.search(path):
                    fault.times -= 1
                    return fault
        return None

    def log_request_seen(self, path: str, fault: Fault | None) -> None:
        with self._lock:
            self.seen.append(SeenRequest(time.monotonic(), path, fault is not None))


def broken_response(response: Response, mode: str) -> Response:
    """The page as a broken site would serve it (`markup` or `empty`; see BREAK_MODES)."""
    if mode == "empty":
        return Response(b"", response.content_type)
    if mode != "markup":
        raise ValueError(f"unknown break mode {mode!r}")
    # By the body, not the label: JD serves its JSONP as text/html.
    if response.body.lstrip().startswith(b"<"):
        body = response.body
        for old, new in _RENAMED_MARKERS:
            body = body.replace(old, new)
        return Response(body, response.content_type, response.status, response.headers)
    # An API answered by an HTML page: the data moved elsewhere.
    return Response.html(_REDESIGNED_PAGE, status=response.status)


def default_last_day() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    last_day: date | None = None,
    broken: dict[str, str] | None = None,
) -> DemoReviewServer:
    """A server bound to host:port (0 picks a free port), not yet serving."""
    return DemoReviewServer((host, port), last_day or default_last_day(), broken)


def base_url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


@contextmanager
def running_server(
    port: int = 0, last_day: date | None = None, broken: dict[str, str] | None = None
) -> Iterator[DemoReviewServer]:
    """Serve in a background thread; yields the server (faults can be injected into it)."""
    server = make_server(port=port, last_day=last_day, broken=broken)
    thread = threading.Thread(target=server.serve_forever, name="demo-review-site", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def serve_in_thread(port: int = 0, last_day: date | None = None) -> Iterator[str]:
    """Serve in a background thread; yields the base URL, shuts down on exit."""
    with running_server(port, last_day) as server:
        yield server.base_url


def serve_forever(
    port: int,
    last_day: date | None = None,
    broken: dict[str, str] | None = None,
    host: str = "127.0.0.1",
) -> None:
    """Serve until interrupted (the `repwatch demo-site` command)."""
    server = make_server(host=host, port=port, last_day=last_day, broken=broken)
    print(
        f"Demo review site on {base_url_of(server)} (reviews up to {server.last_day}); "
        "Ctrl+C stops it",
        flush=True,
    )
    for source, mode in sorted(server.broken.items()):
        print(f"{source} is broken on purpose: {mode}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
