"""Charts for reports, rendered to PNG bytes (e-mail clients show neither SVG nor data URIs).

Every chart is a pure function, data in and PNG bytes out: `width_px` x `height_px` nominal
pixels drawn at `scale` times that size for high-density screens, on its own white background
(it must read in dark-mode mail clients too), and the same data always gives the same bytes.
Chinese and English text render alike: the sans-serif font list starts with a CJK font when one
is installed (Noto Sans CJK SC first), matplotlib's DejaVu Sans covers the rest.

Every word a chart draws besides its title and the data (legends, notes, the empty chart's
message, metric descriptions) comes from `labels`, a mapping over the keys of CHART_LABELS
(the English defaults, kept here only); a report passes its language's words from the message
catalogue (`chart.*` entries, repwatch.report.chart_labels). Numbers are formatted the same in
every language.
"""

from __future__ import annotations

import io
import logging
import math
import os
import shutil
import subprocess
import unicodedata
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import cache
from types import MappingProxyType

import matplotlib

matplotlib.use("Agg")  # no display on servers and workers (for pyplot users in this process)

import numpy as np  # noqa: E402
from matplotlib import font_manager, ft2font, transforms  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

log = logging.getLogger(__name__)

SENTIMENT_COLOURS = {"positive": "#2e9e5b", "neutral": "#9aa3ad", "negative": "#d64545"}
# Text versions of the sentiment colours, dark enough for small type on white (WCAG AA).
_TEXT_GREEN = "#1d7044"
_TEXT_RED = "#b42318"
_INK = "#1f2933"
_MUTED = "#5f6b7a"
_GRID = "#e5e7eb"
_TRACK = "#f1f3f5"  # the full scale behind a bar, the neutral band
_AXIS_COLOUR = "#c4cad1"
_LINE_COLOUR = "#334155"
_VOLUME_COLOUR = "#dde2e8"  # review counts behind the sentiment line
_EVENT_COLOUR = "#b45309"  # amber: apart from the sentiment colours, 5:1 contrast on white
_OWN_COLOUR = "#1f5fa8"
_COMPETITOR_COLOUR = "#aab3bd"
# Word cloud terms without a sentiment: dark, and neither red nor green (those mean sentiment).
_TERM_COLOURS = ("#1f3a5f", "#2f6690", "#5b4b8a", "#3d4451", "#7a5c12", "#24577a")
_PAST_ALPHA = 0.55
_DPI = 100
_TITLE_SIZE = 10
_LABEL_SIZE = 8
_PAD_PX = 10  # figure edge to title and plot
_TITLE_BAND_PX = 30  # figure top to the top of the plot area under a figure-level title
# Mirrors repwatch.nlp.sentiment.NEUTRAL_BAND (|score| below it is neutral); not imported
# because that module loads scikit-learn, too slow for rendering a report.
_NEUTRAL_BAND = 0.25
_EVENT_LABEL_COLUMNS = 18  # event labels are cut to this many columns (a CJK character is 2)

# Sans-serif CJK families, best first: Noto Sans CJK (Debian fonts-noto-cjk) and its twin
# Source Han Sans, then what other systems ship.
_CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Noto Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "PingFang SC",
    "Microsoft YaHei",
    "SimHei",
)
# Well-known system locations, tried when matplotlib's font cache predates the font install
# and fontconfig is absent.
_CJK_FONT_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)
_CJK_PROBE = "中"
_FALLBACK_FAMILY = "DejaVu Sans"
_BOLD_WEIGHT = 600  # semibold and heavier pass for bold

# The words charts draw, in English, by key; `labels=` of every chart overrides any of them.
# `{name}` fields are filled with numbers the chart formats itself (the same in every language).
CHART_LABELS: Mapping[str, str] = MappingProxyType(
    {
        # The empty chart of the trend, the line and the donut's hole without reviews.
        "no_reviews": "no reviews in this period",
        "no_reviews_short": "no reviews",
        # Sentiment names: the trend's legend and the donut's legend.
        "positive": "positive",
        "neutral": "neutral",
        "negative": "negative",
        # sentiment_trend_png: the last day's negative count over its bar.
        "last_day_negative": "{count} neg.",
        # sentiment_line_png: the legend; {band} is the neutral band's half width.
        "mean_score": "daily mean score (−1 … +1)",
        "reviews_per_day": "reviews per day (right axis)",
        "neutral_band": "neutral band (±{band})",
        # sentiment_pie_png: the caption under the total in the hole, the legend's footer.
        "reviews": "reviews",
        "net_sentiment_score": "net sentiment score {value}",
        # rating_distribution_png: the empty chart, the note top right, each row's label.
        "no_rated_reviews": "no rated reviews in this period",
        "rated_summary": "{count} rated · mean {mean} ★",
        "stars": "{stars} ★",
        # problem_bars_png: the empty chart, the total top right, the legend, the change of a
        # type that had no complaints in the previous period.
        "no_problems": "no problems reported in this period",
        "total": "{count} in total",
        "this_period": "this period",
        "previous_period": "previous period",
        "new": "new",
        # competitor_bars_png: the empty chart, a brand without a value, the legend, and the
        # description of each metric (top right).
        "no_brands": "no brands to compare",
        "no_data": "no data",
        "own_brand": "own brand",
        "competitor": "competitor",
        "metric_reviews": "reviews",
        "metric_mentions": "mentions",
        "metric_avg_rating": "average rating, 1–5 ★",
        "metric_bayesian_rating": "Bayesian average rating, 1–5 ★",
        "metric_satisfaction_index": "satisfaction index, 0–100",
        "metric_reputation_score": "reputation score, 0–100",
        "metric_csat": "CSAT, % of rated reviews at 4–5 ★",
        "metric_nss": "net sentiment score, −100 … +100",
        "metric_share_of_voice": "share of voice",
        "metric_response_rate": "reviews answered",
        "metric_sla_compliance": "negative reviews answered within 24 h",
        # word_cloud_png: the empty chart, the note top right.
        "no_terms": "no terms in this period",
        "top_terms": "top {count} terms",
    }
)


def _labels(labels: Mapping[str, str] | None) -> Mapping[str, str]:
    """CHART_LABELS with `labels` over them; an unknown key is a typo and refused."""
    if not labels:
        return CHART_LABELS
    unknown = sorted(set(labels) - set(CHART_LABELS))
    if unknown:
        raise ValueError(f"unknown chart labels {unknown}; known: {', '.join(CHART_LABELS)}")
    return {**CHART_LABELS, **labels}


