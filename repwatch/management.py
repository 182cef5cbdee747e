"""The weekly and monthly management reports: the figures of repwatch.management_data rendered
per language and department, with their charts.

Each own brand gets a sentiment trend line (configured events marked), a sentiment donut, a
rating distribution, problem-type bars and a word cloud per language; the competitor
comparison gets reputation-score and share-of-voice bars. Charts are PNG parts referenced by
cid: at twice their displayed size, with explicit width, height and translated alt text.
Charts are cached by their inputs, so the variants of one report (same language, same data)
draw each chart once.
"""

from __future__ import annotations

from repwatch import charts
from repwatch.config import Config
from repwatch.i18n import translator
from repwatch.periods import Period
from repwatch.rendering import CHART_SCALE, Chart, ChartSet, cached_chart, slug

CHART_WIDTH_PX = 600
TREND_HEIGHT_PX = 260
PIE_HEIGHT_PX = 200
RATINGS_HEIGHT_PX = 180
PROBLEMS_ROW_PX = 26
CLOUD_HEIGHT_PX = 230
COMPETITOR_ROW_PX = 34
CLOUD_WORDS = 60
TERMS_IN_TEXT = 12
# Lists of the report shown at most: complaint categories and channels, survey rows.
MAX_BREAKDOWN_ROWS = 6
MAX_PRAISE = 5

# KPI rows: (key, kind for formatting, whether up is good); labels are mkpi.<key>.
KPI_ROWS = (
    ("reviews", "count", None),
    ("mentions", "count", None),
    ("avg_rating", "rating", True),
    ("csat", "score", True),
    ("nss", "score", True),
    ("negative_share", "share", False),
    ("mean_text_score", "sentiment", True),
    ("satisfaction_index", "index", True),
    ("reputation_score", "index", True),
    ("share_of_voice", "share", True),
)
HEADLINE_KPIS = (
    ("satisfaction_index", "index", True),
    ("reputation_score", "index", True),
    ("negative_share", "share", False),
)
RESPONSE_ROWS = (
    ("sla_compliance", "share", True),
    ("response_rate", "share", True),
    ("first_response_median_hours", "hours", False),
    ("negative_replied_within_sla", "count", True),
    ("overdue_reviews", "count", False),
)
COMPARISON_ROWS = (
    ("reviews", "count", None),
    ("avg_rating", "rating", True),
    ("satisfaction_index", "index", True),
    ("reputation_score", "index", True),
    ("negative_share", "share", False),
    ("share_of_voice", "share", True),
)
COMPLAINT_ROWS = (
    ("complaints", "count", False),
    ("resolution_rate", "share", True),
    ("resolution_median_hours", "hours", False),
    ("resolution_p90_hours", "hours", False),
    ("followup_mean", "rating", True),
    ("followup_satisfied_share", "share", True),
)
SURVEY_ROWS = (
    ("responses", "count", None),
    ("mean_score", "rating", True),
    ("csat", "score", True),
)
EVENT_ROWS = (
    ("reviews_per_day", "count_avg", None),
    ("avg_rating", "rating", True),
    ("negative_share", "share", False),
    ("nss", "score", True),
    ("csat", "score", True),
    ("complaints", "count", False),
)
COMPETITOR_CHART_METRICS = ("reputation_score", "share_of_voice")


def term_sentiment(term: dict) -> str:
    """A word-cloud term's colour: negative when more of its items are negative than
    positive, positive when positive items outnumber negative ones two to one."""
    if term["negative"] > term["positive"]:
        return "negative"
    if term["positive"] >= 2 * term["negative"] and term["positive"] > 0:
        return "positive"
    return "neutral"


def _compact_change(tr, change, kind: str) -> str:
    """ "▼1.3" (shares in points), "=" when it rounds to nothing; for subjects."""
    if change is None:
        return tr.t("common.missing")
    value = change * 100 if kind == "share" else change
    if round(value, 1) == 0:
        return "="
    return f"{'▲' if value > 0 else '▼'}{abs(value):.1f}"


def subject(tr, period: Period, brands: list[dict], department: str) -> str:
    """The key number first: "Acme Shop weekly 2026-W48: satisfaction 72.4 (▼1.3), 18%
    negative"."""
    label = tr.period_short(period)
    report = tr.t(f"management.report_word_{period.report}")
    if not brands:
        return tr.t("management.subject_empty", report=report, period=label)
    brand = brands[0]
    names = brand["name"] + (f" +{len(brands) - 1}" if len(brands) > 1 else "")
    kpis = brand["kpis"]
    share = tr.percent(kpis["negative_share"]["value"])
    index = kpis["satisfaction_index"]
    if index["value"] is None:
        text = tr.t(
            "management.subject_no_index",
            brand=names,
            report=report,
            period=label,
            share=share,
            count=kpis["reviews"]["value"],
        )
    else:
        text = tr.t(
            "management.subject",
            brand=names,
            report=report,
            period=label,
            index=f"{index['value']:.1f}",
            change=_compact_change(tr, index["change"], "index"),
            share=share,
        )
    overdue = kpis["overdue_reviews"]["value"]
    if department == "customer_service" and overdue:
        text += tr.t("management.subject_overdue", count=overdue)
    return text


