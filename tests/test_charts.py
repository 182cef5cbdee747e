"""Report charts: PNGs of the promised size on their own white background, the same bytes for
the same data, and Chinese text drawn as glyphs when a CJK font is installed."""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from matplotlib import font_manager, ft2font
from PIL import Image

from repwatch import charts

START = date(2026, 11, 1)
TREND = [
    {"day": START + timedelta(days=day), "positive": 8 + day % 5, "neutral": 3, "negative": day % 4}
    for day in range(14)
]
LINE = [
    {
        "day": START + timedelta(days=day),
        "score": None if day in (4, 5) else round(0.7 * ((day * 37) % 17 / 8 - 1), 2),
        "reviews": 0 if day in (4, 5) else 10 + (day * 13) % 25,
    }
    for day in range(14)
]
EVENTS = [
    {"day": START + timedelta(days=3), "label": "App 5.2 上线"},
    {"day": START + timedelta(days=9), "label": "Checkout outage"},
]
PROBLEMS = [
    {"label": "产品质量", "count": 42, "previous": 30},
    {"label": "delivery / logistics", "count": 35, "previous": 41},
    {"label": "服务态度", "count": 21},
]
BRANDS = [
    {
        "name": "Acme 商城",
        "competitor": False,
        "reviews": 1234,
        "satisfaction_index": 72.4,
        "reputation_score": 68.1,
        "share_of_voice": 0.41,
        "nss": 34,
        "avg_rating": 4.2,
    },
    {
        "name": "Globex",
        "competitor": True,
        "reviews": 2210,
        "satisfaction_index": 65.0,
        "reputation_score": 61.7,
        "share_of_voice": 0.35,
        "nss": -12,
        "avg_rating": 3.9,
    },
    {
        "name": "京东旗舰店",
        "competitor": True,
        "reviews": 980,
        "satisfaction_index": None,
        "reputation_score": 74.9,
        "share_of_voice": 0.24,
        "nss": 51,
        "avg_rating": 4.5,
    },
]
TERMS = {
    "物流": 120,
    "快递很快": 95,
    "质量": 90,
    "battery": 70,
    "售后": 66,
    "refund": 60,
    "包装": 55,
    "delivery": 48,
    "发货慢": 35,
    "good value": 28,
}


def _with(rows, index, **changes):
    return [{**row, **changes} if number == index else row for number, row in enumerate(rows)]


# name: (draw(data, **size), data, other data of the same shape)
CHARTS = {
    "sentiment_trend": (
        lambda data, **size: charts.sentiment_trend_png(data, title="Acme · 情感", **size),
        TREND,
        _with(TREND, 5, negative=9),
    ),
    "sentiment_line": (
        lambda data, **size: charts.sentiment_line_png(data, title="Acme · 情感趋势", **size),
        LINE,
        _with(LINE, 7, score=-0.9),
    ),
    "rating_distribution": (
        lambda data, **size: charts.rating_distribution_png(data, title="Acme · 评分", **size),
        {5: 812, 4: 301, 3: 95, 2: 40, 1: 131},
        {5: 812, 4: 301, 3: 95, 2: 41, 1: 131},
    ),
    "sentiment_pie": (
        lambda data, **size: charts.sentiment_pie_png(*data, title="Acme · 情感分布", **size),
        (765, 210, 259),
        (765, 210, 260),
    ),
    "problem_bars": (
        lambda data, **size: charts.problem_bars_png(data, title="问题类型", **size),
        PROBLEMS,
        _with(PROBLEMS, 2, count=22),
    ),
    "competitor_bars": (
        lambda data, **size: charts.competitor_bars_png(
            data, "satisfaction_index", title="满意度 vs competitors", **size
        ),
        BRANDS,
        _with(BRANDS, 1, satisfaction_index=66.0),
    ),
    "word_cloud": (
        lambda data, **size: charts.word_cloud_png(data, title="高频词 terms", **size),
        TERMS,
        {**TERMS, "refund": 119},
    ),
}
EMPTY_INPUTS = {
    "sentiment_trend": [],
    "sentiment_line": [],
    "rating_distribution": {},
    "sentiment_pie": (0, 0, 0),
    "problem_bars": [],
    "competitor_bars": [],
    "word_cloud": {},
}


