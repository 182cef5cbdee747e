"""Rendering the monthly management report (issue 8): the figures read from a demo-size
warehouse, its eight charts drawn, the templates rendered and the CSS inlined, target <= 3 s.

The warehouse is generated with `repwatch.demo_data` for the demo config's brands and sources
(`ITEMS` items over `DAYS` days, about what the demo site serves; untimed) and transformed.
Each timed run starts with an empty chart cache, so every chart is drawn: a trend line with the
configured event, a sentiment donut, a rating distribution, problem-type bars, a Chinese and an
English word cloud, and two competitor bar charts.

Peer, in the same run: the same report from the same context and templates, its charts drawn
the plain way a data engineer would first write them — pyplot figures laid out with
`tight_layout` and saved with `bbox_inches="tight"` at twice the resolution, and the word
clouds computed by `WordCloud` at their full 2x size. So the figure shows what the chart work
(fixed layouts, bare Figures, word-cloud layout at nominal size) buys.

A second row: the largest HTML part over every variant of the three reports (daily, weekly,
monthly × language × department) on the same warehouse, against Gmail's ~100 KB clip.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from unittest import mock

from repwatch.bench import Context, Row, median_seconds

ITEMS = 12_000
DAYS = 90
LAST_DAY = date(2026, 11, 30)
SEED = 4
MONTH = "2026-11"
TARGET_SECONDS = 3.0
HTML_TARGET_KB = 100.0
PEER = "plain pyplot charts (tight_layout, bbox_inches=tight) + WordCloud at full size"


def _config(context: Context):
    from repwatch.config import PROJECT_DIR, Paths, load_config

    config = load_config(PROJECT_DIR / "demo" / "repwatch.yaml")
    return config.model_copy(update={"paths": Paths(data_dir=context.work_dir / "reports")})


def build_warehouse(config) -> None:
    from repwatch.demo_data import generate
    from repwatch.pipeline import transform_days

    generate(config, items=ITEMS, days=DAYS, last_day=LAST_DAY, seed=SEED, replace=True)
    transform_days(config, LAST_DAY - timedelta(days=DAYS - 1), LAST_DAY)


def render_monthly(config, period, *, language: str = "en", department: str = "management"):
    """The timed work: context from the warehouse, charts (none cached), templates, CSS."""
    from repwatch import rendering
    from repwatch.report import build_context, render_report
    from repwatch.warehouse import connect

    rendering._CHART_CACHE.clear()
    with connect(config, read_only=True) as con:
        context = build_context(con, config, period)
    return render_report(config, period, context, language=language, department=department)


# ---------------------------------------------------------------------------- the peer's charts


def _pyplot_png(draw, width_px: int, height_px: int, title: str) -> bytes:
    import matplotlib.pyplot as plt

    from repwatch.charts import chart_fonts

    with plt.rc_context({"font.sans-serif": list(chart_fonts().families)}):
        figure, axes = plt.subplots(figsize=(width_px / 100, height_px / 100), dpi=100)
        try:
            draw(figure, axes)
            axes.set_title(title, loc="left", fontsize=10)
            figure.tight_layout()
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=200, bbox_inches="tight")
            return buffer.getvalue()
        finally:
            plt.close(figure)


def _peer_line(series, *, events=(), title, width_px, height_px, scale=2, labels=None):
    def draw(figure, axes):
        days = [point["day"] for point in series]
        axes.plot(days, [point["score"] for point in series], marker="o", color="#1f3a5f")
        axes.set_ylim(-1, 1)
        twin = axes.twinx()
        twin.bar(days, [point.get("reviews") or 0 for point in series], alpha=0.3, color="grey")
        for event in events:
            axes.axvline(event["day"], linestyle="--", color="#b45309")
            axes.annotate(event["label"], (event["day"], 0.9), fontsize=7)
        axes.legend(["daily mean score"], loc="lower left", fontsize=7)

    return _pyplot_png(draw, width_px, height_px, title)


def _peer_pie(positive, neutral, negative, *, title, width_px, height_px, scale=2, labels=None):
    def draw(figure, axes):
        axes.pie(
            [positive, neutral, negative],
            labels=["positive", "neutral", "negative"],
            colors=["#2e9e5b", "#9aa3ad", "#d64545"],
            autopct="%1.0f%%",
            wedgeprops={"width": 0.35},
        )
        axes.axis("equal")

    return _pyplot_png(draw, width_px, height_px, title)


def _peer_ratings(counts, *, title, width_px, height_px, scale=2, labels=None):
    def draw(figure, axes):
        stars = list(range(1, 6))
        bars = axes.barh([f"{star} ★" for star in stars], [counts.get(star, 0) for star in stars])
        axes.bar_label(bars, fontsize=7)

    return _pyplot_png(draw, width_px, height_px, title)


def _peer_problems(rows, *, title, width_px, height_px, scale=2, labels=None):
    def draw(figure, axes):
        labels = [row["label"] for row in rows][::-1]
        bars = axes.barh(labels, [row["count"] for row in rows][::-1], color="#d64545")
        axes.scatter([row["previous"] or 0 for row in rows][::-1], labels, marker="|", s=200)
        axes.bar_label(bars, fontsize=7)

    return _pyplot_png(draw, width_px, height_px, title)


def _peer_competitors(rows, metric, *, title, width_px, height_px, scale=2, labels=None):
    def draw(figure, axes):
        names = [row["name"] for row in rows][::-1]
        values = [row[metric] or 0 for row in rows][::-1]
        colours = ["#aab3bd" if row["competitor"] else "#1f5fa8" for row in rows][::-1]
        axes.bar_label(axes.barh(names, values, color=colours), fontsize=7)

    return _pyplot_png(draw, width_px, height_px, title)


def _peer_cloud(
    weights, *, title, width_px, height_px, scale=2, term_sentiment=None, max_words=80, labels=None
):
    from wordcloud import WordCloud

    from repwatch.charts import chart_fonts

    cloud = WordCloud(
        width=width_px * scale,
        height=height_px * scale,
        font_path=chart_fonts().path,
        background_color="white",
        max_words=max_words,
        random_state=1,
    ).generate_from_frequencies(weights)
    buffer = io.BytesIO()
    cloud.to_image().save(buffer, format="PNG")
    return buffer.getvalue()


_PEER_CHARTS = {
    "sentiment_line_png": _peer_line,
    "sentiment_pie_png": _peer_pie,
    "rating_distribution_png": _peer_ratings,
    "problem_bars_png": _peer_problems,
    "competitor_bars_png": _peer_competitors,
    "word_cloud_png": _peer_cloud,
}


def render_monthly_plain(config, period):
    """The same report with the peer's charts."""
    from repwatch import management

    with mock.patch.multiple(management.charts, **_PEER_CHARTS):
        return render_monthly(config, period)


