"""Reports: figures from the warehouse, rendered per language and department to e-mail HTML,
plain text and a self-contained archive copy.

One report (daily, weekly, monthly) is built once per period (`build_context`) and rendered
once per variant: a language (en, zh-CN), a department (whose sections lead: see
SECTION_ORDER, the one table of it) and optionally a subset of the own brands. A recipient
gets exactly one variant (`variant_of`), so the send ledger's key (report, period, recipient)
stays what it was.

Daily figures are summed over sources. Counts of the 7-day comparison are daily means over
the seven days before the report day (days without reviews count as zero); its rates
(average rating, CSAT, negative share) are pooled over those days' reviews. The overdue list
is mart_overdue_reviews of the day (negative reviews of own brands without a public reply
after metrics.sla_hours); alerts are the day's rows of mart_alerts that fired.

Archive: data/reports/<report>/<period>.html holds the default variant (English, management,
every brand: what a recipient gets when the config says nothing else), so links stay short and
stable; any other variant is stored beside it as <period>.<language>.<department>.html (plus
the brands' slugs when a recipient reads only some brands). The index pages (index.html,
index.zh-CN.html) list every period with links to each of its versions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from repwatch.atomic import write_atomically
from repwatch.charts import CHART_LABELS, sentiment_trend_png
from repwatch.config import DEPARTMENTS, Config, Recipient
from repwatch.coverage import build_coverage
from repwatch.i18n import DEFAULT_LANGUAGE, LANGUAGES, MissingTranslation, translator
from repwatch.management_data import build_period_context
from repwatch.periods import Period, parse_period, period_containing
from repwatch.rendering import (
    CHART_SCALE,
    HTML_LIMIT_BYTES,
    ChartSet,
    archive_copy,
    cached_chart,
    environment,
    finish_html,
    slug,
)
from repwatch.warehouse import table_names

TRAILING_DAYS = 7
# Items a list shows at most; a report too large for Gmail is rendered again with fewer.
MAX_LIST_ITEMS = 20
MIN_LIST_ITEMS = 3
# Rows of the customer-service action list (CSV attachment), per brand and kind.
MAX_ACTION_ROWS = 1000
SHORT_TEXT_CHARS = 280
CHART_WIDTH_PX = 600
CHART_HEIGHT_PX = 260
DEFAULT_DEPARTMENT = "management"

# Which sections each department's version shows, in order: what the department acts on
# first. Daily: customer service answers overdue and new negative items, product fixes what
# the problem types point at, marketing watches sentiment and competitors, management the
# headline figures and trends; data engineers keep the data complete. Weekly and monthly
# likewise, with the management report's sections. Every version holds every section (one
# e-mail is the whole picture); only the order differs.
_DAILY_SECTIONS = {
    "customer_service": (
        "overdue",
        "new_negative",
        "alerts",
        "changes",
        "problems",
        "sources",
        "trend",
        "competitors",
        "coverage",
    ),
    "product": (
        "problems",
        "new_negative",
        "alerts",
        "changes",
        "trend",
        "sources",
        "overdue",
        "competitors",
        "coverage",
    ),
    "marketing": (
        "changes",
        "trend",
        "competitors",
        "alerts",
        "new_negative",
        "problems",
        "sources",
        "overdue",
        "coverage",
    ),
    "management": (
        "changes",
        "trend",
        "alerts",
        "competitors",
        "problems",
        "overdue",
        "new_negative",
        "sources",
        "coverage",
    ),
    "data_engineering": (
        "coverage",
        "changes",
        "sources",
        "alerts",
        "trend",
        "problems",
        "new_negative",
        "overdue",
        "competitors",
    ),
}
_MANAGEMENT_SECTIONS = {
    "customer_service": (
        "response",
        "complaints",
        "problems",
        "kpis",
        "trend",
        "sentiment",
        "satisfaction",
        "events",
        "competitors",
        "terms",
        "praise",
        "coverage",
    ),
    "product": (
        "problems",
        "satisfaction",
        "complaints",
        "terms",
        "events",
        "kpis",
        "trend",
        "sentiment",
        "response",
        "competitors",
        "praise",
        "coverage",
    ),
    "marketing": (
        "sentiment",
        "trend",
        "competitors",
        "praise",
        "terms",
        "kpis",
        "satisfaction",
        "events",
        "problems",
        "response",
        "complaints",
        "coverage",
    ),
    "management": (
        "kpis",
        "satisfaction",
        "trend",
        "competitors",
        "events",
        "sentiment",
        "problems",
        "response",
        "complaints",
        "terms",
        "praise",
        "coverage",
    ),
    "data_engineering": (
        "coverage",
        "kpis",
        "trend",
        "sentiment",
        "problems",
        "satisfaction",
        "response",
        "complaints",
        "competitors",
        "events",
        "terms",
        "praise",
    ),
}
SECTION_ORDER: dict[str, dict[str, tuple[str, ...]]] = {
    "daily": _DAILY_SECTIONS,
    "weekly": _MANAGEMENT_SECTIONS,
    "monthly": _MANAGEMENT_SECTIONS,
}

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class RenderedReport:
    report: str
    period: str
    subject: str
    html: str  # for e-mail: images as cid: references, CSS inlined
    text: str
    images: dict[str, bytes]  # content id -> PNG
    archive_html: str  # self-contained: images as data URIs
    attachments: dict[str, bytes] = field(default_factory=dict)  # filename -> bytes
    language: str = DEFAULT_LANGUAGE
    department: str = DEFAULT_DEPARTMENT
    brands: tuple[str, ...] = ()  # empty: every own brand

    @property
    def variant(self) -> Variant:
        return Variant(self.language, self.department, self.brands)


@dataclass(frozen=True, order=True)
class Variant:
    """One version of a report: its language, the department whose sections lead, and the
    own brands it covers (empty: all)."""

    language: str = DEFAULT_LANGUAGE
    department: str = DEFAULT_DEPARTMENT
    brands: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"unknown language {self.language!r} (known: {', '.join(LANGUAGES)})")
        if self.department not in DEPARTMENTS:
            raise ValueError(
                f"unknown department {self.department!r} (known: {', '.join(DEPARTMENTS)})"
            )

    @property
    def is_default(self) -> bool:
        return self == Variant()

    @property
    def file_suffix(self) -> str:
        """'' for the default variant, else e.g. '.zh-CN.marketing' (+ '.acme-shop')."""
        if self.is_default:
            return ""
        parts = [self.language, self.department, *(slug(brand) or "brand" for brand in self.brands)]
        return "." + ".".join(parts)


def variant_of(recipient: Recipient) -> Variant:
    return Variant(recipient.language, recipient.department, tuple(recipient.brands))


def recipients_by_variant(
    recipients: Iterable[Recipient],
) -> dict[Variant, list[Recipient]]:
    """The variants a list of recipients needs, each with its recipients (render each once)."""
    grouped: dict[Variant, list[Recipient]] = {}
    for recipient in recipients:
        grouped.setdefault(variant_of(recipient), []).append(recipient)
    return dict(sorted(grouped.items()))


# ---------------------------------------------------------------------------- daily figures


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


def short_text(text: str | None, limit: int = SHORT_TEXT_CHARS) -> str:
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
    return [{"problem": problem, "reviews": count} for problem, count in rows]


def _negative_reviews(
    con, brand: str, day: date, zone: ZoneInfo, limit: int, text_chars: int = SHORT_TEXT_CHARS
) -> tuple[list[dict], int]:
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
        [brand, day, limit],
    ).fetchall()
    return [_listed_review(*row, zone=zone, text_chars=text_chars) for row in rows], total


def _listed_review(
    source, rating, title, text, author, url, published_at, *, zone: ZoneInfo, text_chars: int
) -> dict:
    """A review as the report lists it: its texts cut to one line each."""
    return {
        "source": source,
        "rating": rating,
        "title": short_text(title, 120),
        "text": short_text(text, text_chars),
        "author": short_text(author, 80),
        "url": url,
        # DuckDB hands out instants in the session's time zone; show the config's.
        "published_at": published_at.astimezone(zone) if published_at else None,
    }


def _overdue_reviews(
    con, brand: str, day: date, zone: ZoneInfo, limit: int, text_chars: int = SHORT_TEXT_CHARS
) -> tuple[list[dict], int]:
    """Negative reviews of the brand still unanswered after the SLA at the end of `day`,
    longest overdue first."""
    total = con.execute(
        "select count(*) from mart_overdue_reviews where as_of_day = ? and brand = ?",
        [day, brand],
    ).fetchone()[0]
    rows = con.execute(
        """
        select source, rating, title, text, author, url, published_at, hours_overdue, problems
        from mart_overdue_reviews
        where as_of_day = ? and brand = ?
        order by hours_overdue desc, published_at, source, review_id
        limit ?
        """,
        [day, brand, limit],
    ).fetchall()
    reviews = [
        {
            **_listed_review(*review, zone=zone, text_chars=text_chars),
            "hours_overdue": hours_overdue,
            "problems": list(problems or []),
        }
        for *review, hours_overdue, problems in rows
    ]
    return reviews, total


def _day_alerts(con, brand: str, day: date) -> list[dict]:
    """The brand's alerts in force on `day` (firing, or announced that day as still open); a
    source's alert is left out while the same rule fires over all sources (as the alert
    e-mail does), critical first."""
    from repwatch.alerts import RULES, alerts_in_force

    fired = alerts_in_force(con, day, brands=[brand])
    overall = {alert.rule for alert in fired if alert.source == "all"}
    shown = [alert for alert in fired if alert.source == "all" or alert.rule not in overall]
    rule_order = list(RULES)
    shown.sort(
        key=lambda alert: (
            alert.severity != "critical",
            rule_order.index(alert.rule) if alert.rule in rule_order else len(rule_order),
            alert.source != "all",
            alert.source,
            alert.subject,
        )
    )
    return [
        {
            "rule": alert.rule,
            "subject": alert.subject or None,
            "source": alert.source,
            "severity": alert.severity,
            "kind": RULES[alert.rule].kind if alert.rule in RULES else "count",
            "direction": RULES[alert.rule].direction if alert.rule in RULES else "up",
            "department": alert.department,
            "value": alert.value,
            "baseline": alert.baseline,
            "baseline_stddev": alert.baseline_stddev,
            "same_weekday_mean": alert.same_weekday_mean,
            "threshold_warning": alert.threshold_warning,
            "threshold_critical": alert.threshold_critical,
            "matched_words": list(alert.matched_words or []),
        }
        for alert in shown
    ]


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


def _completeness(con, since: datetime) -> dict:
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
    return {
        "since": since,
        "quarantined": sum(count for _reason, count in rows),
        "by_reason": [{"reason": reason, "rows": count} for reason, count in rows],
        "reasons_text": ", ".join(f"{count} {reason}" for reason, count in rows),
    }


def build_daily_context(
    con, config: Config, day: date, *, list_items: int = MAX_LIST_ITEMS
) -> dict:
    """Everything the daily report shows for `day`, read from the warehouse behind `con`.

    Lists (new negative items, overdue reviews) hold at most `list_items` each per brand; the
    action list (CSV for customer service) holds up to MAX_ACTION_ROWS of each."""
    previous_day = day - timedelta(days=1)
    zone = ZoneInfo(config.timezone)
    tables = table_names(con)
    today = _sums_by_brand_source(con, day, day)
    yesterday = _sums_by_brand_source(con, previous_day, previous_day)
    trailing = _sums_by_brand_source(con, day - timedelta(days=TRAILING_DAYS), previous_day)
    thresholds = config.thresholds
    trend_first = day - timedelta(days=config.reports.daily.trend_days - 1)
    has_overdue = "mart_overdue_reviews" in tables
    has_alerts = "mart_alerts" in tables

    brands = []
    action_list = []
    for brand in (brand for brand in config.brands if not brand.competitor):
        kpis = _brand_sums(today, brand.name).kpis()
        previous = _brand_sums(yesterday, brand.name).kpis()
        trailing_avg = _brand_sums(trailing, brand.name).kpis(days=TRAILING_DAYS)
        negative_reviews, negative_total = _negative_reviews(con, brand.name, day, zone, list_items)
        overdue, overdue_total = (
            _overdue_reviews(con, brand.name, day, zone, list_items) if has_overdue else ([], 0)
        )
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
                "overdue": overdue,
                "overdue_total": overdue_total,
                "alerts": _day_alerts(con, brand.name, day) if has_alerts else [],
                "problems": _problem_counts(con, brand.name, day),
                "trend": _trend(con, brand.name, trend_first, day),
            }
        )
        action_list += _action_rows(con, brand.name, day, zone, has_overdue)
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
        "period": period_containing("daily", day),
        "day": day,
        "previous_day": previous_day,
        "timezone": config.timezone,
        "trailing_days": TRAILING_DAYS,
        "trend_days": config.reports.daily.trend_days,
        "sla_hours": config.metrics.sla_hours,
        "thresholds": {
            "negative_share_warning": thresholds.negative_share_warning,
            "min_reviews": thresholds.min_reviews,
        },
        "overdue_available": has_overdue,
        "alerts_available": has_alerts,
        "brands": brands,
        "comparison": comparison,
        "action_list": action_list,
        "completeness": _completeness(con, day_start),
        "coverage": build_coverage(con, config, day, day),
    }


def _action_rows(con, brand: str, day: date, zone: ZoneInfo, has_overdue: bool) -> list[dict]:
    """Customer service's to-do list of the day: overdue negative reviews, then the day's new
    negative items, with their full text."""
    rows = []
    if has_overdue:
        overdue, _total = _overdue_reviews(con, brand, day, zone, MAX_ACTION_ROWS, 4000)
        rows += [{"kind": "overdue", "brand": brand, **item} for item in overdue]
    negative, _total = _negative_reviews(con, brand, day, zone, MAX_ACTION_ROWS, 4000)
    rows += [
        {"kind": "new_negative", "brand": brand, "hours_overdue": None, "problems": [], **item}
        for item in negative
    ]
    return rows


# ---------------------------------------------------------------------------- contexts


def build_context(con, config: Config, period: Period) -> dict:
    """The figures of any report for its period: the daily report's, or the weekly and
    monthly management report's (repwatch.management_data)."""
    if period.report == "daily":
        return build_daily_context(con, config, period.start)
    return build_period_context(con, config, period)


