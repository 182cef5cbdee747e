"""What every report shares on its way to HTML: the Jinja environment of a language (with `t`
and the formatting filters), CSS inlining, the archive copy with images as data URIs, and
chart images with their size and alt text.

Templates autoescape HTML (`*.html.j2`), so review texts with markup show as text; the plain
text templates (`*.txt.j2`) are not escaped, as text/plain is never read as markup.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from repwatch.config import PROJECT_DIR
from repwatch.i18n import translator

TEMPLATES_DIR = PROJECT_DIR / "templates"
HTML_LIMIT_BYTES = 100 * 1024  # Gmail clips an HTML part over about 102 KB
CHART_SCALE = 2  # PNGs at twice their displayed size, sharp on high-density screens

_CHARSET_META = '<meta charset="utf-8">'
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# Line breaks between tags are markup the reader never sees; they count against the size limit.
_BETWEEN_TAGS = re.compile(r">\s*\n\s*<")


# The KPI rows of the daily report: catalogue key kpi.<key>, how to format, which way is good.
KPI_ROWS = (
    {"key": "reviews", "kind": "count", "up_is_good": None},
    {"key": "avg_rating", "kind": "rating", "up_is_good": True},
    {"key": "csat", "kind": "score", "up_is_good": True},
    {"key": "positive", "kind": "count", "up_is_good": True},
    {"key": "neutral", "kind": "count", "up_is_good": None},
    {"key": "negative", "kind": "count", "up_is_good": False},
    {"key": "negative_share", "kind": "share", "up_is_good": False},
)
# Digits shown per kind of figure, and of its change.
_DIGITS = {
    "count": 0,
    "count_avg": 1,
    "rating": 2,
    "score": 1,
    "index": 1,
    "hours": 1,
    "share": 0,
    "sentiment": 2,
}
_CHANGE_DIGITS = {**_DIGITS, "share": 1}


def slug(value: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def safe_url(url: str | None) -> str:
    """A link target only when it is a web address: a crawled `javascript:` or `data:` URL
    must not become a link in the report."""
    if not url:
        return ""
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else ""


def change_tone(value, up_is_good: bool | None) -> str:
    """CSS class of a change: good, bad or flat."""
    if value is None or up_is_good is None or value == 0:
        return "flat"
    return "good" if (value > 0) == up_is_good else "bad"


def _formatters(language: str) -> dict[str, Callable]:
    tr = translator(language)

    def kpi(value, kind: str, averaged: bool = False) -> str:
        if value is None:
            return tr.t("common.missing")
        if kind == "share":
            return tr.percent(value)
        if kind == "hours":
            return tr.hours(value)
        digits = 1 if averaged and kind == "count" else _DIGITS[kind]
        return tr.number(value, digits)

    def kpi_change(value, kind: str) -> str:
        """Signed change with an arrow; shares change in percentage points."""
        if value is None:
            return tr.t("common.missing")
        if kind == "share":
            return tr.signed(value * 100, _CHANGE_DIGITS[kind], tr.t("format.points"))
        digits = _CHANGE_DIGITS[kind]
        if kind == "count" and not float(value).is_integer():
            digits = 1
        return tr.signed(value, digits)

    def stars(rating) -> str:
        if rating is None:
            return tr.t("common.no_rating")
        rating = max(0, min(5, int(rating)))
        return "★" * rating + "☆" * (5 - rating)

    def alert_text(alert: dict) -> str:
        """A fired alert in words: "Negative reviews · all sources: 37 (usual 6.1 ± 2.3,
        threshold 10.7)"."""
        kind = alert["kind"]
        name = tr.label("alert_rule", alert["rule"])
        if alert["subject"]:
            name += " · " + tr.label("problem", alert["subject"])
        where = (
            tr.t("common.all_sources")
            if alert["source"] == "all"
            else (tr.label("source", alert["source"]))
        )
        details = []
        if alert["baseline"] is not None:
            usual = kpi(alert["baseline"], kind, averaged=True)
            if alert["baseline_stddev"]:
                usual += " ± " + kpi(alert["baseline_stddev"], kind, averaged=True)
            details.append(tr.t("alerts.usual", value=usual))
        if alert["threshold_warning"] is not None:
            details.append(tr.t("alerts.threshold", value=kpi(alert["threshold_warning"], kind)))
        if alert["matched_words"]:
            details.append(tr.t("alerts.words", words=", ".join(alert["matched_words"])))
        text = tr.t("alerts.line", name=name, where=where, value=kpi(alert["value"], kind))
        return text + (tr.t("alerts.details", details="; ".join(details)) if details else "")

    def age(newest, period_end) -> str:
        """How old the newest item is at the end of the period: "3 h old", "5 days old"."""
        if newest is None:
            return tr.t("coverage.no_items")
        hours = (period_end - newest).total_seconds() / 3600
        if hours < 1:
            return tr.t("coverage.age_under_hour")
        if hours < 48:
            return tr.t("coverage.age_hours", hours=f"{hours:.0f}")
        return tr.t("coverage.age_days", days=f"{hours / 24:.0f}")

    return {
        "age": age,
        "alert_text": alert_text,
        "kpi": kpi,
        "kpi_change": kpi_change,
        "tone": change_tone,
        "percent": tr.percent,
        "number": tr.number,
        "hours": tr.hours,
        "duration": tr.duration,
        "signed": tr.signed,
        "date": tr.date,
        "date_long": tr.date_long,
        "date_short": tr.date_short,
        "datetime": tr.datetime,
        "period": tr.period,
        "period_short": tr.period_short,
        "stars": stars,
        "safe_url": safe_url,
    }