def _image(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def _installed_cjk_fonts() -> list[str]:
    """CJK fonts on this machine, asked of fontconfig (independent of the code under test)."""
    if shutil.which("fc-list") is None:
        return [path for path in charts._CJK_FONT_FILES if Path(path).is_file()]
    listing = subprocess.run(
        ["fc-list", ":lang=zh", "--format=%{file}\n"], capture_output=True, text=True, check=True
    ).stdout
    return listing.split()


needs_cjk_font = pytest.mark.skipif(
    not _installed_cjk_fonts(),
    reason="no CJK font installed (Debian: fonts-noto-cjk), Chinese cannot render as glyphs",
)


@pytest.mark.parametrize("name", CHARTS)
@pytest.mark.parametrize(
    ("width_px", "height_px", "scale"), [(600, 260, 2), (333, 217, 1), (451, 199, 3)]
)
def test_every_chart_is_an_opaque_white_png_of_the_promised_size(name, width_px, height_px, scale):
    draw, data, _ = CHARTS[name]
    png = draw(data, width_px=width_px, height_px=height_px, scale=scale)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = _image(png)
    assert image.format == "PNG"
    assert image.size == (width_px * scale, height_px * scale)
    rgba = image.convert("RGBA")
    # Its own background: it must read in dark-mode mail clients too.
    assert rgba.getchannel("A").getextrema() == (255, 255)
    assert rgba.getpixel((0, 0)) == (255, 255, 255, 255)
    assert rgba.getpixel((rgba.width - 1, rgba.height - 1)) == (255, 255, 255, 255)
    assert "Software" not in image.info


@pytest.mark.parametrize("name", CHARTS)
def test_the_same_data_gives_the_same_bytes_and_other_data_other_bytes(name):
    draw, data, other = CHARTS[name]
    first = draw(data)
    assert draw(data) == first
    assert draw(other) != first


@pytest.mark.parametrize("name", CHARTS)
def test_empty_inputs_draw_a_chart_saying_so(name):
    draw, data, _ = CHARTS[name]
    empty = draw(EMPTY_INPUTS[name], width_px=600, height_px=240)
    assert _image(empty).size == (1200, 480)
    assert empty != draw(data, width_px=600, height_px=240)


def test_a_line_without_any_score_is_an_empty_chart_too():
    no_scores = [{**point, "score": None} for point in LINE]
    png = charts.sentiment_line_png(no_scores, title="Acme")
    assert png == charts.sentiment_line_png([], title="Acme")


@pytest.mark.parametrize("draw", [charts.sentiment_trend_png, charts.sentiment_line_png])
def test_events_are_marked_on_the_trend(draw):
    series = TREND if draw is charts.sentiment_trend_png else LINE
    plain = draw(series, title="Acme")
    marked = draw(series, title="Acme", events=EVENTS)
    assert marked != plain
    assert draw(series, title="Acme", events=EVENTS) == marked
    relabelled = [{**EVENTS[0], "label": "Outage"}, EVENTS[1]]
    assert draw(series, title="Acme", events=relabelled) != marked
    # A datetime names its calendar day.
    as_datetimes = [
        {**event, "day": datetime.combine(event["day"], datetime.min.time())} for event in EVENTS
    ]
    assert draw(series, title="Acme", events=as_datetimes) == marked
    outside = [{"day": START - timedelta(days=1), "label": "before the period"}]
    assert draw(series, title="Acme", events=outside) == plain


def test_problem_bars_show_the_previous_period():
    without = [{"label": row["label"], "count": row["count"]} for row in PROBLEMS]
    assert charts.problem_bars_png(PROBLEMS, title="t") != charts.problem_bars_png(
        without, title="t"
    )
    moved = _with(PROBLEMS, 0, previous=50)
    assert charts.problem_bars_png(moved, title="t") != charts.problem_bars_png(PROBLEMS, title="t")


def test_competitor_bars_draw_the_chosen_metric_and_highlight_own_brands():
    by_metric = {
        metric: charts.competitor_bars_png(BRANDS, metric, title="t")
        for metric in ("reviews", "satisfaction_index", "reputation_score", "share_of_voice", "nss")
    }
    assert len(set(by_metric.values())) == len(by_metric)
    all_competitors = [{**row, "competitor": True} for row in BRANDS]
    assert charts.competitor_bars_png(all_competitors, "reviews", title="t") != by_metric["reviews"]
    with pytest.raises(ValueError, match="unknown metric 'nps'"):
        charts.competitor_bars_png(BRANDS, "nps", title="t")


def test_the_word_cloud_does_not_depend_on_the_order_of_the_terms():
    reversed_terms = dict(reversed(list(TERMS.items())))
    assert charts.word_cloud_png(reversed_terms, title="t") == charts.word_cloud_png(
        TERMS, title="t"
    )


def test_word_cloud_terms_take_their_sentiment_colour():
    plain = charts.word_cloud_png(TERMS, title="t")
    coloured = charts.word_cloud_png(TERMS, title="t", term_sentiment={"发货慢": "negative"})
    assert coloured != plain
    colours = _image(coloured).convert("RGB").getcolors(maxcolors=1_000_000)
    red = tuple(int(charts._TEXT_RED[index : index + 2], 16) for index in (1, 3, 5))
    assert red in {colour for _, colour in colours}


def test_the_pie_of_no_reviews_is_not_the_pie_of_one():
    assert charts.sentiment_pie_png(0, 0, 0, title="t") != charts.sentiment_pie_png(
        0, 1, 0, title="t"
    )


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="1 to 5 stars"):
        charts.rating_distribution_png({6: 1}, title="t")
    with pytest.raises(ValueError, match="negative"):
        charts.sentiment_pie_png(1, -1, 0, title="t")