def _with_lists_capped(context: dict, items: int) -> dict:
    """The daily context with each brand's lists cut to `items` entries."""
    brands = [
        {
            **brand,
            "negative_reviews": brand["negative_reviews"][:items],
            "overdue": brand["overdue"][:items],
        }
        for brand in context["brands"]
    ]
    return {**context, "brands": brands}


def _selected_brands(context: dict, brands: Sequence[str] | None) -> dict:
    if not brands:
        return context
    wanted = set(brands)
    return {
        **context,
        "brands": [brand for brand in context["brands"] if brand["name"] in wanted],
        "action_list": [row for row in context.get("action_list", []) if row["brand"] in wanted],
    }


# ---------------------------------------------------------------------------- daily rendering


def _daily_subject(tr, period: Period, brands: list[dict], department: str) -> str:
    label = tr.period_short(period)
    if not brands:
        return tr.t("daily.subject_empty", period=label)
    brand = max(brands, key=lambda item: (item["warning"], item["today"]["negative"]))
    negative = brand["today"]["negative"]
    subject = tr.t(
        "daily.subject", period=label, brand=brand["name"], count=negative, negative=negative
    )
    if brand["today"]["negative_share"] is not None:
        subject += tr.t("daily.subject_share", share=tr.percent(brand["today"]["negative_share"]))
    change = brand["change_vs_previous"]["negative"]
    if change:
        subject += " ▲" if change > 0 else " ▼"
    overdue = sum(item["overdue_total"] for item in brands)
    if department == "customer_service" and overdue:
        subject += tr.t("daily.subject_overdue", count=overdue)
    return subject


