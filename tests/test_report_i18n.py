"""The message catalogues: the same keys in every language, every key a template uses present,
every id the data can hold labelled, placeholders that agree, and dates and numbers formatted
the way each language writes them; the words drawn in charts come from the report language's
catalogue."""

from __future__ import annotations

import re
from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta

import pytest

from repwatch import charts, rendering
from repwatch import report as report_module
from repwatch.alerts import RULES
from repwatch.config import DEPARTMENTS, EVENT_KINDS, KNOWN_SOURCES, SATISFACTION_DIMENSIONS
from repwatch.coverage import STATUS_FAILING, STATUS_NO_ITEMS, STATUS_NOT_CRAWLED, STATUS_OK
from repwatch.i18n import LANGUAGES, MissingTranslation, Translator, load_catalogue, placeholders
from repwatch.management import (
    COMPARISON_ROWS,
    COMPLAINT_ROWS,
    EVENT_ROWS,
    HEADLINE_KPIS,
    KPI_ROWS,
    RESPONSE_ROWS,
    SURVEY_ROWS,
)
from repwatch.nlp.problems import TAXONOMY
from repwatch.periods import parse_period
from repwatch.rendering import KPI_ROWS as DAILY_KPI_ROWS
from repwatch.rendering import TEMPLATES_DIR
from repwatch.report import SECTION_ORDER, build_context, chart_labels, render_report

# t("key") and t("prefix." ~ expression) in templates.
_LITERAL_KEY = re.compile(r"""\bt\(\s*"([^"]+)"\s*[,)]""")
_KEY_PREFIX = re.compile(r"""\bt\(\s*"([^"]+)"\s*~""")
_LABEL_GROUP = re.compile(r"""\blabel\(\s*"([^"]+)"\s*,""")


def templates() -> dict[str, str]:
    return {
        path.relative_to(TEMPLATES_DIR).as_posix(): path.read_text(encoding="utf-8")
        for path in TEMPLATES_DIR.rglob("*.j2")
    }


@pytest.fixture(scope="module")
def catalogues() -> dict[str, dict]:
    return {language: load_catalogue(language) for language in LANGUAGES}


def test_catalogues_have_the_same_keys(catalogues):
    english = set(catalogues["en"])
    for language, catalogue in catalogues.items():
        assert set(catalogue) == english, f"{language}: keys differ from en"


def test_placeholders_agree_between_languages(catalogues):
    def fields(entry) -> set[str]:
        texts = entry.values() if isinstance(entry, dict) else [entry]
        return set().union(*(placeholders(text) for text in texts if isinstance(text, str)))

    for key, english in catalogues["en"].items():
        if key.startswith("format."):
            continue  # each language picks from the same date fields (checked by rendering)
        for language, catalogue in catalogues.items():
            # A Chinese text need not repeat the count its English plural is chosen by.
            assert fields(catalogue[key]) - {"count"} == fields(english) - {"count"}, (
                f"{language}: {key} has other placeholders than en"
            )


def test_plural_entries_have_an_other_form(catalogues):
    for language, catalogue in catalogues.items():
        for key, entry in catalogue.items():
            if isinstance(entry, dict):
                assert "other" in entry, f"{language}: {key} lacks `other`"


def test_every_key_a_template_uses_exists(catalogues):
    used = {(name, key) for name, text in templates().items() for key in _LITERAL_KEY.findall(text)}
    assert len(used) > 100, "the templates were read"
    for language, catalogue in catalogues.items():
        missing = sorted(f"{name}: {key}" for name, key in used if key not in catalogue)
        assert missing == [], f"{language}: {missing}"


