"""The daily report: figures from the warehouse, rendered to e-mail HTML, plain text and an archive.

Figures of a day are summed over sources. Counts of the 7-day comparison are daily means
over the seven days before the report day (days without reviews count as zero); its
rates (average rating, CSAT, negative share) are pooled over those days' reviews.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from repwatch.atomic import write_atomically
from repwatch.charts import sentiment_trend_png
from repwatch.config import PROJECT_DIR, Config
from repwatch.coverage import build_coverage

TEMPLATES_DIR = PROJECT_DIR / "templates"
TRAILING_DAYS = 7
MAX_NEGATIVE_REVIEWS = 20
SHORT_TEXT_CHARS = 280
CHART_WIDTH_PX = 600
CHART_HEIGHT_PX = 260

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_CHARSET_META = '<meta charset="utf-8">'


@dataclass(frozen=True)
class RenderedReport:
    report: str
    period: str
    subject: str
    html: str  # for e-mail: images as cid: references, CSS inlined
    text: str
    images: dict[str, bytes]  # content id -> PNG
    archive_html: str  # self-contained: images as data URIs


@dataclass
class _Sums:
    """Additive totals of mart rows, from which every KPI is derived."""

    reviews: int = 0
    rated_reviews: int = 0
    rating_total: float = 0.0
    rated_4_or_5: int = 0
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    mentions: int = 0

    def __add__(self, other: _Sums) -> _Sums:
        return _Sums(
            *(getattr(self, item.name) + getattr(other, item.name) for item in fields(self))
        )

    def kpis(self, days: int = 1) -> dict:
        """KPIs of the totals; counts become daily means when `days` > 1, rates stay pooled."""

        def per_day(count: int) -> float | int:
            return count / days if days > 1 else count

        rated = self.rated_reviews
        return {
            "reviews": per_day(self.reviews),
            "rated_reviews": per_day(rated),
            "avg_rating": self.rating_total / rated if rated else None,
            "csat": self.rated_4_or_5 * 100 / rated if rated else None,
            "positive": per_day(self.positive),
            "neutral": per_day(self.neutral),
            "negative": per_day(self.negative),
            "negative_share": self.negative / self.reviews if self.reviews else None,
            "mentions": per_day(self.mentions),
        }


def _sums_by_brand_source(con, first: date, last: date) -> dict[tuple[str, str], _Sums]:
    rows = con.execute(
        """
        select
            brand,
            source,
            sum(reviews),
            sum(rated_reviews),
            coalesce(sum(avg_rating * rated_reviews), 0),
            sum(rating_4 + rating_5),
            sum(positive),
            sum(neutral),
            sum(negative),
            sum(mentions),
        from mart_brand_daily
        where day between ? and ?
        group by brand, source
        order by brand, source
        """,
        [first, last],
    ).fetchall()
    return {(brand, source): _Sums(*values) for brand, source, *values in rows}


def _brand_sums(sums: dict[tuple[str, str], _Sums], brand: str) -> _Sums:
    total = _Sums()
    for (row_brand, _source), row in sums.items():
        if row_brand == brand:
            total += row
    return total


def _changes(current: dict, baseline: dict) -> dict:
    return {
        key: None if current[key] is None or baseline[key] is None else current[key] - baseline[key]
        for key in current
    }


def _short_text(text: str | None, limit: int = SHORT_TEXT_CHARS) -> str:
    """One line without control characters, cut at a word boundary."""
    if not text:
        return ""
    flat = _SPACES.sub(" ", _CONTROL_CHARS.sub(" ", text)).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0] if " " in flat[:limit] else flat[:limit]
    return cut.rstrip() + "…"


def _problem_counts(con, brand: str, day: date) -> list[dict]:
    """Problem types the day's items (reviews, mentions, complaint records) raise, most
    frequent first."""
    rows = con.execute(
        """
        select problem, count(distinct (source, review_id)) as reviews
        from (
            select source, review_id, unnest(enriched.problems) as problem
            from int_reviews as reviews
            join int_reviews_enriched as enriched using (source, target_id, review_id)
            where reviews.brand = ? and reviews.published_day = ?
        )
        group by problem
        order by reviews desc, problem
        """,
        [brand, day],
    ).fetchall()
    counts = []
    for problem, count in rows:
        label = problem.replace("_", " ").capitalize()
        counts.append(
            {"problem": problem, "label": label, "reviews": count, "text": f"{label} {count}"}
        )
    return counts


def _negative_reviews(con, brand: str, day: date, zone: ZoneInfo) -> tuple[list[dict], int]:
    where = (
        "from int_reviews left join int_reviews_enriched as enriched "
        "using (source, target_id, review_id) "
        "where int_reviews.brand = ? and int_reviews.published_day = ? "
        "and coalesce(enriched.sentiment, int_reviews.sentiment) = 'negative'"
    )
    total = con.execute(f"select count(*) {where}", [brand, day]).fetchone()[0]
    rows = con.execute(
        f"""
        select source, rating, title, text, author, url, published_at
        {where}
        order by published_at desc nulls last, source, review_id
        limit ?
        """,
        [brand, day, MAX_NEGATIVE_REVIEWS],
    ).fetchall()
    reviews = [
        {
            "source": source,
            "rating": rating,
            "title": _short_text(title, 120),
            "text": _short_text(text),
            "author": _short_text(author, 80),
            "url": url,
            # DuckDB hands out instants in the session's time zone; show the config's.
            "published_at": published_at.astimezone(zone) if published_at else None,
        }
        for source, rating, title, text, author, url, published_at in rows
    ]
    return reviews, total


def _trend(con, brand: str, first: date, last: date) -> list[dict]:
    rows = con.execute(
        """
        select day, sum(positive), sum(neutral), sum(negative)
        from mart_brand_daily
        where brand = ? and day between ? and ?
        group by day
        """,
        [brand, first, last],
    ).fetchall()
    by_day = {day: (positive, neutral, negative) for day, positive, neutral, negative in rows}
    series = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        positive, neutral, negative = by_day.get(day, (0, 0, 0))
        series.append({"day": day, "positive": positive, "neutral": neutral, "negative": negative})
    return series


def _completeness(con, since: datetime, timezone: str) -> dict:
    """Rows the quality gate set aside in loads since the start of the report day."""
    rows = con.execute(
        """
        select reason, count(*) as rows
        from quarantine
        where quarantined_at >= ?
        group by reason
        order by rows desc, reason
        """,
        [since],
    ).fetchall()
    quarantined = sum(count for _reason, count in rows)
    since_text = f"{since:%Y-%m-%d %H:%M} {timezone}"
    if quarantined:
        reasons = ", ".join(f"{count} {reason}" for reason, count in rows)
        plural = "s" if quarantined != 1 else ""
        summary = (
            f"{quarantined} row{plural} set aside by the quality gate in loads since "
            f"{since_text} ({reasons}); they are not counted in these figures."
        )
    else:
        summary = f"no rows set aside by the quality gate in loads since {since_text}."
    return {
        "since": since,
        "quarantined": quarantined,
        "by_reason": [{"reason": reason, "rows": count} for reason, count in rows],
        "summary": "Data completeness: " + summary,
    }


def build_daily_context(con, config: Config, day: date) -> dict:
    """Everything the daily report shows for `day`, read from the warehouse behind `con`."""
    previous_day = day - timedelta(days=1)
    zone = ZoneInfo(config.timezone)
    today = _sums_by_brand_source(con, day, day)
    yesterday = _sums_by_brand_source(con, previous_day, previous_day)
    trailing = _sums_by_brand_source(con, day - timedelta(days=TRAILING_DAYS), previous_day)
    thresholds = config.thresholds
    trend_first = day - timedelta(days=config.reports.daily.trend_days - 1)

    brands = []
    for brand in (brand for brand in config.brands if not brand.competitor):
        kpis = _brand_sums(today, brand.name).kpis()
        previous = _brand_sums(yesterday, brand.name).kpis()
        trailing_avg = _brand_sums(trailing, brand.name).kpis(days=TRAILING_DAYS)
        negative_reviews, negative_total = _negative_reviews(con, brand.name, day, zone)
        share = kpis["negative_share"]
        brands.append(
            {
                "name": brand.name,
                "today": kpis,
                "previous": previous,
                "trailing": trailing_avg,
                "change_vs_previous": _changes(kpis, previous),
                "change_vs_trailing": _changes(kpis, trailing_avg),
                "warning": share is not None
                and share >= thresholds.negative_share_warning
                and kpis["reviews"] >= thresholds.min_reviews,
                "sources": [
                    {"source": source, **row.kpis()}
                    for (row_brand, source), row in today.items()
                    if row_brand == brand.name
                ],
                "negative_reviews": negative_reviews,
                "negative_reviews_total": negative_total,
                "problems": _problem_counts(con, brand.name, day),
                "trend": _trend(con, brand.name, trend_first, day),
            }
        )
    comparison = [
        {
            "name": brand.name,
            "competitor": brand.competitor,
            **_brand_sums(today, brand.name).kpis(),
        }
        for brand in config.brands
    ]
    day_start = datetime.combine(day, time(), tzinfo=zone)
    return {
        "report": "daily",
        "day": day,
        "previous_day": previous_day,
        "timezone": config.timezone,
        "trailing_days": TRAILING_DAYS,
        "trend_days": config.reports.daily.trend_days,
        "thresholds": {
            "negative_share_warning": thresholds.negative_share_warning,
            "min_reviews": thresholds.min_reviews,
        },
        "brands": brands,
        "comparison": comparison,
        "completeness": _completeness(con, day_start, config.timezone),
        "coverage": build_coverage(con, config, day, day),
    }


# The KPI rows of the report, shared by the HTML and the plain-text template.
KPI_ROWS = (
    {"key": "reviews", "label": "Reviews", "kind": "count", "up_is_good": None},
    {"key": "avg_rating", "label": "Average rating", "kind": "rating", "up_is_good": True},
    {"key": "csat", "label": "CSAT (4–5 stars, 0–100)", "kind": "score", "up_is_good": True},
    {"key": "positive", "label": "Positive", "kind": "count", "up_is_good": True},
    {"key": "neutral", "label": "Neutral", "kind": "count", "up_is_good": None},
    {"key": "negative", "label": "Negative", "kind": "count", "up_is_good": False},
    {"key": "negative_share", "label": "Negative share", "kind": "share", "up_is_good": False},
)


def _fmt_percent(share) -> str:
    return "–" if share is None else f"{share * 100:.0f}%"


def _fmt_kpi(value, kind: str, averaged: bool = False) -> str:
    if value is None:
        return "–"
    if kind == "share":
        return _fmt_percent(value)
    digits = {"count": 1 if averaged else 0, "rating": 2, "score": 0}[kind]
    return f"{value:,.{digits}f}"


def _fmt_kpi_change(value, kind: str) -> str:
    """Signed change with an arrow; shares change in percentage points."""
    if value is None:
        return "–"
    if kind == "share":
        value, digits, unit = value * 100, 0, " pp"
    elif kind == "count":
        digits, unit = (0 if float(value).is_integer() else 1), ""
    else:
        digits, unit = {"rating": 2, "score": 1}[kind], ""
    if round(value, digits) == 0:
        return "="
    arrow = "▲" if value > 0 else "▼"
    return f"{arrow} {value:+,.{digits}f}{unit}"


def _change_tone(value, up_is_good: bool | None) -> str:
    if value is None or up_is_good is None or value == 0:
        return "flat"
    return "good" if (value > 0) == up_is_good else "bad"


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(
        kpi=_fmt_kpi, kpi_change=_fmt_kpi_change, tone=_change_tone, percent=_fmt_percent
    )
    environment.globals["kpi_rows"] = KPI_ROWS
    return environment


def _slug(value: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")


def _headline_brand(brands: list[dict]) -> dict | None:
    if not brands:
        return None
    return max(brands, key=lambda brand: (brand["warning"], brand["today"]["negative"]))


def _subject(period: str, brands: list[dict]) -> str:
    subject = f"repwatch daily {period}"
    brand = _headline_brand(brands)
    if brand is None:
        return subject
    negative = brand["today"]["negative"]
    noun = "review" if negative == 1 else "reviews"
    subject += f" · {brand['name']}: {negative} negative {noun}"
    if brand["today"]["negative_share"] is not None:
        subject += f" ({_fmt_percent(brand['today']['negative_share'])})"
    change = brand["change_vs_previous"]["negative"]
    if change:
        subject += " ▲" if change > 0 else " ▼"
    return subject


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_daily(config: Config, day: date, context: dict) -> RenderedReport:
    """HTML for e-mail, plain text, chart PNGs and a self-contained archive page."""
    period = day.isoformat()
    subject = _subject(period, context["brands"])
    charts = []
    images: dict[str, bytes] = {}
    for index, brand in enumerate(context["brands"], start=1):
        content_id = f"trend-{index}-{_slug(brand['name']) or 'brand'}.{period}@repwatch"
        images[content_id] = sentiment_trend_png(
            brand["trend"],
            title=f"{brand['name']} · sentiment per day, last {len(brand['trend'])} days",
            width_px=CHART_WIDTH_PX,
            height_px=CHART_HEIGHT_PX,
        )
        charts.append(
            {
                "src": f"cid:{content_id}",
                "width": CHART_WIDTH_PX,
                "height": CHART_HEIGHT_PX,
                "alt": f"Bar chart: positive, neutral and negative reviews of {brand['name']} "
                f"per day; {period}: {brand['today']['negative']} negative",
            }
        )
    environment = _environment()
    values = {**context, "subject": subject, "charts": charts}
    html = environment.get_template("daily.html.j2").render(values)
    html = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True).inline(html)
    # The inliner puts the kept @media rules first; browsers look for the charset in
    # the first 1024 bytes, so it goes back to the top.
    html = html.replace(_CHARSET_META, "", 1).replace("<head>", "<head>" + _CHARSET_META, 1)
    text = environment.get_template("daily.txt.j2").render(values)
    archive_html = html
    for content_id, png in images.items():
        archive_html = archive_html.replace(f'src="cid:{content_id}"', f'src="{_data_uri(png)}"')
    return RenderedReport(
        report="daily",
        period=period,
        subject=subject,
        html=html,
        text=text,
        images=images,
        archive_html=archive_html,
    )


@dataclass(frozen=True)
class _ArchivedReport:
    report: str
    period: str
    href: str


def _archived_reports(reports_dir: Path) -> list[_ArchivedReport]:
    found = [
        _ArchivedReport(
            report=path.parent.name, period=path.stem, href=f"{path.parent.name}/{path.name}"
        )
        for path in reports_dir.glob("*/*.html")
    ]
    return sorted(found, key=lambda item: (item.period, item.report), reverse=True)


def write_archive(config: Config, rendered: RenderedReport) -> Path:
    """Save the self-contained report and regenerate the index of all archived reports."""
    reports_dir = config.paths.reports_dir
    path = reports_dir / rendered.report / f"{rendered.period}.html"
    write_atomically(path, rendered.archive_html)
    index = (
        _environment().get_template("index.html.j2").render(reports=_archived_reports(reports_dir))
    )
    write_atomically(reports_dir / "index.html", index)
    return path