@cache
def chart_labels(language: str) -> dict[str, str]:
    """The words charts draw (legends, notes, units: repwatch.charts.CHART_LABELS) in
    `language`, from its catalogue's `chart.*` entries, for the `labels=` of every chart."""
    catalogue = translator(language).catalogue
    labels = {}
    for key in CHART_LABELS:
        text = catalogue.get(f"chart.{key}")
        if not isinstance(text, str):
            raise MissingTranslation(f"{language}: no text for 'chart.{key}' in the catalogue")
        labels[key] = text
    return labels


def _daily_charts(tr, context: dict, charts: ChartSet) -> list:
    shown = []
    for index, brand in enumerate(context["brands"], start=1):
        days = len(brand["trend"])
        shown.append(
            charts.add(
                f"trend-{index}-{slug(brand['name']) or 'brand'}",
                cached_chart(
                    sentiment_trend_png,
                    brand["trend"],
                    title=tr.t("daily.chart_title", brand=brand["name"], days=days),
                    width_px=CHART_WIDTH_PX,
                    height_px=CHART_HEIGHT_PX,
                    scale=CHART_SCALE,
                    labels=chart_labels(tr.language),
                ),
                width=CHART_WIDTH_PX,
                height=CHART_HEIGHT_PX,
                alt=tr.t(
                    "daily.chart_alt",
                    brand=brand["name"],
                    days=days,
                    date=tr.date(context["day"]),
                    negative=brand["today"]["negative"],
                ),
            )
        )
    return shown


