"""Screenshots of sent report e-mails in headless Chromium, to see them as a reader does.

The page shown is the message's HTML part with each `cid:` image written beside it as a file,
in an iframe of the reader's width (headless Chromium has no window narrower than 500 px).
The iframe is sandboxed and a Content-Security-Policy applies, so the browser behaves like a
mail client: none of the message's scripts or event handlers run and nothing is fetched from
the network, so an image that is not carried in the message shows as broken here too.

Images are checked twice: every <img src> must name a PNG part of the message (static), and
every image must have loaded in the browser (a check script reports each image's state).
Needs Debian's `chromium` (and `fonts-noto-cjk` for Chinese text); `make system-deps`.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image

PHONE_WIDTH = 390  # CSS pixels of a current iPhone in portrait
DESKTOP_WIDTH = 800  # a mail client's reading pane
# A report longer than this is cut in the screenshot (Chromium's own limit is 16384 px).
MAX_PAGE_HEIGHT = 16000
CHROMIUM_TIMEOUT_SECONDS = 120
# The page is measured in a short window: the document is never shorter than the window.
_PROBE_HEIGHT = 100
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_CID_SRC = re.compile(r"""(\bsrc\s*=\s*)(["'])cid:(.*?)\2""", re.IGNORECASE | re.DOTALL)
_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)
_CHROMIUM_FLAGS = (
    "--headless",
    "--disable-gpu",
    "--hide-scrollbars",
    "--mute-audio",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    # Containers often have a tiny /dev/shm.
    "--disable-dev-shm-usage",
    "--force-device-scale-factor=1",
)


class ScreenshotError(Exception):
    """Chromium is missing or failed, or the message has no HTML to show."""


class BrokenImagesError(ScreenshotError):
    """Images of a message would not show; the screenshots were written all the same."""

    def __init__(self, broken: dict[str, list[str]], screenshots: list[Path]):
        self.broken = broken  # message or screenshot -> sources of its broken images
        self.screenshots = screenshots
        lines = "; ".join(f"{where}: {', '.join(sources)}" for where, sources in broken.items())
        super().__init__(f"broken images in {len(broken)} e-mail(s): {lines}")


def find_chromium() -> str | None:
    """Debian's `chromium`, or `chromium-browser` where it goes by that name."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def load_message(message: EmailMessage | bytes | os.PathLike[str] | str) -> EmailMessage:
    """A message given as an EmailMessage, the bytes of an .eml file, or its path."""
    if isinstance(message, EmailMessage):
        return message
    content = message if isinstance(message, bytes) else Path(message).read_bytes()
    return BytesParser(policy=default_policy).parsebytes(content)


class _ImageSources(HTMLParser):
    """Collects the src of every <img>, entities decoded, and the attributes of <html>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.images: list[str | None] = []
        self.root: dict[str, str | None] = {}

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs).get("src"))
        elif tag == "html":
            self.root = dict(attrs)

    handle_startendtag = handle_starttag


def _png_parts(message: EmailMessage) -> dict[str, bytes]:
    """Content-ID (without <>) -> bytes of every image/png part that really is a PNG."""
    parts = {}
    for part in message.walk():
        content_id = str(part.get("Content-ID") or "").strip().strip("<>")
        if content_id and part.get_content_type() == "image/png":
            content = part.get_content()
            if content.startswith(PNG_SIGNATURE):
                parts[content_id] = content
    return parts


def _html_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("html",))
    if body is None:
        raise ScreenshotError(f"message {message.get('Message-ID', '')} has no text/html part")
    return body.get_content()


def unresolved_images(message: EmailMessage | bytes | os.PathLike[str] | str) -> list[str]:
    """The src of every <img> in the HTML part that does not name a PNG part of the message
    (remote and data: images count too: most mail clients do not show them)."""
    message = load_message(message)
    parser = _ImageSources()
    parser.feed(_html_of(message))
    pngs = _png_parts(message)
    unresolved = []
    for source in parser.images:
        source = source or ""
        if not (source[:4].lower() == "cid:" and source[4:] in pngs):
            unresolved.append(source or "(no src)")
    return unresolved


def _policy(script_nonce: str | None) -> str:
    scripts = f"'nonce-{script_nonce}'" if script_nonce else "'none'"
    return (
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        f"img-src file:; style-src 'unsafe-inline'; script-src {scripts}\">"
    )


def _with_policy(page: str, script_nonce: str | None = None) -> str:
    policy = _policy(script_nonce)
    if _HEAD.search(page):
        return _HEAD.sub(lambda match: match.group(0) + policy, page, count=1)
    return policy + page


@dataclass(frozen=True)
class ExtractedEmail:
    html_path: Path  # the message's HTML with cid: images pointing at the files beside it
    sources: dict[str, str] = field(default_factory=dict)  # file name -> original src