@dataclass(frozen=True)
class ChartFonts:
    """The fonts every chart uses: `families` is matplotlib's sans-serif list; `path` and
    `face_index` locate the file the word cloud draws with (PIL needs a file); `bold` is the
    weight strong text asks for ("normal" when the CJK family has no bold face: asking for
    one would log a findfont warning for every size and draw regular glyphs anyway)."""

    families: tuple[str, ...]
    cjk_family: str | None
    path: str
    face_index: int
    bold: str = "bold"


@cache
def chart_fonts() -> ChartFonts:
    """Find a CJK font once per process; without one, DejaVu Sans and a single warning."""
    cjk = _find_cjk_font()
    if cjk is not None:
        family, path = cjk
        index = getattr(path, "face_index", 0)  # which font of a collection (.ttc)
        bold = "bold" if _register_bold_face(family, str(path)) else "normal"
        if bold == "normal":
            log.info("no bold face of %s installed: charts set strong text in regular", family)
        return ChartFonts((family, _FALLBACK_FAMILY), family, str(path), index, bold)
    log.warning("no CJK font found (install fonts-noto-cjk): Chinese text in charts shows as boxes")
    path = font_manager.findfont(font_manager.FontProperties(family=_FALLBACK_FAMILY))
    return ChartFonts((_FALLBACK_FAMILY,), None, str(path), getattr(path, "face_index", 0))


def _find_cjk_font() -> tuple[str, font_manager.FontPath] | None:
    found = _known_cjk_font()
    if found is not None:
        return found
    # matplotlib's font cache is written on first use and misses fonts installed later:
    # add the files fontconfig names (every weight of the family), else the well-known ones.
    fc_family, fc_file = _fontconfig_cjk_font()
    candidates = [fc_file, *_fontconfig_files(fc_family)]
    for path in _CJK_FONT_FILES:
        candidates += [path, path.replace("Regular", "Bold")]
    for path in dict.fromkeys(candidate for candidate in candidates if candidate):
        if os.path.isfile(path) and _has_cjk_glyphs(path):
            font_manager.fontManager.addfont(path)
    found = _known_cjk_font()
    if found is None and fc_family and fc_file and _has_cjk_glyphs(fc_file):
        found = _known_cjk_font((fc_family,))
    return found


def _has_bold_face(family: str) -> bool:
    def weight(value) -> int:
        if isinstance(value, int | float):
            return int(value)
        return font_manager.weight_dict.get(str(value).lower(), 400)

    return any(
        entry.name == family and weight(entry.weight) >= _BOLD_WEIGHT
        for entry in font_manager.fontManager.ttflist
    )


def _register_bold_face(family: str, regular_path: str) -> bool:
    """Whether matplotlib knows a bold face of `family`, after adding the one installed beside
    the regular file or named by fontconfig (a font cache older than the fonts misses it)."""
    if _has_bold_face(family):
        return True
    known = {entry.fname for entry in font_manager.fontManager.ttflist}
    candidates = [regular_path.replace("Regular", "Bold"), *_fontconfig_files(family, "Bold")]
    for path in dict.fromkeys(candidates):
        if path not in known and os.path.isfile(path) and _has_cjk_glyphs(path):
            font_manager.fontManager.addfont(path)
    return _has_bold_face(family)


def _bold() -> str:
    return chart_fonts().bold


def _known_cjk_font(
    families: Sequence[str] = _CJK_FAMILIES,
) -> tuple[str, font_manager.FontPath] | None:
    for family in families:
        try:
            path = font_manager.findfont(
                font_manager.FontProperties(family=family), fallback_to_default=False
            )
        except ValueError:
            continue
        return family, path
    return None


def _fontconfig(*command: str) -> str | None:
    """The output of a fontconfig command (fc-match, fc-list); None where fontconfig is not
    installed or the command fails."""
    if shutil.which(command[0]) is None:
        return None
    try:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def _fontconfig_cjk_font() -> tuple[str | None, str | None]:
    output = _fontconfig("fc-match", "--format=%{family}\n%{file}", "sans-serif:lang=zh-cn")
    if output is None:
        return None, None
    family, _, path = output.partition("\n")
    return family.split(",")[0] or None, path or None


def _fontconfig_files(family: str | None, style: str = "") -> list[str]:
    if not family:
        return []
    pattern = f"{family}:style={style}" if style else family
    output = _fontconfig("fc-list", "--format=%{file}\n", pattern)
    return sorted(set(output.split())) if output else []


def _has_cjk_glyphs(path: str) -> bool:
    try:
        font = ft2font.FT2Font(path)
    except (OSError, RuntimeError):
        return False
    return font.get_char_index(ord(_CJK_PROBE)) != 0


@cache
def _rc_params() -> dict:
    """Applied around every chart (not set globally: other matplotlib users keep theirs)."""
    return {
        "font.family": "sans-serif",
        "font.sans-serif": list(chart_fonts().families),
        # Labels are data: a "$" in a brand name or term must not start mathtext.
        "text.parse_math": False,
    }


@contextmanager
def _chart_style() -> Iterator[None]:
    with matplotlib.rc_context(_rc_params()):
        yield


@contextmanager
def _new_figure(width_px: int, height_px: int, dpi: int = _DPI) -> Iterator[Figure]:
    with _chart_style():
        # A bare Figure: no pyplot registry to leak figures from or to lock.
        figure = Figure(figsize=(width_px / _DPI, height_px / _DPI), dpi=dpi, facecolor="white")
        FigureCanvasAgg(figure)
        yield figure


def _png(figure: Figure, scale: int) -> bytes:
    buffer = io.BytesIO()
    # No "Software" entry: keeps the bytes independent of the matplotlib build.
    figure.savefig(
        buffer, format="png", dpi=_DPI * scale, facecolor="white", metadata={"Software": None}
    )
    return buffer.getvalue()


def _check_size(width_px: int, height_px: int, scale: int) -> None:
    if width_px < 120 or height_px < 80:
        raise ValueError(f"a chart needs at least 120x80 px, got {width_px}x{height_px}")
    if scale < 1:
        raise ValueError(f"scale must be 1 or more, got {scale}")


# --- text measuring and fitting -----------------------------------------------------------


def _text_width_px(figure: Figure, text: str, size: float, weight: str = "normal") -> float:
    renderer = figure.canvas.get_renderer()
    properties = font_manager.FontProperties(size=size, weight=weight)
    width, _, _ = renderer.get_text_width_height_descent(text, properties, ismath=False)
    return width * _DPI / figure.dpi