def _action_list_attachment(tr, context: dict, period: Period) -> dict[str, bytes]:
    from repwatch.attachments import action_list_csv

    rows = [
        {
            **row,
            "kind": tr.t(f"action.kind_{row['kind']}"),
            "source": tr.label("source", row["source"]),
            "published_at": tr.datetime(row["published_at"]) if row["published_at"] else "",
            "hours_overdue": "" if row["hours_overdue"] is None else f"{row['hours_overdue']:.1f}",
            "problems": ", ".join(tr.label("problem", name) for name in row["problems"]),
            "rating": "" if row["rating"] is None else row["rating"],
        }
        for row in context["action_list"]
    ]
    columns = [
        (key, tr.t(f"action.column_{key}"))
        for key in (
            "kind",
            "brand",
            "source",
            "published_at",
            "hours_overdue",
            "rating",
            "problems",
            "author",
            "title",
            "text",
            "url",
        )
    ]
    filename = tr.t("action.filename", period=period.label) + ".csv"
    return {filename: action_list_csv(rows, columns)}


def _render_daily_variant(
    config: Config, period: Period, context: dict, variant: Variant, list_items: int
) -> RenderedReport:
    tr = translator(variant.language)
    context = _with_lists_capped(_selected_brands(context, variant.brands), list_items)
    subject = _daily_subject(tr, period, context["brands"], variant.department)
    charts = ChartSet(period.label)
    values = {
        **context,
        "subject": subject,
        "charts": _daily_charts(tr, context, charts),
        "sections": SECTION_ORDER["daily"][variant.department],
        "department": variant.department,
        "list_items": list_items,
        "coverage_notes": coverage_notes(tr, context["coverage"]),
        "attachment": variant.department == "customer_service",
    }
    attachments = (
        _action_list_attachment(tr, context, period)
        if variant.department == "customer_service"
        else {}
    )
    return rendered_variant(period, variant, "daily", values, charts, attachments)