def test_shares_are_whole_percentages_that_add_up_to_100():
    assert charts._shares_percent([1, 1, 1]) == [34, 33, 33]
    assert charts._shares_percent([765, 210, 259]) == [62, 17, 21]
    assert sum(charts._shares_percent([2, 3, 7, 11, 13])) == 100
    assert charts._shares_percent([0, 0]) == [0, 0]


def test_dollar_signs_are_text_not_mathtext():
    # With mathtext an odd number of "$" raises; a pair would set the text in italics.
    png = charts.problem_bars_png([{"label": "price $5 more", "count": 3}], title="$ off $")
    assert _image(png).size == (1200, 520)


def test_the_neutral_band_is_the_sentiment_models():
    from repwatch.nlp.sentiment import NEUTRAL_BAND

    assert charts._NEUTRAL_BAND == NEUTRAL_BAND


@needs_cjk_font
def test_matplotlib_finds_a_cjk_font_first_in_the_chart_fonts():
    fonts = charts.chart_fonts()
    assert fonts.cjk_family is not None
    assert fonts.families[0] == fonts.cjk_family
    assert fonts.families[-1] == "DejaVu Sans"
    path = font_manager.findfont(
        font_manager.FontProperties(family=fonts.cjk_family), fallback_to_default=False
    )
    font = ft2font.FT2Font(path, face_index=getattr(path, "face_index", 0))
    assert all(font.get_char_index(ord(character)) for character in "服务装")
    assert font.family_name == fonts.cjk_family


@needs_cjk_font
@pytest.mark.parametrize(
    "draw",
    [
        lambda label: charts.problem_bars_png([{"label": label, "count": 3}], title="t"),
        lambda label: charts.competitor_bars_png(
            [{"name": label, "competitor": False, "reviews": 3}], "reviews", title="t"
        ),
        # One colour for both words: other terms take a colour by their text.
        lambda label: charts.word_cloud_png(
            {label: 1.0, "delivery": 0.5}, title="t", term_sentiment={label: "negative"}
        ),
        lambda label: charts.sentiment_pie_png(3, 1, 1, title=label),
    ],
    ids=["problem label", "brand name", "term", "title"],
)
def test_chinese_text_is_drawn_as_glyphs(draw):
    # Missing glyphs all render as the same box: two different words would look the same.
    service = draw("服务")
    assert service != draw("服装")
    assert service != draw("")


@pytest.fixture
def without_cjk_font(monkeypatch):
    charts.chart_fonts.cache_clear()
    charts._rc_params.cache_clear()
    monkeypatch.setattr(charts, "_find_cjk_font", lambda: None)
    yield
    monkeypatch.undo()
    charts.chart_fonts.cache_clear()
    charts._rc_params.cache_clear()


