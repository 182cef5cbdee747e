"""Every report (daily, weekly, monthly) × language × department rendered from a generated demo
warehouse (repwatch demo-data, then the real marts and alert evaluation): sections in the
department's order, HTML within Gmail's limit, every cid: image present and every image used,
translations complete, the customer-service action list, escaping, the archive and its index,
and two versions loaded in headless Chromium."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from datetime import date, timedelta
from html import unescape
from html.parser import HTMLParser

import pytest
from PIL import Image

from repwatch.alerts import evaluate_alerts
from repwatch.config import DEPARTMENTS, Recipient, load_config
from repwatch.demo_data import generate
from repwatch.i18n import LANGUAGES, load_catalogue, translator
from repwatch.periods import parse_period
from repwatch.pipeline import transform_days
from repwatch.rendering import HTML_LIMIT_BYTES
from repwatch.report import (
    MAX_LIST_ITEMS,
    SECTION_ORDER,
    Variant,
    archive_path,
    build_context,
    recipients_by_variant,
    render_report,
    render_variants,
    write_archive,
)
from repwatch.warehouse import connect
from tests.conftest import write_config

LAST_DAY = date(2026, 11, 30)
DAYS = 70
ITEMS = 6000
PERIODS = {
    "daily": parse_period("daily", "2026-11-30"),
    "weekly": parse_period("weekly", "2026-W48"),
    "monthly": parse_period("monthly", "2026-11"),
}
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
_H2 = re.compile(r"<h2[^>]*>(.*?)</h2>", re.S)
_IMG = re.compile(r"<img\b[^>]*>")
_ATTRIBUTE = re.compile(r'(\w[\w-]*)="([^"]*)"')


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report-variants")
    config = load_config(write_config(folder, paths={"data_dir": str(folder / "data")}))
    generate(config, items=ITEMS, days=DAYS, last_day=LAST_DAY, seed=5)
    transform_days(config, LAST_DAY - timedelta(days=DAYS - 1), LAST_DAY)
    evaluate_alerts(config, LAST_DAY - timedelta(days=27), LAST_DAY)
    return config


@pytest.fixture(scope="module")
def contexts(config):
    with connect(config, read_only=True) as con:
        return {report: build_context(con, config, period) for report, period in PERIODS.items()}


@pytest.fixture(scope="module")
def rendered(config, contexts):
    return {
        (report, language, department): render_report(
            config, PERIODS[report], contexts[report], language=language, department=department
        )
        for report in PERIODS
        for language in LANGUAGES
        for department in DEPARTMENTS
    }


def section_headings(report: str, language: str, context: dict, config) -> dict[str, str]:
    """Each section's heading as the reader sees it."""
    tr = translator(language)
    if report == "daily":
        return {
            "changes": tr.t("daily.changes_heading"),
            "trend": tr.t("daily.trend_heading", days=context["trend_days"]),
            "sources": tr.t("daily.sources_heading"),
            "problems": tr.t("daily.problems_heading"),
            "new_negative": tr.t("daily.new_negative_heading"),
            "overdue": tr.t("daily.overdue_heading", hours=tr.number(config.metrics.sla_hours)),
            "alerts": tr.t("daily.alerts_heading"),
            "competitors": tr.t("daily.competitors_heading", date=tr.date(context["day"])),
            "coverage": tr.t("coverage.heading"),
        }
    keys = {
        "kpis",
        "satisfaction",
        "trend",
        "sentiment",
        "problems",
        "terms",
        "competitors",
        "response",
        "praise",
        "complaints",
        "events",
    }
    return {
        **{key: tr.t(f"management.{key}_heading") for key in keys},
        "coverage": tr.t("coverage.heading"),
    }


def images_of(html: str) -> list[dict]:
    return [dict(_ATTRIBUTE.findall(tag)) for tag in _IMG.findall(html)]