def _fit_text(figure: Figure, text: str, max_px: float, size: float, weight: str = "normal") -> str:
    """`text`, cut with an ellipsis where it would be wider than `max_px`."""
    if _text_width_px(figure, text, size, weight) <= max_px:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if _text_width_px(figure, text[:middle].rstrip() + "…", size, weight) <= max_px:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "…"


def _short_label(text: str, columns: int) -> str:
    """Cut to `columns` display columns (wide CJK characters count 2) for tight spots."""
    used = 0
    for index, character in enumerate(text):
        used += 2 if unicodedata.east_asian_width(character) in "WF" else 1
        if used > columns:
            return text[:index].rstrip() + "…"
    return text


def _figure_title(figure: Figure, title: str, note: str = "") -> None:
    """Title top left and an optional muted note (a total, a period) top right."""
    width_px = figure.get_figwidth() * _DPI
    height_px = figure.get_figheight() * _DPI
    top = 1 - _PAD_PX / height_px
    note_px = 0.0
    if note:
        figure.text(
            1 - _PAD_PX / width_px,
            top,
            note,
            ha="right",
            va="top",
            fontsize=_LABEL_SIZE,
            color=_MUTED,
        )
        note_px = _text_width_px(figure, note, _LABEL_SIZE) + 16
    fitted = _fit_text(figure, title, width_px - 2 * _PAD_PX - note_px, _TITLE_SIZE)
    figure.text(
        _PAD_PX / width_px, top, fitted, ha="left", va="top", fontsize=_TITLE_SIZE, color=_INK
    )


def _place_axes(axes, left_px: float, right_px: float, top_px: float, bottom_px: float) -> None:
    figure = axes.figure
    width_px = figure.get_figwidth() * _DPI
    height_px = figure.get_figheight() * _DPI
    axes.set_position(
        [
            left_px / width_px,
            bottom_px / height_px,
            max(1.0, width_px - left_px - right_px) / width_px,
            max(1.0, height_px - top_px - bottom_px) / height_px,
        ]
    )


def _bottom_legend(figure: Figure, handles: list) -> None:
    """One row of legend entries centred at the bottom; entries that would not fit the
    width are left out from the end, so put the most important first."""
    width_px = figure.get_figwidth() * _DPI
    em_px = _LABEL_SIZE * _DPI / 72
    # matplotlib's defaults: handle 2 em, gap to the text 0.8 em, 2 em between entries
    while len(handles) > 1:
        entries_px = sum(
            (2.8 * em_px + _text_width_px(figure, handle.get_label(), _LABEL_SIZE))
            for handle in handles
        )
        if entries_px + 2 * em_px * (len(handles) - 1) <= width_px - 2 * _PAD_PX:
            break
        handles = handles[:-1]
    figure.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        fontsize=_LABEL_SIZE,
        frameon=False,
        ncols=len(handles),
    )


def _message(figure: Figure, message: str, y: float = 0.45) -> None:
    figure.text(0.5, y, message, ha="center", va="center", fontsize=_TITLE_SIZE, color=_MUTED)


def _empty_chart(title: str, message: str, width_px: int, height_px: int, scale: int) -> bytes:
    with _new_figure(width_px, height_px) as figure:
        _figure_title(figure, title)
        _message(figure, message)
        return _png(figure, scale)


def _thousands(value: float) -> str:
    return f"{value:,.0f}"


def _signed(value: float, digits: int) -> str:
    """With its sign, and a true minus sign (U+2212) as typeset numbers have."""
    return f"{value:+.{digits}f}".replace("-", "\u2212")


def _shares_percent(counts: Sequence[int]) -> list[int]:
    """Whole percentages that add up to 100 (largest remainder), so a legend sums right."""
    total = sum(counts)
    if total == 0:
        return [0] * len(counts)
    exact = [count * 100 / total for count in counts]
    shares = [math.floor(value) for value in exact]
    by_remainder = sorted(
        range(len(counts)), key=lambda index: (shares[index] - exact[index], index)
    )
    for index in by_remainder[: 100 - sum(shares)]:
        shares[index] += 1
    return shares


# --- daily sentiment: stacked bars and the mean-score line --------------------------------


def sentiment_trend_png(
    series: Sequence[Mapping],
    *,
    title: str,
    width_px: int = 600,
    height_px: int = 260,
    scale: int = 2,
    events: Sequence[Mapping] = (),
    labels: Mapping[str, str] | None = None,
) -> bytes:
    """Stacked daily bars of positive/neutral/negative counts, the last day highlighted.

    `series` holds one mapping per day, oldest first, with `day`, `positive`, `neutral`
    and `negative`. `events` (`day`, `label`) are drawn as dashed vertical markers; those
    outside the series are left out. The PNG is `scale` times the nominal size for sharp
    display on high-density screens; the same data always gives the same bytes. Words:
    `labels` keys no_reviews, positive, neutral, negative, last_day_negative.
    """
    _check_size(width_px, height_px, scale)
    words = _labels(labels)
    if not series:
        return _empty_chart(title, words["no_reviews"], width_px, height_px, scale)
    positions = list(range(len(series)))
    last = positions[-1]
    with _new_figure(width_px, height_px) as figure:
        axes = figure.add_subplot()
        bottoms = [0] * len(series)
        for sentiment, colour in SENTIMENT_COLOURS.items():
            heights = [int(point[sentiment]) for point in series]
            bars = axes.bar(
                positions, heights, bottom=bottoms, color=colour, label=words[sentiment]
            )
            for position, bar in zip(positions, bars, strict=True):
                if position != last:
                    bar.set_alpha(_PAST_ALPHA)
                else:
                    bar.set_edgecolor("#1f2933")
                    bar.set_linewidth(0.8)
            bottoms = [bottom + height for bottom, height in zip(bottoms, heights, strict=True)]
        _label_last_day(axes, series[-1], last, bottoms[-1], words["last_day_negative"])
        _style_axes(axes, series, title)
        event_labels = _events_by_position(series, events)
        if event_labels:
            # Head room so the event labels sit above the bars, not on them.
            axes.set_ylim(0, max(1, max(bottoms)) * 1.3)
            _draw_events(axes, series, event_labels)
        figure.tight_layout()
        return _png(figure, scale)


def _label_last_day(axes, point: Mapping, position: int, total: int, text: str) -> None:
    axes.annotate(
        text.format(count=_thousands(int(point["negative"]))),
        xy=(position, total),
        xytext=(0, 3),
        textcoords="offset points",
        ha="right",
        va="bottom",
        fontsize=8,
        color=SENTIMENT_COLOURS["negative"],
        fontweight=_bold(),
    )