def _brand_events(context: dict, brand: str) -> list[dict]:
    return [
        {"day": event["date"], "label": event["name"]}
        for event in context["events"]
        if event["brand"] == brand
    ]


def _add_chart(
    chart_set: ChartSet,
    name: str,
    draw,
    *data,
    height: int,
    alt: str,
    **options,
) -> Chart:
    """`draw(*data, **options)` (a repwatch.charts function) at the report's chart width and
    `height`, cached, added to `chart_set` under `name` and shown at the size it was drawn."""
    png = cached_chart(
        draw, *data, width_px=CHART_WIDTH_PX, height_px=height, scale=CHART_SCALE, **options
    )
    return chart_set.add(name, png, width=CHART_WIDTH_PX, height=height, alt=alt)


def _brand_charts(
    tr, context: dict, brand: dict, number: int, chart_set: ChartSet, labels: dict[str, str]
) -> dict:
    """A brand's charts; `labels` are the words charts draw, in the report's language."""
    name = brand["name"]
    base = f"{slug(name) or 'brand'}-{number}"
    kpis = brand["kpis"]
    period_words = tr.period(_period_of(context))
    shown: dict[str, Chart | None] = {}

    events = _brand_events(context, name)
    series = [
        {"day": point["day"], "score": point["mean_text_score"], "reviews": point["reviews"]}
        for point in brand["trend"]
    ]
    event_words = "; ".join(
        f"{tr.date_short(event['day'])} {event['label']}" for event in events
    ) or tr.t("common.none")
    shown["trend"] = _add_chart(
        chart_set,
        f"trend-{base}",
        charts.sentiment_line_png,
        series,
        events=events,
        title=tr.t("management.chart_trend_title", brand=name, period=period_words),
        labels=labels,
        height=TREND_HEIGHT_PX,
        alt=tr.t(
            "management.chart_trend_alt",
            brand=name,
            period=period_words,
            score=_format(tr, kpis["mean_text_score"]["value"], "sentiment"),
            events=event_words,
        ),
    )

    positive, neutral, negative = (
        kpis[key]["value"] for key in ("positive", "neutral", "negative")
    )
    shown["pie"] = _add_chart(
        chart_set,
        f"sentiment-{base}",
        charts.sentiment_pie_png,
        positive,
        neutral,
        negative,
        title=tr.t("management.chart_pie_title", brand=name),
        labels=labels,
        height=PIE_HEIGHT_PX,
        alt=tr.t(
            "management.chart_pie_alt",
            brand=name,
            positive=positive,
            neutral=neutral,
            negative=negative,
        ),
    )

    counts = {row["stars"]: row["count"] for row in brand["ratings"]}
    shown["ratings"] = _add_chart(
        chart_set,
        f"ratings-{base}",
        charts.rating_distribution_png,
        counts,
        title=tr.t("management.chart_ratings_title", brand=name),
        labels=labels,
        height=RATINGS_HEIGHT_PX,
        alt=tr.t(
            "management.chart_ratings_alt",
            brand=name,
            counts=", ".join(f"{stars}★ {counts.get(stars, 0)}" for stars in range(5, 0, -1)),
        ),
    )

    problems = [
        {
            "label": tr.label("problem", row["problem"]),
            "count": row["count"],
            "previous": row["previous"],
        }
        for row in brand["problems"]
    ]
    problems_height = max(120, 70 + PROBLEMS_ROW_PX * len(problems))
    shown["problems"] = _add_chart(
        chart_set,
        f"problems-{base}",
        charts.problem_bars_png,
        problems,
        title=tr.t("management.chart_problems_title", brand=name),
        labels=labels,
        height=problems_height,
        alt=tr.t(
            "management.chart_problems_alt",
            brand=name,
            problems=", ".join(f"{row['label']} {row['count']}" for row in problems[:5])
            or tr.t("common.none"),
        ),
    )

    for language, terms in brand["terms"].items():
        if not terms:
            shown[f"cloud_{language}"] = None
            continue
        words = terms[:CLOUD_WORDS]
        language_name = tr.t(f"management.term_language_{language}")
        shown[f"cloud_{language}"] = _add_chart(
            chart_set,
            f"terms-{language}-{base}",
            charts.word_cloud_png,
            {term["term"]: term["items"] for term in words},
            term_sentiment={term["term"]: term_sentiment(term) for term in words},
            title=tr.t("management.chart_cloud_title", brand=name, language=language_name),
            max_words=CLOUD_WORDS,
            labels=labels,
            height=CLOUD_HEIGHT_PX,
            alt=tr.t(
                "management.chart_cloud_alt",
                brand=name,
                language=language_name,
                terms=", ".join(term["term"] for term in words[:10]),
            ),
        )
    return shown