@pytest.mark.parametrize("report", list(PERIODS))
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("department", DEPARTMENTS)
def test_every_variant_renders_in_its_department_order(
    config, contexts, rendered, report, language, department, record_property
):
    result = rendered[(report, language, department)]
    assert (result.report, result.period) == (report, PERIODS[report].label)
    assert (result.language, result.department, result.brands) == (language, department, ())
    headings = section_headings(report, language, contexts[report], config)
    expected = [headings[section] for section in SECTION_ORDER[report][department]]
    assert [unescape(text) for text in _H2.findall(result.html)] == expected
    # The plain text part carries the same sections in the same order.
    text_headings = [line[3:-3] for line in result.text.splitlines() if line.startswith("== ")]
    assert text_headings == expected
    assert result.text.startswith(result.subject + "\n")

    size = len(result.html.encode("utf-8"))
    record_property("html_bytes", size)
    assert size <= HTML_LIMIT_BYTES
    assert f'<html lang="{language}">' in result.html

    images = images_of(result.html)
    referenced = {image["src"].removeprefix("cid:") for image in images}
    assert all(image["src"].startswith("cid:") for image in images)
    assert referenced == set(result.images), "every cid: has its PNG and every PNG is shown"
    for image in images:
        assert int(image["width"]) == 600 and int(image["height"]) > 0
        assert image["alt"].strip()
    for content_id, png in result.images.items():
        with Image.open(io.BytesIO(png)) as picture:
            width = next(i for i in images if i["src"] == f"cid:{content_id}")["width"]
            assert picture.size[0] == 2 * int(width), "charts at twice their displayed size"
    expected_charts = {"daily": 1, "weekly": 8, "monthly": 8}[report]
    assert len(result.images) == expected_charts

    # Mail-client safety: inlined CSS, table layout, dark mode declared, no scripts.
    body = result.html.split("<body", 1)[1]
    assert "<style" not in body and 'style="' in body
    assert not re.search(r"display:\s*(flex|grid)", result.html)
    assert '<meta name="color-scheme" content="light dark">' in result.html
    assert "<script" not in result.html
    assert "cid:" not in result.archive_html
    assert result.archive_html.count("data:image/png;base64,") == len(images)


def test_subjects_carry_the_key_number(contexts, rendered):
    brand = contexts["weekly"]["brands"][0]
    index = brand["kpis"]["satisfaction_index"]
    share = brand["kpis"]["negative_share"]["value"]
    subject = rendered[("weekly", "en", "management")].subject
    assert subject.startswith(f"Acme Shop weekly 2026-W48: satisfaction {index['value']:.1f} (")
    arrow = "▲" if index["change"] > 0 else "▼"
    assert f"({arrow}{abs(index['change']):.1f})" in subject
    assert subject.endswith(f", {share * 100:.0f}% negative")
    zh = rendered[("monthly", "zh-CN", "management")].subject
    assert zh.startswith("Acme Shop 月报 2026年11月：满意度 ")
    daily = contexts["daily"]["brands"][0]
    customer_service = rendered[("daily", "en", "customer_service")].subject
    assert f"{daily['today']['negative']} negative review" in customer_service
    assert customer_service.endswith(f" · {daily['overdue_total']} overdue")
    assert "overdue" not in rendered[("daily", "en", "management")].subject