def _day_ticks(axes, series: Sequence[Mapping]) -> None:
    step = max(1, len(series) // 6)
    # Always label the highlighted last day; thin out the others.
    ticks = sorted({*range(len(series) - 1, -1, -step)})
    axes.set_xticks(ticks, [f"{series[index]['day']:%m-%d}" for index in ticks], fontsize=8)
    axes.set_xlim(-0.6, len(series) - 0.4)


def _style_axes(axes, series: Sequence[Mapping], title: str) -> None:
    _day_ticks(axes, series)
    axes.tick_params(axis="y", labelsize=8)
    axes.set_title(title, fontsize=10, loc="left")
    axes.spines[["top", "right"]].set_visible(False)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.grid(axis="y", color="#e5e7eb", linewidth=0.6)
    axes.set_axisbelow(True)
    # Under the axis: above it the legend collides with the title on a 600 px wide chart.
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8, frameon=False, ncols=3)


def _events_by_position(series: Sequence[Mapping], events: Sequence[Mapping]) -> dict[int, str]:
    """The label of each day of `series` that has events (several joined); days outside
    the series have no place on the chart and are left out."""
    position_of = {_as_date(point["day"]): index for index, point in enumerate(series)}
    labels_at: dict[int, list[str]] = {}
    for event in events:
        position = position_of.get(_as_date(event["day"]))
        if position is not None:
            labels_at.setdefault(position, []).append(str(event["label"]))
    return {position: " / ".join(labels) for position, labels in sorted(labels_at.items())}