def rendered_variant(
    period: Period,
    variant: Variant,
    template: str,
    values: dict,
    charts: ChartSet,
    attachments: dict[str, bytes] | None = None,
) -> RenderedReport:
    """A variant from the templates `<template>.html.j2` and `<template>.txt.j2` in its
    language, filled with `values` (its `subject` among them): the HTML with its CSS inlined,
    the text, the charts and the self-contained archive copy."""
    env = environment(variant.language)
    html = finish_html(env.get_template(f"{template}.html.j2").render(values))
    return RenderedReport(
        report=period.report,
        period=period.label,
        subject=values["subject"],
        html=html,
        text=env.get_template(f"{template}.txt.j2").render(values),
        images=charts.images,
        archive_html=archive_copy(html, charts.images),
        attachments=attachments or {},
        language=variant.language,
        department=variant.department,
        brands=variant.brands,
    )


def coverage_notes(tr, coverage: dict) -> list[str]:
    """The coverage warnings (a source not crawled, no new items, its last error) in the
    report's language: a source's targets in the same trouble are named once for the source."""
    notes = []
    zone = coverage["period_end"].tzinfo
    for source in coverage["sources"]:
        troubled = [target for target in source["targets"] if target["status"] != "ok"]
        statuses = {target["status"] for target in source["targets"]}
        if (
            len(troubled) == len(source["targets"]) > 1
            and len(statuses) == 1
            and source["status"] != "not crawled"
        ):
            errors = [target["last_error"] for target in troubled if target["last_error"]]
            notes.append(
                _coverage_note(
                    tr,
                    tr.label("source", source["source"]),
                    source["status"],
                    source["newest_item_at"],
                    errors[0] if errors else None,
                    zone,
                )
            )
            continue
        for target in troubled:
            notes.append(
                _coverage_note(
                    tr,
                    f"{tr.label('source', target['source'])} {target['target_label']}",
                    target["status"],
                    target["newest_item_at"],
                    target["last_error"],
                    zone,
                )
            )
    return notes


def _coverage_note(tr, label: str, status: str, newest, error: str | None, zone) -> str:
    if status == "not crawled":
        return tr.t("coverage.note_not_crawled", label=label)
    since = tr.datetime(newest, zone) if newest else tr.t("coverage.first_crawl")
    note = tr.t("coverage.note_no_items", label=label, since=since)
    return note + (tr.t("coverage.note_last_error", error=error) if error else "")


# ---------------------------------------------------------------------------- entry points