def test_daily_lists_overdue_reviews_and_attaches_the_action_list(config, contexts, rendered):
    brand = contexts["daily"]["brands"][0]
    with connect(config, read_only=True) as con:
        overdue_total = con.execute(
            "select count(*) from mart_overdue_reviews where as_of_day = ? and brand = ?",
            [LAST_DAY, brand["name"]],
        ).fetchone()[0]
    assert overdue_total > MAX_LIST_ITEMS, "the generated data has a long overdue list"
    assert brand["overdue_total"] == overdue_total
    assert len(brand["overdue"]) == MAX_LIST_ITEMS
    hours = [item["hours_overdue"] for item in brand["overdue"]]
    assert hours == sorted(hours, reverse=True) and hours[-1] >= 0

    customer_service = rendered[("daily", "en", "customer_service")]
    assert f"The {MAX_LIST_ITEMS} longest waiting of {overdue_total}." in customer_service.html
    (name, payload) = next(iter(customer_service.attachments.items()))
    assert name == "action-list-2026-11-30.csv"
    rows = list(csv.DictReader(io.StringIO(payload.decode("utf-8-sig"))))
    kinds = [row["What to do"] for row in rows]
    assert kinds.count("overdue reply") == overdue_total
    assert kinds.count("new negative") == brand["negative_reviews_total"]
    assert {row["Brand"] for row in rows} == {brand["name"]}
    zh_name = next(iter(rendered[("daily", "zh-CN", "customer_service")].attachments))
    assert zh_name == "待办清单-2026-11-30.csv"
    for department in DEPARTMENTS:
        if department != "customer_service":
            assert rendered[("daily", "en", department)].attachments == {}


def test_alerts_of_the_day_are_listed_source_alerts_folded(config, contexts):
    """A fired alert over all sources hides the same rule's per-source alert (as the alert
    e-mail does); critical ones come first."""
    day = LAST_DAY
    with connect(config) as con:
        columns = [row[0] for row in con.execute("describe mart_alerts").fetchall()]
        template = dict(
            zip(
                columns,
                con.execute(
                    "select * from mart_alerts where day = ? and brand = 'Acme Shop' "
                    "and source = 'all' and rule = 'negative'",
                    [day],
                ).fetchone(),
                strict=True,
            )
        )
        fired = [
            {**template, "severity": "warning", "fired": True, "value": 40.0},
            {**template, "source": "jd", "severity": "warning", "fired": True},
            {
                **template,
                "rule": "problem_surge",
                "subject": "delivery_logistics",
                "severity": "critical",
                "fired": True,
                "value": 12.0,
                "department": "product",
            },
        ]
        con.execute(
            "delete from mart_alerts where day = ? and brand = 'Acme Shop' "
            "and ((source = 'all' and rule in ('negative', 'problem_surge')) or "
            "(source = 'jd' and rule = 'negative'))",
            [day],
        )
        for row in fired:
            con.execute(
                f"insert into mart_alerts ({', '.join(columns)}) "
                f"values ({', '.join('?' * len(columns))})",
                [row[column] for column in columns],
            )
    try:
        with connect(config, read_only=True) as con:
            context = build_context(con, config, PERIODS["daily"])
        alerts = context["brands"][0]["alerts"]
        assert [(a["rule"], a["source"], a["severity"]) for a in alerts][:2] == [
            ("problem_surge", "all", "critical"),
            ("negative", "all", "warning"),
        ]
        assert not any(a["rule"] == "negative" and a["source"] == "jd" for a in alerts)
        html = render_report(config, PERIODS["daily"], context, language="zh-CN").html
        assert "投诉激增 · 物流配送 · 全部来源：12" in unescape(html)
        assert "负责：产品与质量部" in html
    finally:
        evaluate_alerts(config, day, day)


def test_zh_versions_show_no_english_labels(rendered):
    english = load_catalogue("en")
    labels = [
        english[key]
        for key in (
            "daily.changes_heading",
            "daily.new_negative_heading",
            "daily.sources_heading",
            "kpi.avg_rating",
            "kpi.negative_share",
            "management.kpis_heading",
            "management.complaints_heading",
            "management.praise_heading",
            "management.terms_note",
            "mkpi.reputation_score",
            "mkpi.satisfaction_index",
            "coverage.heading",
            "coverage.last_clean",
            "common.footer",
            "common.open_item",
            "dimension.delivery",
            "problem.product_quality",
            "sentiment.negative",
            "department.customer_service",
        )
    ]
    for (_report, language, _department), result in rendered.items():
        if language != "zh-CN":
            continue
        for body in (unescape(result.html), result.text, result.subject):
            for label in labels:
                assert label not in body


