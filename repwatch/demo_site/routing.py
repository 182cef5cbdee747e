"""Requests and responses of the demo site, and the registry of every site's routes."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from http import HTTPStatus


@dataclass(frozen=True)
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    base_url: str  # e.g. "http://127.0.0.1:8808", as the client addressed the server
    last_day: date  # the newest day the site has reviews for


@dataclass(frozen=True)
class Response:
    body: bytes
    content_type: str
    status: int = HTTPStatus.OK
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, document: object, *, encoding: str = "utf-8", status: int = HTTPStatus.OK):
        body = json.dumps(document, ensure_ascii=False).encode(encoding)
        return cls(body, f"application/json; charset={encoding}", status)

    @classmethod
    def text(cls, text: str, *, status: int = HTTPStatus.OK, content_type: str = "text/plain"):
        return cls(text.encode("utf-8"), f"{content_type}; charset=utf-8", status)

    @classmethod
    def html(cls, html: str, *, status: int = HTTPStatus.OK):
        return cls.text(html, status=status, content_type="text/html")


Handler = Callable[[Request, re.Match], Response]


@cache
def all_routes() -> tuple[tuple[str, re.Pattern, Handler], ...]:
    """(site, path pattern, handler) of every module in repwatch.demo_site.sites, in
    module-name order; the site is the module's name, which is its source's name."""
    from repwatch.demo_site import sites

    routes: list[tuple[str, re.Pattern, Handler]] = []
    for module_info in sorted(pkgutil.iter_modules(sites.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{sites.__name__}.{module_info.name}")
        routes += [(module_info.name, *route) for route in getattr(module, "ROUTES", [])]
    return tuple(routes)


def site_names() -> tuple[str, ...]:
    return tuple(sorted({site for site, _pattern, _handler in all_routes()}))