def _draw_events(axes, series: Sequence[Mapping], labels_at: Mapping[int, str]) -> None:
    """Dashed vertical markers with a short label at the top; labels of events close to
    each other go on alternating rows so they do not overlap."""
    spacing = max(2, len(series) // 5)  # label width in days, roughly, on a 600 px chart
    previous: int | None = None
    row = 0
    on_label_top = transforms.blended_transform_factory(axes.transData, axes.transAxes)
    for position in sorted(labels_at):
        row = (row + 1) % 2 if previous is not None and position - previous < spacing else 0
        previous = position
        axes.axvline(position, color=_EVENT_COLOUR, linestyle=(0, (4, 3)), linewidth=1, zorder=3)
        near_right = position > (len(series) - 1) * 0.75
        axes.text(
            position,
            0.98 - 0.11 * row,
            _short_label(labels_at[position], _EVENT_LABEL_COLUMNS),
            transform=on_label_top,
            ha="right" if near_right else "left",
            va="top",
            fontsize=7.5,
            color=_EVENT_COLOUR,
            zorder=4,
            bbox={"boxstyle": "square,pad=0.15", "facecolor": "white", "edgecolor": "none"},
        )


def _as_date(value) -> date:
    # A datetime is a date too, but never equal to one: compare calendar days.
    return value.date() if hasattr(value, "date") and callable(value.date) else value


def sentiment_line_png(
    series: Sequence[Mapping],
    *,
    title: str,
    width_px: int = 600,
    height_px: int = 260,
    scale: int = 2,
    events: Sequence[Mapping] = (),
    labels: Mapping[str, str] | None = None,
) -> bytes:
    """The daily mean sentiment score (−1 … +1) as a line, the management trend line.

    `series` holds one mapping per day, oldest first, with `day` and `score` (None on days
    without reviews: the line breaks there) and optionally `reviews`, the day's count,
    drawn as light bars on a right-hand axis. Each day's point takes its sentiment colour;
    the neutral band is shaded; `events` are dashed markers as in `sentiment_trend_png`.
    Words: `labels` keys no_reviews, mean_score, reviews_per_day, neutral_band.
    """
    _check_size(width_px, height_px, scale)
    words = _labels(labels)
    scores = [point.get("score") for point in series]
    if not series or all(score is None for score in scores):
        return _empty_chart(title, words["no_reviews"], width_px, height_px, scale)
    positions = np.arange(len(series))
    values = np.array([np.nan if score is None else float(score) for score in scores])
    has_reviews = any(point.get("reviews") is not None for point in series)
    with _new_figure(width_px, height_px) as figure:
        _figure_title(figure, title)
        axes = figure.add_axes((0, 0, 1, 1))
        _place_axes(axes, 40, 40 if has_reviews else 14, _TITLE_BAND_PX + 4, 46)
        if has_reviews:
            volume = axes.twinx()
            reviews = [int(point.get("reviews") or 0) for point in series]
            volume.bar(positions, reviews, width=0.7, color=_VOLUME_COLOUR)
            # The bars keep to the lower third, under the line.
            volume.set_ylim(0, max(1, max(reviews)) * 3.2)
            volume.set_yticks([0, max(reviews)], ["0", _thousands(max(reviews))])
            volume.tick_params(axis="y", labelsize=7, colors=_MUTED, length=0)
            volume.spines[["top", "left", "bottom"]].set_visible(False)
            volume.spines["right"].set_color(_GRID)
            axes.set_zorder(volume.get_zorder() + 1)
            axes.patch.set_visible(False)
        axes.axhspan(-_NEUTRAL_BAND, _NEUTRAL_BAND, color=_TRACK, zorder=0, linewidth=0)
        axes.axhspan(
            _NEUTRAL_BAND,
            1.08,
            color=SENTIMENT_COLOURS["positive"],
            alpha=0.05,
            zorder=0,
            linewidth=0,
        )
        axes.axhspan(
            -1.08,
            -_NEUTRAL_BAND,
            color=SENTIMENT_COLOURS["negative"],
            alpha=0.05,
            zorder=0,
            linewidth=0,
        )
        axes.axhline(0, color=_AXIS_COLOUR, linewidth=0.8, zorder=1)
        axes.plot(
            positions,
            values,
            color=_LINE_COLOUR,
            linewidth=1.6,
            zorder=3,
        )
        colours = [SENTIMENT_COLOURS[_label_for(value)] for value in values if not np.isnan(value)]
        known = ~np.isnan(values)
        axes.scatter(
            positions[known],
            values[known],
            s=18,
            c=colours,
            edgecolors="white",
            linewidths=0.8,
            zorder=4,
        )
        last = int(positions[known][-1])
        axes.annotate(
            _signed(values[last], 2),
            xy=(last, values[last]),
            xytext=(0, 6 if values[last] >= 0 else -6),
            textcoords="offset points",
            ha="center",
            va="bottom" if values[last] >= 0 else "top",
            fontsize=_LABEL_SIZE,
            fontweight=_bold(),
            color=_score_text_colour(values[last]),
            zorder=5,
        )
        axes.set_ylim(-1.08, 1.08)
        axes.set_yticks([-1, -0.5, 0, 0.5, 1], ["−1", "−0.5", "0", "+0.5", "+1"])
        axes.tick_params(axis="both", labelsize=_LABEL_SIZE, colors=_MUTED, length=0)
        axes.tick_params(axis="x", pad=4)
        for side in ("top", "right", "left"):
            axes.spines[side].set_visible(False)
        axes.spines["bottom"].set_color(_AXIS_COLOUR)
        _day_ticks(axes, series)
        _draw_events(axes, series, _events_by_position(series, events))
        handles = [Line2D([], [], color=_LINE_COLOUR, linewidth=1.6, label=words["mean_score"])]
        if has_reviews:
            handles.append(Patch(color=_VOLUME_COLOUR, label=words["reviews_per_day"]))
        band = words["neutral_band"].format(band=f"{_NEUTRAL_BAND:g}")
        handles.append(Patch(color=_TRACK, label=band))
        _bottom_legend(figure, handles)
        return _png(figure, scale)


def _label_for(score: float) -> str:
    if score >= _NEUTRAL_BAND:
        return "positive"
    if score <= -_NEUTRAL_BAND:
        return "negative"
    return "neutral"


def _score_text_colour(score: float) -> str:
    return {"positive": _TEXT_GREEN, "negative": _TEXT_RED, "neutral": _INK}[_label_for(score)]


# --- distributions: star ratings and the sentiment donut ----------------------------------

_STAR_COLOURS = {
    5: SENTIMENT_COLOURS["positive"],
    4: "#82c49e",  # the positive green, lighter: satisfied, less so
    3: SENTIMENT_COLOURS["neutral"],
    2: "#e89595",  # the negative red, lighter
    1: SENTIMENT_COLOURS["negative"],
}


def rating_distribution_png(
    counts: Mapping[int, int],
    *,
    title: str,
    width_px: int = 600,
    height_px: int = 220,
    scale: int = 2,
    labels: Mapping[str, str] | None = None,
) -> bytes:
    """Horizontal bars of the 5 … 1 star counts, each labelled with its count and share;
    the number of rated reviews and their mean in the top right corner. Words: `labels` keys
    no_rated_reviews, rated_summary, stars."""
    _check_size(width_px, height_px, scale)
    words = _labels(labels)
    unknown = sorted(set(counts) - set(_STAR_COLOURS))
    if unknown:
        raise ValueError(f"ratings are 1 to 5 stars, got {unknown}")
    stars = [5, 4, 3, 2, 1]
    values = [int(counts.get(star, 0)) for star in stars]
    if any(value < 0 for value in values):
        raise ValueError("rating counts cannot be negative")
    total = sum(values)
    if not total:
        return _empty_chart(title, words["no_rated_reviews"], width_px, height_px, scale)
    shares = _shares_percent(values)
    with _new_figure(width_px, height_px) as figure:
        mean = sum(star * value for star, value in zip(stars, values, strict=True)) / total
        summary = words["rated_summary"].format(count=_thousands(total), mean=f"{mean:.2f}")
        _figure_title(figure, title, summary)
        star_labels = [words["stars"].format(stars=star) for star in stars]  # 5 stars on top
        # Short row labels ("5 ★") sit closer to their bars than category names do.
        axes, plot_px = _category_axes(figure, star_labels, 10, gap_px=10, tick_pad_pt=3.5)
        positions = np.arange(len(stars))
        labels = [
            f"{_thousands(value)} · {share}%" for value, share in zip(values, shares, strict=True)
        ]
        label_px = max(_text_width_px(figure, label, _LABEL_SIZE) for label in labels) + 8
        top = max(1, max(values)) / max(0.3, 1 - label_px / plot_px)
        axes.barh(positions, [top] * len(stars), height=0.62, color=_TRACK, zorder=1)
        axes.barh(positions, values, height=0.62, color=[_STAR_COLOURS[s] for s in stars], zorder=2)
        for position, value, label in zip(positions, values, labels, strict=True):
            _bar_label(axes, label, value, position)
        axes.set_xlim(0, top)
        return _png(figure, scale)


def sentiment_pie_png(
    positive: int,
    neutral: int,
    negative: int,
    *,
    title: str,
    width_px: int = 600,
    height_px: int = 240,
    scale: int = 2,
    labels: Mapping[str, str] | None = None,
) -> bytes:
    """A donut of the positive/neutral/negative shares with the total in its hole and a
    legend of shares and counts (the net sentiment score under it). All zero draws an
    empty grey ring saying "no reviews". Words: `labels` keys reviews, no_reviews_short,
    positive, neutral, negative, net_sentiment_score."""
    _check_size(width_px, height_px, scale)
    words = _labels(labels)
    counts = [int(positive), int(neutral), int(negative)]
    if any(count < 0 for count in counts):
        raise ValueError("sentiment counts cannot be negative")
    total = sum(counts)
    with _new_figure(width_px, height_px) as figure:
        _figure_title(figure, title)
        legend = _DonutLegend.fit(figure, counts, width_px, height_px, words)
        diameter_px = legend.diameter_px
        left_px = legend.left_px - _DONUT_GAP_PX - diameter_px
        bottom_px = (height_px - _TITLE_BAND_PX - diameter_px) / 2
        axes = figure.add_axes((0, 0, 1, 1))
        _place_axes(
            axes,
            left_px,
            width_px - left_px - diameter_px,
            height_px - bottom_px - diameter_px,
            bottom_px,
        )
        if total:
            shown = [
                (count, colour)
                for count, colour in zip(counts, SENTIMENT_COLOURS.values(), strict=True)
                if count
            ]
            axes.pie(
                [count for count, _ in shown],
                colors=[colour for _, colour in shown],
                startangle=90,
                counterclock=False,
                wedgeprops=_DONUT_RING,
            )
            _donut_centre(figure, axes, _thousands(total), words["reviews"], diameter_px)
        else:
            axes.pie([1], colors=[_GRID], startangle=90, wedgeprops=_DONUT_RING)
            _donut_centre(figure, axes, "", words["no_reviews_short"], diameter_px)
        axes.set_xlim(-1.02, 1.02)
        axes.set_ylim(-1.02, 1.02)
        axes.set_aspect("equal")
        legend.draw(figure, width_px, height_px)
        return _png(figure, scale)


_DONUT_RING = {"width": 0.36, "edgecolor": "white", "linewidth": 1.5}
_DONUT_GAP_PX = 24  # between the donut and its legend
_LEGEND_SIZE = _LABEL_SIZE + 1
_LEGEND_LINE_PX = 24
_SWATCH_PX = 11


@dataclass(frozen=True)
class _DonutLegend:
    """The legend right of the donut, sized from its text so that nothing is cut."""

    sentiments: tuple[str, ...]
    names: tuple[str, ...]
    values: tuple[str, ...]
    footer: str
    left_px: float
    value_left_px: float
    diameter_px: float

    @classmethod
    def fit(cls, figure: Figure, counts: list[int], width_px: int, height_px: int, words: Mapping):
        total = sum(counts)
        shares = _shares_percent(counts)
        sentiments = tuple(SENTIMENT_COLOURS)
        names = tuple(words[sentiment] for sentiment in sentiments)
        footer = ""
        if total:
            nss = _signed((counts[0] - counts[2]) / total * 100, 0)
            footer = words["net_sentiment_score"].format(value=nss)
        tallest = height_px - _TITLE_BAND_PX - 2 * _PAD_PX
        for with_counts in (True, False):  # counts go first when space is short
            if total:
                values = tuple(
                    f"{share}%  ·  {_thousands(count)}" if with_counts else f"{share}%"
                    for share, count in zip(shares, counts, strict=True)
                )
            else:
                values = ("–",) * 3
            name_px = max(_text_width_px(figure, name, _LEGEND_SIZE) for name in names)
            value_px = max(_text_width_px(figure, value, _LEGEND_SIZE, _bold()) for value in values)
            rows_px = _SWATCH_PX + 7 + name_px + 14 + value_px
            legend_px = max(rows_px, _text_width_px(figure, footer, _LABEL_SIZE) if footer else 0)
            diameter_px = min(
                tallest, width_px * 0.45, width_px - 2 * _PAD_PX - _DONUT_GAP_PX - legend_px
            )
            if diameter_px >= 0.6 * tallest or not with_counts:
                break
        diameter_px = max(24.0, diameter_px)
        # Centre the donut and legend together in the width they leave.
        spare_px = max(0.0, width_px - 2 * _PAD_PX - diameter_px - _DONUT_GAP_PX - legend_px)
        left_px = _PAD_PX + spare_px * 0.3 + diameter_px + _DONUT_GAP_PX
        return cls(
            sentiments, names, values, footer, left_px, left_px + rows_px - value_px, diameter_px
        )

    def draw(self, figure: Figure, width_px: int, height_px: int) -> None:
        lines = len(self.names) + (1 if self.footer else 0)
        top_px = _TITLE_BAND_PX + (height_px - _TITLE_BAND_PX - _LEGEND_LINE_PX * lines) / 2
        rows = zip(self.sentiments, self.names, self.values, strict=True)
        for row, (sentiment, name, value) in enumerate(rows):
            y = 1 - (top_px + (row + 0.5) * _LEGEND_LINE_PX) / height_px
            figure.add_artist(
                Rectangle(
                    (self.left_px / width_px, y - _SWATCH_PX / 2 / height_px),
                    _SWATCH_PX / width_px,
                    _SWATCH_PX / height_px,
                    transform=figure.transFigure,
                    facecolor=SENTIMENT_COLOURS[sentiment],
                    edgecolor="none",
                )
            )
            figure.text(
                (self.left_px + _SWATCH_PX + 7) / width_px,
                y,
                name,
                va="center",
                fontsize=_LEGEND_SIZE,
                color=_INK,
            )
            figure.text(
                self.value_left_px / width_px,
                y,
                value,
                va="center",
                fontsize=_LEGEND_SIZE,
                color=_INK,
                fontweight=_bold(),
            )
        if self.footer:
            y = 1 - (top_px + (len(self.names) + 0.5) * _LEGEND_LINE_PX) / height_px
            figure.text(
                self.left_px / width_px,
                y,
                self.footer,
                va="center",
                fontsize=_LABEL_SIZE,
                color=_MUTED,
            )


def _donut_centre(figure: Figure, axes, number: str, caption: str, diameter_px: float) -> None:
    """The total and its caption in the hole, shrunk to fit it, left out where too small."""
    hole_px = diameter_px * (1 - _DONUT_RING["width"]) * 0.8
    if number:
        size = min(13.0, 13.0 * hole_px / _text_width_px(figure, number, 13.0, _bold()))
        if size < 7:
            return
        axes.text(
            0, 0.1, number, ha="center", va="center", fontsize=size, fontweight=_bold(), color=_INK
        )
    size = min(_LABEL_SIZE + (0 if number else 1), 9 * hole_px / _text_width_px(figure, caption, 9))
    if size >= 6:
        axes.text(
            0, -0.2 if number else 0, caption, ha="center", va="center", fontsize=size, color=_MUTED
        )


# --- horizontal bar charts: problem types and the competitor comparison ---------------------


def _category_axes(
    figure: Figure,
    labels: Sequence[str],
    bottom_px: float,
    bold: Sequence[bool] = (),
    *,
    gap_px: float = 8,
    tick_pad_pt: float = 6,
) -> tuple[Axes, float]:
    """Axes under the title for horizontal bars, one row per label, the first on top, with
    room on the left for the labels (cut with an ellipsis past 40% of the width, `gap_px`
    more beside them, drawn `tick_pad_pt` points from the bars); and the width left for the
    bars."""
    width_px = figure.get_figwidth() * _DPI
    limit_px = width_px * 0.4
    weights = [(_bold() if strong else "normal") for strong in bold] or ["normal"] * len(labels)
    fitted = [
        _fit_text(figure, label, limit_px, _LABEL_SIZE + 0.5, weight)
        for label, weight in zip(labels, weights, strict=True)
    ]
    left_px = (
        _PAD_PX
        + gap_px
        + max(
            _text_width_px(figure, label, _LABEL_SIZE + 0.5, weight)
            for label, weight in zip(fitted, weights, strict=True)
        )
    )
    axes = figure.add_axes((0, 0, 1, 1))
    _place_axes(axes, left_px, _PAD_PX, _TITLE_BAND_PX + 2, bottom_px)
    for side in ("top", "right", "bottom", "left"):
        axes.spines[side].set_visible(False)
    axes.set_xticks([])
    positions = np.arange(len(labels))
    axes.set_yticks(positions, fitted)
    axes.tick_params(axis="y", labelsize=_LABEL_SIZE + 0.5, colors=_INK, length=0, pad=tick_pad_pt)
    axes.set_ylim(len(labels) - 0.5, -0.5)  # first row on top
    return axes, width_px - left_px - _PAD_PX


def _bar_label(
    axes: Axes,
    text: str,
    x: float,
    position: float,
    *,
    offset_pt: float = 4,
    colour: str = _INK,
    weight: str = "normal",
    zorder: float = 3,
) -> None:
    """A label beside the end `x` of the horizontal bar at `position`: `offset_pt` points to
    its right, or, with a negative offset, to its left and aligned right."""
    axes.annotate(
        text,
        xy=(x, position),
        xytext=(offset_pt, 0),
        textcoords="offset points",
        va="center",
        ha="right" if offset_pt < 0 else "left",
        fontsize=_LABEL_SIZE,
        fontweight=weight,
        color=colour,
        zorder=zorder,
    )


def problem_bars_png(
    rows: Sequence[Mapping],
    *,
    title: str,
    width_px: int = 600,
    height_px: int = 260,
    scale: int = 2,
    labels: Mapping[str, str] | None = None,
) -> bytes:
    """Horizontal bars of problem types in the order given (first on top), each labelled
    with its count and, where a row has `previous` (the count of the previous period), a
    thin marker at that count and the change (more complaints red, fewer green). Words:
    `labels` keys no_problems, total, this_period, previous_period, new."""
    _check_size(width_px, height_px, scale)
    words = _labels(labels)
    if not rows:
        return _empty_chart(title, words["no_problems"], width_px, height_px, scale)
    labels = [str(row["label"]) for row in rows]
    counts = [int(row["count"]) for row in rows]
    previous = [None if row.get("previous") is None else int(row["previous"]) for row in rows]
    has_previous = any(value is not None for value in previous)
    with _new_figure(width_px, height_px) as figure:
        _figure_title(figure, title, words["total"].format(count=_thousands(sum(counts))))
        axes, plot_px = _category_axes(figure, labels, 30 if has_previous else _PAD_PX)
        positions = np.arange(len(rows))
        ends = [max(count, before or 0) for count, before in zip(counts, previous, strict=True)]
        changes = [
            _change_label(count, before, words["new"])
            for count, before in zip(counts, previous, strict=True)
        ]
        label_px = (
            max(
                _text_width_px(figure, f"{_thousands(count)}  {change[0]}", _LABEL_SIZE, _bold())
                for count, change in zip(counts, changes, strict=True)
            )
            + 10
        )
        top = max(1, max(ends)) / max(0.3, 1 - label_px / plot_px)
        axes.set_xlim(0, top)
        bar_height = 0.62
        axes.barh(
            positions, counts, height=bar_height, color=SENTIMENT_COLOURS["negative"], zorder=2
        )
        for position, before in zip(positions, previous, strict=True):
            if before is not None:
                axes.plot(
                    [before, before],
                    [position - 0.42, position + 0.42],
                    color=_INK,
                    linewidth=1.6,
                    solid_capstyle="butt",
                    zorder=3,
                )
        for position, count, end, (change, colour) in zip(
            positions, counts, ends, changes, strict=True
        ):
            text = _thousands(count)
            _bar_label(axes, text, end, position, weight=_bold())
            if change:
                offset_pt = 4 + (_text_width_px(figure, text, _LABEL_SIZE, _bold()) + 5) * 72 / _DPI
                _bar_label(axes, change, end, position, offset_pt=offset_pt, colour=colour)
        if has_previous:
            handles = [
                Patch(color=SENTIMENT_COLOURS["negative"], label=words["this_period"]),
                Line2D(
                    [],
                    [],
                    color=_INK,
                    linewidth=1.6,
                    marker="|",
                    linestyle="none",
                    markersize=9,
                    markeredgewidth=1.6,
                    label=words["previous_period"],
                ),
            ]
            _bottom_legend(figure, handles)
        return _png(figure, scale)


def _change_label(count: int, previous: int | None, new: str) -> tuple[str, str]:
    """The change against the previous period as text and colour (more complaints is worse)."""
    if previous is None:
        return "", _MUTED
    if previous == 0:
        return (new, _TEXT_RED) if count else ("", _MUTED)
    delta = count - previous
    if delta == 0:
        return "±0", _MUTED
    text = f"▲ {delta:,}" if delta > 0 else f"▼ {-delta:,}"
    return text, _TEXT_RED if delta > 0 else _TEXT_GREEN


@dataclass(frozen=True)
class _Metric:
    """How a competitor metric's values read; its description is the label `metric_<key>`."""

    format: Callable[[float], str]
    # The metric's fixed range, drawn as a light track behind the bars; None: 0 to the largest.
    limits: tuple[float, float] | None


def _percent_of_fraction(value: float) -> str:
    return f"{value * 100:.1f}%"


COMPETITOR_METRICS: dict[str, _Metric] = {
    "reviews": _Metric(_thousands, None),
    "mentions": _Metric(_thousands, None),
    "avg_rating": _Metric(lambda value: f"{value:.2f} ★", (0, 5)),
    "bayesian_rating": _Metric(lambda value: f"{value:.2f} ★", (0, 5)),
    "satisfaction_index": _Metric(lambda value: f"{value:.1f}", (0, 100)),
    "reputation_score": _Metric(lambda value: f"{value:.1f}", (0, 100)),
    "csat": _Metric(lambda value: f"{value:.0f}%", (0, 100)),
    "nss": _Metric(lambda value: _signed(value, 0), (-100, 100)),
    "share_of_voice": _Metric(_percent_of_fraction, (0, 1)),
    "response_rate": _Metric(_percent_of_fraction, (0, 1)),
    "sla_compliance": _Metric(_percent_of_fraction, (0, 1)),
}


def competitor_bars_png(
    rows: Sequence[Mapping],
    metric: str,
    *,
    title: str,
    width_px: int = 600,
    height_px: int = 240,
    scale: int = 2,
    labels: Mapping[str, str] | None = None,
) -> bytes:
    """Horizontal bars comparing brands on one `metric` (a key of COMPETITOR_METRICS, e.g.
    `satisfaction_index`), in the order given; own brands (`competitor` false) in blue with
    bold names, competitors in grey. A brand whose value is None is marked "no data". Words:
    `labels` keys no_brands, no_data, own_brand, competitor, metric_<metric>."""
    _check_size(width_px, height_px, scale)
    if metric not in COMPETITOR_METRICS:
        raise ValueError(f"unknown metric {metric!r}; one of {', '.join(COMPETITOR_METRICS)}")
    spec = COMPETITOR_METRICS[metric]
    words = _labels(labels)
    if not rows:
        return _empty_chart(title, words["no_brands"], width_px, height_px, scale)
    names = [str(row["name"]) for row in rows]
    own = [not row.get("competitor", False) for row in rows]
    values = [None if row.get(metric) is None else float(row[metric]) for row in rows]
    texts = [words["no_data"] if value is None else spec.format(value) for value in values]
    both_kinds = any(own) and not all(own)
    with _new_figure(width_px, height_px) as figure:
        _figure_title(figure, title, words[f"metric_{metric}"])
        axes, plot_px = _category_axes(figure, names, 30 if both_kinds else _PAD_PX, own)
        for tick, strong in zip(axes.get_yticklabels(), own, strict=True):
            if strong:
                tick.set_fontweight(_bold())
                tick.set_color(_OWN_COLOUR)
        label_px = max(_text_width_px(figure, text, _LABEL_SIZE, _bold()) for text in texts) + 10
        known = [value for value in values if value is not None] or [0.0]
        low, high = spec.limits or (0.0, max(1.0, max(known)))
        low, high = min(low, min(known)), max(high, max(known))
        room = (high - low) * label_px / max(1.0, plot_px - label_px)
        axes.set_xlim(low - (room if low < 0 else 0), high + room)
        positions = np.arange(len(rows))
        if spec.limits is not None:
            axes.barh(
                positions, [high - low] * len(rows), left=low, height=0.62, color=_TRACK, zorder=1
            )
        if low < 0:
            axes.axvline(0, color=_AXIS_COLOUR, linewidth=0.8, zorder=2)
        colours = [_OWN_COLOUR if strong else _COMPETITOR_COLOUR for strong in own]
        axes.barh(
            positions, [value or 0.0 for value in values], height=0.62, color=colours, zorder=3
        )
        for position, value, text, strong in zip(positions, values, texts, own, strict=True):
            _bar_label(
                axes,
                text,
                value or 0.0,
                position,
                offset_pt=-4 if value is not None and value < 0 else 4,
                colour=(_OWN_COLOUR if strong else _INK) if value is not None else _MUTED,
                weight=_bold() if value is not None else "normal",
                zorder=4,
            )
        if both_kinds:
            handles = [
                Patch(color=_OWN_COLOUR, label=words["own_brand"]),
                Patch(color=_COMPETITOR_COLOUR, label=words["competitor"]),
            ]
            _bottom_legend(figure, handles)
        return _png(figure, scale)


# --- the word cloud -----------------------------------------------------------------------

_WORD_CLOUD_SEED = 20  # fixed: the same terms always give the same picture
_WORD_CLOUD_MIN_FONT_PX = 9  # nominal pixels: smaller terms would not read at 600 px wide


def word_cloud_png(
    weights: Mapping[str, float],
    *,
    title: str,
    width_px: int = 600,
    height_px: int = 300,
    scale: int = 2,
    term_sentiment: Mapping[str, str] | None = None,
    max_words: int = 80,
    labels: Mapping[str, str] | None = None,
) -> bytes:
    """A word cloud of Chinese and English terms sized by weight, all set horizontally.

    Terms named in `term_sentiment` ("positive", "neutral", "negative") take that sentiment's
    colour, the others a dark neutral one. The layout is computed at the nominal size (the
    `wordcloud` package, fixed random state) and drawn at `scale`, which keeps it fast.
    Words: `labels` keys no_terms, top_terms.
    """
    from wordcloud import WordCloud  # here: only the weekly and monthly reports draw one

    _check_size(width_px, height_px, scale)
    words = _labels(labels)
    terms = sorted(
        ((str(term).strip(), float(weight)) for term, weight in weights.items()),
        key=lambda item: (-item[1], item[0]),
    )
    # Ties go by term, so the picture does not depend on the mapping's order.
    terms = [(term, weight) for term, weight in terms if term and weight > 0][:max_words]
    if not terms:
        return _empty_chart(title, words["no_terms"], width_px, height_px, scale)
    fonts = chart_fonts()
    cloud_width = width_px - 2 * _PAD_PX
    cloud_height = height_px - _TITLE_BAND_PX - _PAD_PX
    term_sentiment = term_sentiment or {}

    def colour_of(word: str, **_) -> str:
        sentiment = term_sentiment.get(word)
        if sentiment in ("positive", "negative"):
            return _TEXT_GREEN if sentiment == "positive" else _TEXT_RED
        return _TERM_COLOURS[zlib.crc32(word.encode()) % len(_TERM_COLOURS)]

    cloud = WordCloud(
        font_path=fonts.path,
        width=cloud_width,
        height=cloud_height,
        prefer_horizontal=1.0,  # rotated Chinese reads badly
        max_words=max_words,
        max_font_size=int(cloud_height * 0.4),
        min_font_size=_WORD_CLOUD_MIN_FONT_PX,
        margin=4,
        random_state=_WORD_CLOUD_SEED,
        relative_scaling=0.5,
        background_color="white",
        color_func=colour_of,
    ).generate_from_frequencies(dict(terms))
    # The title drawn by matplotlib at the output resolution, the cloud pasted in by PIL:
    # matplotlib's figimage would resample the cloud, which costs more than the layout.
    with _new_figure(width_px, height_px, dpi=_DPI * scale) as figure:
        _figure_title(figure, title, words["top_terms"].format(count=len(cloud.layout_)))
        figure.canvas.draw()
        canvas = Image.fromarray(np.asarray(figure.canvas.buffer_rgba())).convert("RGB")
    canvas.paste(
        _draw_cloud(cloud.layout_, cloud_width, cloud_height, scale, fonts),
        (_PAD_PX * scale, _TITLE_BAND_PX * scale),
    )
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")  # PIL writes no time or software entries
    return buffer.getvalue()


def _draw_cloud(layout, width: int, height: int, scale: int, fonts: ChartFonts) -> Image.Image:
    """The fitted layout drawn at `scale` with the font's right face: the wordcloud package
    draws with a collection's first face, the Japanese one in Noto Sans CJK."""
    image = Image.new("RGB", (width * scale, height * scale), "white")
    draw = ImageDraw.Draw(image)
    font_of_size: dict[int, ImageFont.FreeTypeFont] = {}
    for (word, _), font_size, (y, x), _, colour in layout:
        size = int(font_size * scale)
        if size not in font_of_size:
            font_of_size[size] = ImageFont.truetype(fonts.path, size, index=fonts.face_index)
        font = font_of_size[size]
        # Wrapped like the layout's fonts: a TransposedFont places text by its ink, not by
        # the ascender, and the positions assume that.
        draw.text((x * scale, y * scale), word, fill=colour, font=ImageFont.TransposedFont(font))
    return image