def extract_email(
    message: EmailMessage | bytes | os.PathLike[str] | str, folder: Path
) -> ExtractedEmail:
    """Write the HTML part to `folder`/email.html and its PNG parts beside it."""
    message = load_message(message)
    folder.mkdir(parents=True, exist_ok=True)
    file_names = {}
    for number, (content_id, png) in enumerate(sorted(_png_parts(message).items()), start=1):
        # Content-IDs come from the message: never use them as file names.
        file_names[content_id] = f"image-{number}.png"
        (folder / file_names[content_id]).write_bytes(png)

    def local_source(match: re.Match) -> str:
        content_id = html.unescape(match.group(3))
        if content_id not in file_names:
            return match.group(0)  # left as it is: shows (and is reported) as broken
        return f"{match.group(1)}{match.group(2)}{file_names[content_id]}{match.group(2)}"

    page = _with_policy(_CID_SRC.sub(local_source, _html_of(message)))
    html_path = folder / "email.html"
    html_path.write_text(page, encoding="utf-8")
    sources = {name: f"cid:{content_id}" for content_id, name in file_names.items()}
    return ExtractedEmail(html_path=html_path, sources=sources)


def _chromium_command(chromium: str | None, profile: Path) -> list[str]:
    binary = chromium or find_chromium()
    if binary is None:
        raise ScreenshotError(
            "Chromium not found: install Debian's chromium and fonts-noto-cjk "
            "(`make system-deps`, or apt-get install chromium fonts-noto-cjk)"
        )
    command = [binary, *_CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    # Chromium's sandbox refuses to start as root (containers, CI).
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--no-sandbox")
    return command


def _run_chromium(command: list[str]) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(
            command, capture_output=True, timeout=CHROMIUM_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise ScreenshotError(
            f"Chromium did not finish within {CHROMIUM_TIMEOUT_SECONDS} s: {' '.join(command)}"
        ) from None
    if result.returncode != 0:
        errors = result.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise ScreenshotError(
            f"Chromium failed (exit {result.returncode}): {' '.join(command)}\n" + "\n".join(errors)
        )
    return result


@dataclass(frozen=True)
class PageCheck:
    """How a page laid out in Chromium at one viewport width."""

    width: int  # of the viewport
    height: int  # of the whole page
    content_width: int  # wider than `width`: the reader has to scroll sideways
    images: int
    broken_images: list[str]  # src of each <img> that did not load


# Headless Chromium makes no window narrower than 500 px (a phone-width window would still lay
# out at 500), so the page is shown in an iframe of the wanted width inside a wider window.
_MIN_WINDOW_WIDTH = 500

# Runs in the frame page once the e-mail has loaded and leaves its findings in the frame
# page's DOM, which --dump-dom prints (it does not print the iframe's document).
_CHECK_SCRIPT = """
window.addEventListener("load", () => {
  const page = document.querySelector("iframe").contentDocument;
  const images = Array.from(page.images, (image) => [
    image.getAttribute("src"),
    image.complete && image.naturalWidth > 0,
  ]);
  const root = document.documentElement;
  root.setAttribute("data-repwatch-images", JSON.stringify(images));
  root.setAttribute("data-repwatch-height", String(page.documentElement.scrollHeight));
  root.setAttribute("data-repwatch-width", String(page.documentElement.scrollWidth));
});
"""


def _frame_page(email_html: str, *, width: int, height: int, script_nonce: str | None) -> str:
    """A page showing `email_html` in a `width` x `height` iframe at its top left corner.

    The iframe is sandboxed without scripts, like a mail client's view; same-origin, so the
    check script of the frame page can look into it.
    """
    script = f'<script nonce="{script_nonce}">{_CHECK_SCRIPT}</script>' if script_nonce else ""
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8">{_policy(script_nonce)}'
        "<style>html, body { margin: 0; padding: 0; background: #ffffff; } "
        f"iframe {{ display: block; border: 0; width: {width}px; height: {height}px; }}</style>"
        f'</head><body><iframe sandbox="allow-same-origin" '
        f'srcdoc="{html.escape(email_html, quote=True)}"></iframe>{script}</body></html>'
    )


def _write_frame_page(html_path: Path, *, width: int, height: int, nonce: str | None) -> Path:
    # Beside the e-mail page: the iframe resolves the relative image paths against it.
    frame_path = html_path.with_name(f".frame-{secrets.token_hex(8)}.html")
    email_html = html_path.read_text(encoding="utf-8")
    frame_path.write_text(
        _frame_page(email_html, width=width, height=height, script_nonce=nonce), encoding="utf-8"
    )
    return frame_path


def inspect_page(
    html_path: Path, *, width: int = DESKTOP_WIDTH, chromium: str | None = None
) -> PageCheck:
    """Load `html_path` in headless Chromium, `width` CSS pixels wide, and report its layout
    and the images that did not load. The page's own scripts never run."""
    html_path = Path(html_path)
    nonce = secrets.token_hex(8)
    frame_path = _write_frame_page(html_path, width=width, height=_PROBE_HEIGHT, nonce=nonce)
    try:
        with tempfile.TemporaryDirectory(prefix="repwatch-check-") as scratch:
            command = _chromium_command(chromium, Path(scratch) / "profile")
            command += [
                f"--window-size={max(width, _MIN_WINDOW_WIDTH)},{_PROBE_HEIGHT}",
                "--virtual-time-budget=10000",
                "--dump-dom",
                frame_path.resolve().as_uri(),
            ]
            dom = _run_chromium(command).stdout.decode("utf-8", errors="replace")
    finally:
        frame_path.unlink(missing_ok=True)
    parser = _ImageSources()
    parser.feed(dom)
    if "data-repwatch-images" not in parser.root:
        raise ScreenshotError(f"{html_path}: the page did not finish loading in Chromium")
    images = json.loads(parser.root["data-repwatch-images"] or "[]")
    return PageCheck(
        width=width,
        height=int(parser.root.get("data-repwatch-height") or 0),
        content_width=int(parser.root.get("data-repwatch-width") or 0),
        images=len(images),
        broken_images=[source or "(no src)" for source, loaded in images if not loaded],
    )


def broken_images(
    html_path: Path, *, width: int = DESKTOP_WIDTH, chromium: str | None = None
) -> list[str]:
    """The src of each image of the page that did not load in Chromium."""
    return inspect_page(html_path, width=width, chromium=chromium).broken_images


def screenshot_email(
    message: EmailMessage | bytes | os.PathLike[str] | str,
    out_png: os.PathLike[str] | str,
    *,
    width: int = DESKTOP_WIDTH,
    chromium: str | None = None,
    strict: bool = True,
) -> Path:
    """Screenshot the whole message, `width` CSS pixels wide, to `out_png`; returns its path.

    With `strict`, raises BrokenImagesError (after writing the screenshot) when an image does
    not name a PNG part of the message or did not load in the browser.
    """
    message = load_message(message)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    unresolved = unresolved_images(message)
    with tempfile.TemporaryDirectory(prefix="repwatch-screenshot-") as scratch:
        extracted = extract_email(message, Path(scratch) / "email")
        page = inspect_page(extracted.html_path, width=width, chromium=chromium)
        height = max(1, min(page.height, MAX_PAGE_HEIGHT))
        frame_path = _write_frame_page(extracted.html_path, width=width, height=height, nonce=None)
        window_png = Path(scratch) / "window.png"
        command = _chromium_command(chromium, Path(scratch) / "profile")
        command += [
            f"--window-size={max(width, _MIN_WINDOW_WIDTH)},{height}",
            f"--screenshot={window_png}",
            frame_path.resolve().as_uri(),
        ]
        _run_chromium(command)
        if not window_png.exists():
            raise ScreenshotError(f"Chromium wrote no screenshot: {' '.join(command)}")
        with Image.open(window_png) as window:
            shot = window.crop((0, 0, width, height)) if window.width > width else window.copy()
        partial = out_png.with_name(out_png.name + ".partial")
        shot.save(partial, format="PNG")
        partial.replace(out_png)
    broken = unresolved + [
        extracted.sources.get(source, source)
        for source in page.broken_images
        if extracted.sources.get(source, source) not in unresolved
    ]
    if strict and broken:
        raise BrokenImagesError({str(out_png): broken}, [out_png])
    return out_png


def screenshot_mailbox(
    mailbox_dir: os.PathLike[str] | str,
    out_dir: os.PathLike[str] | str,
    *,
    widths: Iterable[int] = (PHONE_WIDTH, DESKTOP_WIDTH),
    chromium: str | None = None,
) -> list[Path]:
    """Screenshot every .eml file of a folder (an outbox or the SMTP sink's mailbox) at each
    width, as `out_dir`/<file name>-<width>px.png; returns the screenshots.

    Raises BrokenImagesError at the end, naming every message with broken images; all the
    screenshots are written first.
    """
    out_dir = Path(out_dir)
    screenshots: list[Path] = []
    broken: dict[str, list[str]] = {}
    for eml in sorted(Path(mailbox_dir).glob("*.eml")):
        message = load_message(eml)
        for width in widths:
            out_png = out_dir / f"{eml.stem}-{width}px.png"
            try:
                screenshot_email(message, out_png, width=width, chromium=chromium)
            except BrokenImagesError as error:
                broken[eml.name] = error.broken[str(out_png)]
            screenshots.append(out_png)
    if broken:
        raise BrokenImagesError(broken, screenshots)
    return screenshots