def render_report(
    config: Config,
    period: Period,
    context: dict,
    *,
    language: str = DEFAULT_LANGUAGE,
    department: str = DEFAULT_DEPARTMENT,
    brands: Sequence[str] | None = None,
) -> RenderedReport:
    """One variant of the daily, weekly or monthly report of `period`, from its context
    (`build_context`). Lists are shortened until the HTML part fits Gmail's limit."""
    variant = Variant(language, department, tuple(brands or ()))
    if period.report == "daily":
        render = _render_daily_variant
    else:
        from repwatch.management import render_management_variant as render
    list_items = MAX_LIST_ITEMS
    while True:
        rendered = render(config, period, context, variant, list_items)
        too_large = len(rendered.html.encode("utf-8")) > HTML_LIMIT_BYTES
        if not too_large or list_items <= MIN_LIST_ITEMS:
            return rendered
        list_items = max(MIN_LIST_ITEMS, list_items // 2)


def render_variants(
    config: Config, period: Period, context: dict, recipients: Iterable[Recipient]
) -> list[tuple[RenderedReport, list[Recipient]]]:
    """Every variant the recipients need, rendered once each, with who gets it."""
    return [
        (
            render_report(
                config,
                period,
                context,
                language=variant.language,
                department=variant.department,
                brands=variant.brands,
            ),
            people,
        )
        for variant, people in recipients_by_variant(recipients).items()
    ]


def render_daily(config: Config, day: date, context: dict) -> RenderedReport:
    """The default variant of the daily report (English, management order, every brand)."""
    return render_report(config, period_containing("daily", day), context)


# ---------------------------------------------------------------------------- archive


@dataclass(frozen=True)
class ArchivedReport:
    report: str
    period: str
    variant: Variant
    href: str


def archive_path(config: Config, rendered: RenderedReport) -> Path:
    name = f"{rendered.period}{rendered.variant.file_suffix}.html"
    return config.paths.reports_dir / rendered.report / name


def _parse_archived(path: Path, reports_dir: Path) -> ArchivedReport | None:
    period, *rest = path.stem.split(".")
    try:
        if not rest:
            variant = Variant()
        elif len(rest) >= 2:
            variant = Variant(rest[0], rest[1], tuple(rest[2:]))
        else:
            return None
    except ValueError:
        return None
    return ArchivedReport(
        report=path.parent.name,
        period=period,
        variant=variant,
        href=path.relative_to(reports_dir).as_posix(),
    )


def _period_end(item: ArchivedReport) -> str:
    """The period's last day, so that days, weeks and months sort together."""
    try:
        return parse_period(item.report, item.period).end.isoformat()
    except ValueError:
        return item.period


def archived_reports(reports_dir: Path) -> list[ArchivedReport]:
    """Every archived report, newest period first."""
    found = [
        item
        for path in reports_dir.glob("*/*.html")
        if (item := _parse_archived(path, reports_dir)) is not None
    ]
    return sorted(
        found, key=lambda item: (_period_end(item), item.report, item.variant), reverse=True
    )


def _index_rows(reports: list[ArchivedReport]) -> list[dict]:
    """One row per report and period, newest first, with its versions (default first)."""
    rows: dict[tuple[str, str], list[ArchivedReport]] = {}
    for item in reports:
        rows.setdefault((item.report, item.period), []).append(item)
    return [
        {
            "report": report,
            "period": period,
            "versions": sorted(items, key=lambda item: (not item.variant.is_default, item.variant)),
        }
        for (report, period), items in rows.items()
    ]


def write_index(config: Config) -> list[Path]:
    """The archive's index pages, one per language, listing every archived report."""
    reports_dir = config.paths.reports_dir
    rows = _index_rows(archived_reports(reports_dir))
    written = []
    for language in LANGUAGES:
        name = "index.html" if language == DEFAULT_LANGUAGE else f"index.{language}.html"
        others = [
            {
                "language": other,
                "href": "index.html" if other == DEFAULT_LANGUAGE else f"index.{other}.html",
            }
            for other in LANGUAGES
            if other != language
        ]
        page = environment(language).get_template("index.html.j2").render(rows=rows, others=others)
        write_atomically(reports_dir / name, page)
        written.append(reports_dir / name)
    return written


def write_archive(config: Config, rendered: RenderedReport, *, index: bool = True) -> Path:
    """Save the self-contained report and (unless `index` is false, for a caller archiving
    several versions that writes the index once after them) regenerate the index pages."""
    path = archive_path(config, rendered)
    write_atomically(path, rendered.archive_html)
    if index:
        write_index(config)
    return path