def test_every_key_prefix_and_id_group_is_covered(catalogues):
    """Keys built in templates ("kpi." ~ row.key, label("problem", id)) from what the data and
    the code can hold."""
    ids = {
        "kpi.": [row["key"] for row in DAILY_KPI_ROWS],
        "mkpi.": [key for rows in (KPI_ROWS, HEADLINE_KPIS, RESPONSE_ROWS) for key, *_ in rows]
        + [key for key, *_ in COMPARISON_ROWS],
        "mkpi_short.": [key for key, *_ in COMPARISON_ROWS],
        "complaint.": [key for key, *_ in COMPLAINT_ROWS],
        "survey.": [key for key, *_ in SURVEY_ROWS],
        "event_figure.": [key for key, *_ in EVENT_ROWS],
        "problem.": list(TAXONOMY),
        "dimension.": list(SATISFACTION_DIMENSIONS),
        "source.": list(KNOWN_SOURCES),
        "department.": list(DEPARTMENTS),
        "alert_rule.": list(RULES),
        "alert_mail.rule.": list(RULES),
        "chart.": list(charts.CHART_LABELS),
        "event_kind.": list(EVENT_KINDS),
        "coverage_status.": [STATUS_OK, STATUS_NO_ITEMS, STATUS_FAILING, STATUS_NOT_CRAWLED],
        "sentiment.": ["positive", "neutral", "negative"],
        "report.": list(SECTION_ORDER),
        "alerts.severity_": ["warning", "critical"],
        "management.report_word_": ["weekly", "monthly"],
        "management.term_language_": ["zh", "en"],
        "management.complaints_": ["by_category", "by_channel"],
        "action.kind_": ["overdue", "new_negative"],
        "common.language_names.": list(LANGUAGES),
    }
    text = "\n".join(templates().values())
    prefixes = set(_KEY_PREFIX.findall(text)) | {
        f"{group}." for group in _LABEL_GROUP.findall(text)
    }
    assert prefixes - set(ids) == set(), "every prefix a template builds keys from is checked"
    for language, catalogue in catalogues.items():
        for prefix, names in ids.items():
            missing = [name for name in names if f"{prefix}{name}" not in catalogue]
            assert missing == [], f"{language}: {prefix}{missing}"


def test_every_section_has_its_partials():
    for report, departments in SECTION_ORDER.items():
        folder = "daily" if report == "daily" else "management"
        sections = {section for order in departments.values() for section in order}
        for department, order in departments.items():
            assert sorted(order) == sorted(sections), f"{report}/{department} misses a section"
        for section in sections:
            for kind in ("html", "txt"):
                assert (TEMPLATES_DIR / "partials" / folder / f"{section}.{kind}.j2").exists()


def test_missing_key_is_an_error():
    with pytest.raises(MissingTranslation):
        Translator("en").t("no.such.key")
    with pytest.raises(ValueError):
        Translator("fr")


def test_unknown_id_is_shown_as_it_is():
    assert Translator("zh-CN").label("source", "playstore") == "playstore"
    assert Translator("zh-CN").label("source", "jd") == "京东"


def test_plurals():
    english = Translator("en")
    assert english.t("daily.overdue_summary", count=1, hours="24") == (
        "1 negative review has had no public reply for over 24 hours."
    )
    assert english.t("daily.overdue_summary", count=3, hours="24").startswith("3 negative reviews")
    assert Translator("zh-CN").t("daily.overdue_summary", count=3, hours="24") == (
        "有 3 条负面评价超过 24 小时仍未公开回复。"
    )


def test_dates_and_periods_per_language():
    english, chinese = Translator("en"), Translator("zh-CN")
    day = date(2026, 11, 27)
    assert english.date(day) == "2026-11-27"
    assert chinese.date(day) == "2026年11月27日"
    assert english.date_long(day) == "Friday 27 November 2026"
    assert chinese.date_long(day) == "2026年11月27日（周五）"
    assert chinese.datetime(datetime(2026, 11, 27, 9, 5, tzinfo=UTC)) == "2026年11月27日 09:05"
    week, month = parse_period("weekly", "2026-W48"), parse_period("monthly", "2026-11")
    assert english.period_short(week) == "2026-W48"
    assert chinese.period_short(week) == "2026年第48周"
    assert english.period(week) == "week 48, 2026 (23 Nov – 29 Nov)"
    assert chinese.period(week) == "2026年第48周（11月23日—11月29日）"
    assert english.period_short(month) == "2026-11"
    assert english.period(month) == "November 2026"
    assert chinese.period(month) == chinese.period_short(month) == "2026年11月"