@cache
def environment(language: str) -> Environment:
    """The Jinja environment of one report language (cached: templates compile once)."""
    tr = translator(language)
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    formatters = _formatters(language)
    env.filters.update(formatters)
    env.globals.update(
        t=tr.t,
        label=tr.label,
        age=formatters["age"],
        colon=tr.t("common.colon"),
        language=language,
        kpi_rows=KPI_ROWS,
    )
    return env


def finish_html(html: str) -> str:
    """Inline the CSS (mail clients drop <style> or parts of it) and tighten the markup."""
    html = _BETWEEN_TAGS.sub("><", html)
    html = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True).inline(html)
    # The inliner puts the kept @media rules first; browsers look for the charset in
    # the first 1024 bytes, so it goes back to the top.
    return html.replace(_CHARSET_META, "", 1).replace("<head>", "<head>" + _CHARSET_META, 1)


def archive_copy(html: str, images: dict[str, bytes]) -> str:
    """The e-mail HTML made self-contained: cid: images become data URIs."""
    for content_id, png in images.items():
        html = html.replace(f'src="cid:{content_id}"', f'src="{data_uri(png)}"')
    return html


@dataclass(frozen=True)
class Chart:
    """A chart as the template shows it: `src` is its cid: reference."""

    src: str
    width: int
    height: int
    alt: str


_CHART_CACHE: OrderedDict[str, bytes] = OrderedDict()
_CHART_CACHE_SIZE = 96


def cached_chart(function: Callable[..., bytes], *args, **kwargs) -> bytes:
    """`function(*args, **kwargs)`, remembered by its inputs, so that the variants of a report
    (same language, same data) draw each chart once. The inputs are dicts, lists, dates,
    numbers and strings, whose repr is deterministic."""
    key = hashlib.sha256(repr((function.__name__, args, kwargs)).encode()).hexdigest()
    if key in _CHART_CACHE:
        _CHART_CACHE.move_to_end(key)
        return _CHART_CACHE[key]
    png = function(*args, **kwargs)
    _CHART_CACHE[key] = png
    while len(_CHART_CACHE) > _CHART_CACHE_SIZE:
        _CHART_CACHE.popitem(last=False)
    return png


class ChartSet:
    """The PNG parts of one rendered report, each with a content id unique to it."""

    def __init__(self, period_label: str):
        self.period_label = period_label
        self.images: dict[str, bytes] = {}

    def add(self, name: str, png: bytes, *, width: int, height: int, alt: str) -> Chart:
        content_id = f"{slug(name) or 'chart'}.{self.period_label}@repwatch"
        if content_id in self.images:
            raise ValueError(f"two charts named {content_id}")
        self.images[content_id] = png
        return Chart(src=f"cid:{content_id}", width=width, height=height, alt=alt)