def largest_html_kb(config) -> float:
    from repwatch.config import DEPARTMENTS
    from repwatch.i18n import LANGUAGES
    from repwatch.periods import parse_period
    from repwatch.report import build_context, render_report
    from repwatch.warehouse import connect

    largest = 0
    for report, label in (("daily", "2026-11-30"), ("weekly", "2026-W48"), ("monthly", MONTH)):
        period = parse_period(report, label)
        with connect(config, read_only=True) as con:
            context = build_context(con, config, period)
        for language in LANGUAGES:
            for department in DEPARTMENTS:
                rendered = render_report(
                    config, period, context, language=language, department=department
                )
                largest = max(largest, len(rendered.html.encode("utf-8")))
    return largest / 1024


def benchmarks(context: Context) -> list[Row]:
    from repwatch.periods import parse_period

    config = _config(context)
    build_warehouse(config)
    period = parse_period("monthly", MONTH)
    runs = max(3, context.runs)
    render_monthly(config, period)  # imports, fonts and templates once, as a running worker has
    ours = median_seconds(lambda: render_monthly(config, period), runs)
    render_monthly_plain(config, period)
    peer = median_seconds(lambda: render_monthly_plain(config, period), runs)
    return [
        Row(
            figure=f"monthly report with its 8 charts, {ITEMS:,}-item demo warehouse "
            "(context, charts, templates, CSS inlining)",
            value=ours,
            unit="s",
            target=TARGET_SECONDS,
            comparator="<=",
            peer=PEER,
            peer_value=peer,
        ),
        Row(
            figure="largest HTML part of all 30 report versions (3 reports x 2 languages x 5 "
            "departments)",
            value=largest_html_kb(config),
            unit="KB",
            target=HTML_TARGET_KB,
            comparator="<=",
            peer="-",
            peer_value=None,
        ),
    ]