def test_numbers_durations_and_changes():
    english, chinese = Translator("en"), Translator("zh-CN")
    assert english.number(12345.678, 1) == "12,345.7"
    assert english.percent(0.183) == "18%"
    assert english.signed(-1.26, 1) == "▼ -1.3"
    assert english.signed(0.04, 1) == "="
    assert english.duration(31.4) == "31 h"
    assert english.duration(166.6) == "6 d 23 h"
    assert chinese.duration(166.6) == "6 天 23 小时"
    assert chinese.hours(13.78) == "13.8 小时"
    assert chinese.number(None) == "–"


# ---------------------------------------------------------------------------- chart words


def test_chart_labels_come_from_each_languages_catalogue(catalogues):
    for language, catalogue in catalogues.items():
        labels = chart_labels(language)
        assert list(labels) == list(charts.CHART_LABELS)
        assert labels == {key: catalogue[f"chart.{key}"] for key in charts.CHART_LABELS}
    # The English catalogue holds the charts' defaults: a fix in one is a fix in both.
    assert chart_labels("en") == dict(charts.CHART_LABELS)


def test_chinese_chart_labels_hold_no_english_word():
    english = chart_labels("en")
    for key, text in chart_labels("zh-CN").items():
        assert text != english[key], key
        words = set(re.findall(r"[A-Za-z]+", re.sub(r"\{\w+\}", "", text)))
        assert words <= {"CSAT"}, f"chart.{key}: {text}"


_CHART_FUNCTIONS = (
    "sentiment_trend_png",
    "sentiment_line_png",
    "sentiment_pie_png",
    "rating_distribution_png",
    "problem_bars_png",
    "competitor_bars_png",
    "word_cloud_png",
)


@pytest.fixture(scope="module")
def demo_warehouse(tmp_path_factory):
    from repwatch.config import load_config
    from repwatch.demo_data import generate
    from repwatch.pipeline import transform_days
    from tests.conftest import write_config

    folder = tmp_path_factory.mktemp("chart-words")
    config = load_config(write_config(folder, paths={"data_dir": str(folder / "data")}))
    last_day = date(2026, 11, 30)
    generate(config, items=3000, days=62, last_day=last_day, seed=7)
    transform_days(config, last_day - timedelta(days=61), last_day)
    return config


@pytest.fixture
def chart_calls(monkeypatch) -> list[tuple[str, object]]:
    """(chart function, its `labels`) of every chart drawn, none answered from the cache."""
    calls: list[tuple[str, object]] = []
    for name in _CHART_FUNCTIONS:
        original = getattr(charts, name)

        def spy(*args, _original=original, **kwargs):
            calls.append((_original.__name__, kwargs.get("labels")))
            return _original(*args, **kwargs)

        spy.__name__ = name
        monkeypatch.setattr(charts, name, spy)
        if hasattr(report_module, name):  # imported by name
            monkeypatch.setattr(report_module, name, spy)
    monkeypatch.setattr(rendering, "_CHART_CACHE", OrderedDict())
    return calls


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_chart_of_a_report_gets_its_languages_words(demo_warehouse, chart_calls, language):
    from repwatch.warehouse import connect

    config = demo_warehouse
    periods = [parse_period("monthly", "2026-11"), parse_period("daily", "2026-11-30")]
    for period in periods:
        with connect(config, read_only=True) as con:
            context = build_context(con, config, period)
        render_report(config, period, context, language=language, department="marketing")
    assert {name for name, _labels in chart_calls} == set(_CHART_FUNCTIONS)
    expected = chart_labels(language)
    for name, labels in chart_calls:
        assert labels == expected, f"{name} drew other words than the {language} catalogue's"