def _competitor_charts(
    tr, context: dict, chart_set: ChartSet, labels: dict[str, str]
) -> dict[str, Chart]:
    rows = [
        {
            "name": row["brand"],
            "competitor": row["competitor"],
            **{key: row[key]["value"] for key in COMPETITOR_CHART_METRICS},
        }
        for row in context["comparison"]
    ]
    height = max(110, 70 + COMPETITOR_ROW_PX * len(rows))
    shown = {}
    for metric in COMPETITOR_CHART_METRICS:
        metric_name = tr.t(f"mkpi.{metric}")
        kind = "share" if metric == "share_of_voice" else "index"
        shown[metric] = _add_chart(
            chart_set,
            f"competitors-{metric}",
            charts.competitor_bars_png,
            rows,
            metric,
            title=tr.t("management.chart_competitors_title", metric=metric_name),
            labels=labels,
            height=height,
            alt=tr.t(
                "management.chart_competitors_alt",
                metric=metric_name,
                values=", ".join(f"{row['name']} {_format(tr, row[metric], kind)}" for row in rows),
            ),
        )
    return shown


def _format(tr, value, kind: str) -> str:
    if value is None:
        return tr.t("common.missing")
    if kind == "share":
        return tr.percent(value)
    digits = {"count": 0, "rating": 2, "score": 1, "index": 1, "sentiment": 2}.get(kind, 1)
    return tr.number(value, digits)


def _period_of(context: dict) -> Period:
    return Period(context["report"], context["start"], context["end"])


def _previous_of(context: dict) -> Period:
    previous = context["previous"]
    return Period(context["report"], previous["start"], previous["end"])


def _selected(context: dict, brands: tuple[str, ...]) -> list[dict]:
    if not brands:
        return context["brands"]
    wanted = set(brands)
    return [brand for brand in context["brands"] if brand["name"] in wanted]


def _capped(brand: dict, list_items: int) -> dict:
    """A brand's lists cut for the e-mail (the size limit)."""
    breakdown = max(2, min(MAX_BREAKDOWN_ROWS, list_items // 3))

    def drops(figures: dict | None) -> dict | None:
        if figures is None:
            return None
        return {
            **figures,
            "by_channel": figures["by_channel"][:breakdown],
            "by_category": figures["by_category"][:breakdown],
        }

    return {
        **brand,
        "best_reviews": brand["best_reviews"][: max(1, min(MAX_PRAISE, list_items // 4))],
        "complaints": drops(brand["complaints"]),
        "surveys": drops(brand["surveys"]),
    }


def render_management_variant(config: Config, period: Period, context: dict, variant, list_items):
    """One variant (language, department, brands) of the weekly or monthly report."""
    from repwatch.report import (
        SECTION_ORDER,
        chart_labels,
        coverage_notes,
        rendered_variant,
        short_text,
    )

    tr = translator(variant.language)
    brands = [_capped(brand, list_items) for brand in _selected(context, variant.brands)]
    for brand in brands:
        brand["best_reviews"] = [
            {**review, "text": short_text(review["text"], 400)} for review in brand["best_reviews"]
        ]
    text_subject = subject(tr, period, brands, variant.department)
    chart_set = ChartSet(period.label)
    labels = chart_labels(variant.language)
    brand_charts = [
        _brand_charts(tr, context, brand, number, chart_set, labels)
        for number, brand in enumerate(brands, start=1)
    ]
    values = {
        # `label` is the templates' translation of ids: the period label goes by another name
        **{key: value for key, value in context.items() if key != "label"},
        "period_label": context["label"],
        "brands": brands,
        "period": _period_of(context),
        "previous_period": _previous_of(context),
        "subject": text_subject,
        "brand_charts": brand_charts,
        "competitor_charts": _competitor_charts(tr, context, chart_set, labels),
        "sections": SECTION_ORDER[period.report][variant.department],
        "department": variant.department,
        "coverage_notes": coverage_notes(tr, context["coverage"]),
        "kpi_rows": KPI_ROWS,
        "headline_kpis": HEADLINE_KPIS,
        "response_rows": RESPONSE_ROWS,
        "comparison_rows": COMPARISON_ROWS,
        "complaint_rows": COMPLAINT_ROWS,
        "survey_rows": SURVEY_ROWS,
        "event_rows": EVENT_ROWS,
        "terms_in_text": TERMS_IN_TEXT,
        "term_sentiment": term_sentiment,
        "sla_hours": config.metrics.sla_hours,
    }
    return rendered_variant(period, variant, "management", values, chart_set)