@pytest.mark.filterwarnings("ignore:Glyph:UserWarning")
def test_without_a_cjk_font_charts_use_dejavu_and_warn_once(without_cjk_font, caplog):
    caplog.set_level(logging.WARNING, logger="repwatch.charts")
    fonts = charts.chart_fonts()
    assert fonts.families == ("DejaVu Sans",)
    assert fonts.cjk_family is None
    assert Path(fonts.path).name == "DejaVuSans.ttf"
    cloud = charts.word_cloud_png(TERMS, title="高频词")
    bars = charts.problem_bars_png(PROBLEMS, title="问题类型")
    assert _image(cloud).size == (1200, 600)
    assert _image(bars).size == (1200, 520)
    warnings = [record for record in caplog.records if "CJK" in record.getMessage()]
    assert len(warnings) == 1


# --- words: every label reaches its chart, in the language given ---------------------------


def _zh_labels() -> dict[str, str]:
    from repwatch.report import chart_labels

    return chart_labels("zh-CN")


@pytest.mark.parametrize("name", CHARTS)
def test_a_chinese_chart_differs_from_the_english_one(name):
    draw, data, _ = CHARTS[name]
    english = draw(data)
    chinese = draw(data, labels=_zh_labels())
    assert chinese != english
    assert draw(data, labels=_zh_labels()) == chinese
    empty_english = draw(EMPTY_INPUTS[name], width_px=600, height_px=240)
    empty_chinese = draw(EMPTY_INPUTS[name], width_px=600, height_px=240, labels=_zh_labels())
    assert empty_chinese != empty_english


@pytest.mark.parametrize("name", CHARTS)
def test_the_english_catalogue_draws_the_default_words(name):
    from repwatch.report import chart_labels

    draw, data, _ = CHARTS[name]
    assert draw(data, labels=chart_labels("en")) == draw(data)


_NO_PREVIOUS = [{"label": "产品质量", "count": 4, "previous": 0}]
# Per label key, a chart that draws it: (draw(labels), description).
_DRAWN_BY = {
    "no_reviews": lambda labels: charts.sentiment_line_png([], title="t", labels=labels),
    "no_reviews_short": lambda labels: charts.sentiment_pie_png(0, 0, 0, title="t", labels=labels),
    "last_day_negative": lambda labels: charts.sentiment_trend_png(TREND, title="t", labels=labels),
    "mean_score": lambda labels: charts.sentiment_line_png(LINE, title="t", labels=labels),
    "reviews_per_day": lambda labels: charts.sentiment_line_png(LINE, title="t", labels=labels),
    "neutral_band": lambda labels: charts.sentiment_line_png(LINE, title="t", labels=labels),
    "reviews": lambda labels: charts.sentiment_pie_png(5, 2, 3, title="t", labels=labels),
    "net_sentiment_score": lambda labels: charts.sentiment_pie_png(
        5, 2, 3, title="t", labels=labels
    ),
    "no_rated_reviews": lambda labels: charts.rating_distribution_png({}, title="t", labels=labels),
    "rated_summary": lambda labels: charts.rating_distribution_png(
        {5: 3, 1: 1}, title="t", labels=labels
    ),
    "stars": lambda labels: charts.rating_distribution_png({5: 3, 1: 1}, title="t", labels=labels),
    "no_problems": lambda labels: charts.problem_bars_png([], title="t", labels=labels),
    "total": lambda labels: charts.problem_bars_png(PROBLEMS, title="t", labels=labels),
    "this_period": lambda labels: charts.problem_bars_png(PROBLEMS, title="t", labels=labels),
    "previous_period": lambda labels: charts.problem_bars_png(PROBLEMS, title="t", labels=labels),
    "new": lambda labels: charts.problem_bars_png(_NO_PREVIOUS, title="t", labels=labels),
    "no_brands": lambda labels: charts.competitor_bars_png([], "reviews", title="t", labels=labels),
    "no_data": lambda labels: charts.competitor_bars_png(
        BRANDS, "satisfaction_index", title="t", labels=labels
    ),
    "own_brand": lambda labels: charts.competitor_bars_png(
        BRANDS, "reviews", title="t", labels=labels
    ),
    "competitor": lambda labels: charts.competitor_bars_png(
        BRANDS, "reviews", title="t", labels=labels
    ),
    "no_terms": lambda labels: charts.word_cloud_png({}, title="t", labels=labels),
    "top_terms": lambda labels: charts.word_cloud_png(TERMS, title="t", labels=labels),
    **{
        sentiment: lambda labels: charts.sentiment_trend_png(TREND, title="t", labels=labels)
        for sentiment in ("positive", "neutral", "negative")
    },
    **{
        f"metric_{metric}": lambda labels, metric=metric: charts.competitor_bars_png(
            [{**row, "mentions": 10, "csat": 80, "bayesian_rating": 4.1} for row in BRANDS]
            + [{"name": "x", "competitor": True, "response_rate": 0.5, "sla_compliance": 0.7}],
            metric,
            title="t",
            labels=labels,
        )
        for metric in charts.COMPETITOR_METRICS
    },
}


