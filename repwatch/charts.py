"""Charts for reports, rendered to PNG bytes (e-mail clients show neither SVG nor data URIs)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # no display on servers and workers; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402

SENTIMENT_COLOURS = {"positive": "#2e9e5b", "neutral": "#9aa3ad", "negative": "#d64545"}
_PAST_ALPHA = 0.55
_DPI = 100


def sentiment_trend_png(
    series: Sequence[Mapping],
    *,
    title: str,
    width_px: int = 600,
    height_px: int = 260,
    scale: int = 2,
) -> bytes:
    """Stacked daily bars of positive/neutral/negative counts, the last day highlighted.

    `series` holds one mapping per day, oldest first, with `day`, `positive`, `neutral`
    and `negative`. The PNG is `scale` times the nominal size for sharp display on
    high-density screens; the same data always gives the same bytes.
    """
    if not series:
        raise ValueError("sentiment_trend_png needs at least one day")
    positions = list(range(len(series)))
    last = positions[-1]
    figure, axes = plt.subplots(figsize=(width_px / _DPI, height_px / _DPI), dpi=_DPI)
    try:
        figure.patch.set_facecolor("white")
        bottoms = [0] * len(series)
        for sentiment, colour in SENTIMENT_COLOURS.items():
            heights = [int(point[sentiment]) for point in series]
            bars = axes.bar(positions, heights, bottom=bottoms, color=colour, label=sentiment)
            for position, bar in zip(positions, bars, strict=True):
                if position != last:
                    bar.set_alpha(_PAST_ALPHA)
                else:
                    bar.set_edgecolor("#1f2933")
                    bar.set_linewidth(0.8)
            bottoms = [bottom + height for bottom, height in zip(bottoms, heights, strict=True)]
        _label_last_day(axes, series[-1], last, bottoms[-1])
        _style_axes(axes, series, title)
        figure.tight_layout()
        buffer = io.BytesIO()
        # No "Software" entry: keeps the bytes independent of the matplotlib build.
        figure.savefig(buffer, format="png", dpi=_DPI * scale, metadata={"Software": None})
        return buffer.getvalue()
    finally:
        plt.close(figure)


def _label_last_day(axes, point: Mapping, position: int, total: int) -> None:
    axes.annotate(
        f"{int(point['negative'])} neg.",
        xy=(position, total),
        xytext=(0, 3),
        textcoords="offset points",
        ha="right",
        va="bottom",
        fontsize=8,
        color=SENTIMENT_COLOURS["negative"],
        fontweight="bold",
    )


def _style_axes(axes, series: Sequence[Mapping], title: str) -> None:
    step = max(1, len(series) // 6)
    # Always label the highlighted last day; thin out the others.
    ticks = sorted({*range(len(series) - 1, -1, -step)})
    axes.set_xticks(ticks, [f"{series[index]['day']:%m-%d}" for index in ticks], fontsize=8)
    axes.tick_params(axis="y", labelsize=8)
    axes.set_xlim(-0.6, len(series) - 0.4)
    axes.set_title(title, fontsize=10, loc="left")
    axes.spines[["top", "right"]].set_visible(False)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.grid(axis="y", color="#e5e7eb", linewidth=0.6)
    axes.set_axisbelow(True)
    # Under the axis: above it the legend collides with the title on a 600 px wide chart.
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8, frameon=False, ncols=3)