class _Markup(HTMLParser):
    """The elements and attributes a browser would build from a page, and its text."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parsed(html: str) -> _Markup:
    markup = _Markup()
    markup.feed(html)
    return markup


def test_hostile_text_is_escaped_in_every_section(config, contexts):
    """Review texts, authors, links, terms, complaint categories and event names come from
    outside: they show as text, never as markup, and a link must be a web address."""
    context = contexts["monthly"]
    brand = context["brands"][0]
    review = {**brand["best_reviews"][0], "text": HOSTILE, "author": HOSTILE, "url": HOSTILE}
    scripted_link = {**brand["best_reviews"][1], "url": "javascript:alert(1)"}
    complaints = brand["complaints"]
    hostile_brand = {
        **brand,
        "best_reviews": [review, scripted_link],
        "terms": {"zh": brand["terms"]["zh"], "en": [{**brand["terms"]["en"][0], "term": HOSTILE}]},
        "complaints": {
            **complaints,
            "by_category": [{**complaints["by_category"][0], "category": HOSTILE}],
        },
    }
    assert context["events"], "the demo config's event falls in the month"
    hostile = {
        **context,
        "brands": [hostile_brand],
        "events": [{**context["events"][0], "name": HOSTILE}],
    }
    for language in LANGUAGES:
        result = render_report(config, PERIODS["monthly"], hostile, language=language)
        for html in (result.html, result.archive_html):
            markup = parsed(html)
            assert [tag for tag, _ in markup.tags if tag == "script"] == []
            assert not any(name.startswith("on") for _, attrs in markup.tags for name in attrs)
            assert all(
                attrs["href"].startswith("https://") for tag, attrs in markup.tags if tag == "a"
            )
            images = [attrs["src"] for tag, attrs in markup.tags if tag == "img"]
            assert len(images) == len(result.images) and "x" not in images
            # Praise, author, category and event name: four times as text.
            assert "".join(markup.text).count(HOSTILE) >= 4
            # The word cloud's alt text names its terms.
            assert any(HOSTILE in attrs.get("alt", "") for _, attrs in markup.tags)
        assert HOSTILE in result.text and "javascript:" not in result.text


def test_lists_shrink_until_the_html_fits_gmail(config, contexts):
    context = contexts["daily"]
    brand = context["brands"][0]
    long_text = "评价内容很长，" * 150  # longer than the context builder keeps: forces cuts
    flood = [{**item, "text": "⚑" + long_text, "title": ""} for item in brand["overdue"]]
    crowded = {
        **context,
        "brands": [
            {
                **brand,
                "overdue": flood * 3,
                "negative_reviews": flood * 3,
                "negative_reviews_total": 500,
                "overdue_total": 500,
            }
        ],
    }
    result = render_report(config, PERIODS["daily"], crowded, language="zh-CN")
    assert len(result.html.encode("utf-8")) <= HTML_LIMIT_BYTES
    shown = result.html.count("⚑")
    assert 0 < shown < 2 * MAX_LIST_ITEMS
    assert "共 500 条，显示等待最久的" in result.html


def test_brand_selection(config, contexts):
    context = contexts["weekly"]
    name = context["brands"][0]["name"]
    selected = render_report(config, PERIODS["weekly"], context, brands=[name])
    assert selected.brands == (name,)
    assert selected.html.count(">Key figures<") == 1
    nobody = render_report(config, PERIODS["weekly"], context, brands=["No such brand"])
    assert nobody.images.keys() == {
        key for key in selected.images if key.startswith("competitors-")
    }


def test_rendering_is_deterministic(config, contexts, rendered):
    again = render_report(
        config, PERIODS["monthly"], contexts["monthly"], language="zh-CN", department="marketing"
    )
    assert again == rendered[("monthly", "zh-CN", "marketing")]


def test_recipients_get_one_variant_each(config, contexts):
    recipients = [
        Recipient(email="a@x.example", department="marketing", language="zh-CN"),
        Recipient(email="b@x.example", department="marketing", language="zh-CN"),
        Recipient(email="c@x.example"),
    ]
    grouped = recipients_by_variant(recipients)
    assert grouped == {
        Variant(): [recipients[2]],
        Variant("zh-CN", "marketing"): recipients[:2],
    }
    variants = render_variants(config, PERIODS["weekly"], contexts["weekly"], recipients)
    assert [(r.variant, [p.email for p in people]) for r, people in variants] == [
        (Variant(), ["c@x.example"]),
        (Variant("zh-CN", "marketing"), ["a@x.example", "b@x.example"]),
    ]


def test_archive_names_and_translated_index(config, rendered):
    reports_dir = config.paths.reports_dir
    default = rendered[("weekly", "en", "management")]
    other = rendered[("weekly", "zh-CN", "marketing")]
    assert archive_path(config, default) == reports_dir / "weekly" / "2026-W48.html"
    assert archive_path(config, other) == reports_dir / "weekly" / "2026-W48.zh-CN.marketing.html"
    for result in (default, other, rendered[("monthly", "en", "management")]):
        path = write_archive(config, result)
        assert path.read_text(encoding="utf-8") == result.archive_html
    index = (reports_dir / "index.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in index
    assert index.index('href="monthly/2026-11.html"') < index.index('href="weekly/2026-W48.html"')
    assert 'href="weekly/2026-W48.zh-CN.marketing.html">中文 · Marketing</a>' in index
    zh_index = (reports_dir / "index.zh-CN.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in zh_index and "周报" in zh_index and "市场部" in zh_index


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Marks each image loaded or not once the page has loaded; --dump-dom prints the result.
_IMAGE_CHECK = """<script>
window.addEventListener("load", () => {
  for (const image of document.images) {
    image.setAttribute("data-loaded", image.complete && image.naturalWidth > 0 ? "yes" : "no");
  }
});
</script>"""


def chromium(tmp_path, *arguments) -> bytes:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        *arguments,
    ]
    return subprocess.run(command, capture_output=True, timeout=120, check=True).stdout


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed")
@pytest.mark.parametrize(
    ("report", "language", "department"),
    [("weekly", "zh-CN", "marketing"), ("monthly", "en", "management")],
)
def test_archive_and_email_show_every_image_in_chromium(
    config, rendered, tmp_path, report, language, department
):
    """The self-contained archive page (data URIs) and the e-mail (cid: parts), each loaded in
    headless Chromium: every image loads, nothing is wider than the page, the screenshot is
    not blank."""
    from repwatch.mail import build_message
    from repwatch.screenshot import DESKTOP_WIDTH, PHONE_WIDTH, inspect_page, screenshot_email

    result = rendered[(report, language, department)]
    path = write_archive(config, result)
    checked = tmp_path / "checked.html"
    checked.write_text(
        path.read_text(encoding="utf-8").replace("</body>", _IMAGE_CHECK + "</body>"),
        encoding="utf-8",
    )
    dom = chromium(
        tmp_path,
        "--window-size=640,4000",
        "--virtual-time-budget=10000",
        "--dump-dom",
        checked.as_uri(),
    ).decode("utf-8")
    loaded = re.findall(r'<img\b[^>]*data-loaded="(yes|no)"', dom)
    assert loaded == ["yes"] * len(result.images)
    for width in (PHONE_WIDTH, DESKTOP_WIDTH):
        # no sideways scrolling, on a phone either
        assert inspect_page(path, width=width).content_width <= width

    screenshot = tmp_path / "archive.png"
    chromium(tmp_path, "--window-size=640,4000", f"--screenshot={screenshot}", path.as_uri())
    message = build_message(
        result, recipient=Recipient(email="reader@x.example"), sender="repwatch@x.example"
    )
    # strict: raises when an image of the e-mail does not load
    email_png = screenshot_email(message, tmp_path / "email.png", width=640)
    for png in (screenshot, email_png):
        with Image.open(png) as picture:
            colours = picture.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is None or len(colours) > 50, "the screenshot is not blank"