def test_every_label_key_is_documented_and_drawn_by_a_chart():
    assert set(_DRAWN_BY) == set(charts.CHART_LABELS)


@pytest.mark.parametrize("key", charts.CHART_LABELS)
def test_every_label_is_drawn(key):
    """Another word for one key changes the picture of a chart that draws it."""
    draw = _DRAWN_BY[key]
    changed = {key: "Q " + charts.CHART_LABELS[key]}  # the same {fields}, another word
    assert draw(changed) != draw(None)


def test_unknown_labels_are_refused():
    with pytest.raises(ValueError, match="unknown chart labels"):
        charts.problem_bars_png(PROBLEMS, title="t", labels={"in_total": "共"})


# --- the bold face of the CJK font ---------------------------------------------------------


@pytest.fixture
def cjk_without_bold_in_matplotlib(monkeypatch):
    """matplotlib's font list without the bold CJK faces (a cache written before they were
    installed), and the chart fonts looked up afresh."""
    manager = font_manager.fontManager
    family = charts.chart_fonts().cjk_family
    bold_files = {
        entry.fname
        for entry in manager.ttflist
        if entry.name == family and font_manager.weight_dict.get(entry.weight, entry.weight) >= 600
    }
    assert bold_files, "the CJK font has a bold face installed here"
    kept = [entry for entry in manager.ttflist if entry.fname not in bold_files]
    monkeypatch.setattr(manager, "ttflist", kept)
    manager._findfont_cached.cache_clear()  # the lookups cached with the bold face in the list
    charts.chart_fonts.cache_clear()
    charts._rc_params.cache_clear()
    yield family
    monkeypatch.undo()
    manager._findfont_cached.cache_clear()
    charts.chart_fonts.cache_clear()
    charts._rc_params.cache_clear()


def _findfont_warnings(caplog) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "matplotlib.font_manager" and record.levelno >= logging.WARNING
    ]


def _draw_bold_text() -> None:
    charts.competitor_bars_png(BRANDS, "satisfaction_index", title="t")
    charts.problem_bars_png(PROBLEMS, title="t")
    charts.sentiment_pie_png(765, 210, 259, title="t")


@needs_cjk_font
def test_the_bold_cjk_face_is_registered_when_matplotlib_misses_it(
    cjk_without_bold_in_matplotlib, caplog
):
    caplog.set_level(logging.WARNING, logger="matplotlib.font_manager")
    assert charts.chart_fonts().bold == "bold"
    _draw_bold_text()
    assert _findfont_warnings(caplog) == []


@needs_cjk_font
def test_without_a_bold_cjk_face_charts_ask_for_none(
    cjk_without_bold_in_matplotlib, monkeypatch, caplog
):
    monkeypatch.setattr(charts, "_register_bold_face", lambda family, path: False)
    caplog.set_level(logging.WARNING, logger="matplotlib.font_manager")
    assert charts.chart_fonts().bold == "normal"
    _draw_bold_text()
    assert _findfont_warnings(caplog) == []
    # Asking for bold anyway is what logged "Failed to find font weight bold" for every size.
    charts.chart_fonts.cache_clear()
    monkeypatch.setattr(
        charts,
        "chart_fonts",
        lambda: charts.ChartFonts(
            (cjk_without_bold_in_matplotlib, "DejaVu Sans"),
            cjk_without_bold_in_matplotlib,
            "",
            0,
            "bold",
        ),
    )
    _draw_bold_text()
    assert any(
        "Failed to find font weight bold" in message for message in _findfont_warnings(caplog)
    )
