"""E-mail a rendered report to its recipients, at most once each, recorded in a send ledger.

With an SMTP host configured, messages go out over SMTP; without one they are written as
.eml files to the outbox folder. Either way every accepted message is ledgered at once,
so a run that fails half-way resends only to the recipients it had not reached.

A message is refused before anything is sent when its HTML part is over 100 KB (Gmail clips
HTML parts above about 102 KB behind a "View entire message" link) or the whole message is
over 5 MB (a common limit of company mail servers and of what mobile clients download).
Keeping a report under both is the renderer's job; these limits are the guard.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import re
import smtplib
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from pathlib import Path

from repwatch.atomic import write_atomically
from repwatch.config import Config, Recipient, SmtpConfig
from repwatch.report import RenderedReport

log = logging.getLogger(__name__)

LEDGER_DDL = """
create table if not exists send_ledger (
    report varchar,
    period varchar,
    recipient varchar,
    message_id varchar,
    sent_at timestamptz,
    transport varchar,
    primary key (report, period, recipient)
)
"""
_NOT_FILENAME = re.compile(r"[^A-Za-z0-9.@_-]+")
_CID_REFERENCE = re.compile(r"""\bsrc\s*=\s*["']cid:([^"']+)["']""", re.IGNORECASE)
MAX_HTML_BYTES = 100 * 1024
MAX_MESSAGE_BYTES = 5 * 1024 * 1024


class DeliveryError(Exception):
    """A report could not be sent; the message names the report or the server and the cause."""


class MessageTooLarge(DeliveryError):
    """A report's e-mail is over a size limit; nothing of it was sent."""

    def __init__(self, rendered: RenderedReport, *, part: str, size: int, limit: int, why: str):
        self.report = f"{rendered.report}/{rendered.period}"
        self.part = part
        self.size = size
        self.limit = limit
        super().__init__(
            f"report {self.report}: {part} is {size:,} bytes, over the limit of {limit:,} "
            f"bytes ({why}); the report has to be made shorter before it can be sent"
        )


@dataclass(frozen=True)
class DeliveryResult:
    transport: str  # "smtp" or "outbox"
    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already in the ledger


def message_id(report: str, period: str, recipient_email: str) -> str:
    """The same report to the same person always carries the same Message-ID."""
    digest = hashlib.sha256(f"{report}\n{period}\n{recipient_email.lower()}".encode()).hexdigest()
    return f"<{report}.{period}.{digest[:16]}@repwatch>"


def build_message(rendered: RenderedReport, *, recipient: Recipient, sender: str) -> EmailMessage:
    """multipart/alternative: text/plain, then multipart/related of text/html and its PNGs;
    inside multipart/mixed with the report's attachments when it has any.

    Raises MessageTooLarge over the size limits and DeliveryError when the HTML refers to a
    cid: image the report does not carry (it would show as a broken image).
    """
    html_bytes = len(rendered.html.encode("utf-8"))
    if html_bytes > MAX_HTML_BYTES:
        raise MessageTooLarge(
            rendered,
            part="the HTML part",
            size=html_bytes,
            limit=MAX_HTML_BYTES,
            why="Gmail clips HTML parts above about 102 KB",
        )
    missing = sorted(set(_CID_REFERENCE.findall(rendered.html)) - set(rendered.images))
    if missing:
        raise DeliveryError(
            f"report {rendered.report}/{rendered.period}: the HTML shows images the report "
            f"does not carry: {', '.join('cid:' + content_id for content_id in missing)}"
        )
    message = EmailMessage()
    message["From"] = sender
    message["To"] = Address(display_name=recipient.name, addr_spec=recipient.email)
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id(rendered.report, rendered.period, recipient.email)
    message["X-Repwatch-Report"] = f"{rendered.report}/{rendered.period}"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    html_part = message.get_payload()[1]
    for content_id, png in sorted(rendered.images.items()):
        html_part.add_related(
            png,
            maintype="image",
            subtype="png",
            cid=f"<{content_id}>",
            disposition="inline",
            filename=content_id.split("@", 1)[0] + ".png",
        )
    for filename, content in rendered.attachments.items():
        # Not left to the system's mime.types for CSV: some map it to a vendor type.
        content_type = (
            "text/csv"
            if filename.lower().endswith(".csv")
            else mimetypes.guess_type(filename)[0] or "application/octet-stream"
        )
        maintype, subtype = content_type.split("/", 1)
        # Bytes go base64-encoded, so a CSV's byte order mark and CRLF line ends arrive intact.
        message.add_attachment(
            content,
            maintype=maintype,
            subtype=subtype,
            filename=filename,
            params={"charset": "utf-8", "name": filename} if maintype == "text" else {},
        )
    message_bytes = len(message.as_bytes(policy=SMTP_POLICY))
    if message_bytes > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(
            rendered,
            part="the whole message",
            size=message_bytes,
            limit=MAX_MESSAGE_BYTES,
            why="mail servers commonly refuse larger messages",
        )
    return message


def _is_transient(error: OSError) -> bool:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _reason in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return True
    # Otherwise a socket-level failure (refused, reset, timed out) is worth another try.
    return not isinstance(error, smtplib.SMTPException | ssl.SSLCertVerificationError)


def _describe(error: OSError) -> str:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        replies = "; ".join(
            f"{address}: {code} {reason.decode(errors='replace')}"
            for address, (code, reason) in error.recipients.items()
        )
        return f"recipient refused ({replies})"
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        return f"server replied {error.smtp_code} {text}"
    return f"{type(error).__name__}: {error}"


def _smtp_send(smtp: SmtpConfig, message: EmailMessage, envelope_to: str) -> None:
    if smtp.ssl:
        client = smtplib.SMTP_SSL(
            smtp.host, smtp.port, timeout=smtp.timeout_seconds, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds)
    with client:
        if smtp.starttls and not smtp.ssl:
            client.starttls(context=ssl.create_default_context())
        password = smtp.password
        if smtp.username and password:
            client.login(smtp.username, password)
        client.send_message(message, from_addr=smtp.sender, to_addrs=[envelope_to])


def _smtp_send_with_retries(
    smtp: SmtpConfig,
    message: EmailMessage,
    envelope_to: str,
    *,
    attempts: int,
    retry_delay_seconds: float,
) -> None:
    where = f"SMTP server {smtp.host}:{smtp.port}"
    last_error: OSError | None = None
    for attempt in range(1, attempts + 1):
        try:
            _smtp_send(smtp, message, envelope_to)
            return
        except OSError as error:
            if not _is_transient(error):
                raise DeliveryError(
                    f"{where} did not accept the message to {envelope_to}: {_describe(error)}"
                ) from error
            last_error = error
            if attempt < attempts:
                delay = retry_delay_seconds * 2 ** (attempt - 1)
                log.warning(
                    "%s, attempt %d of %d for %s failed (%s); retrying in %.1f s",
                    *(where, attempt, attempts, envelope_to, _describe(error), delay),
                )
                time.sleep(delay)
    raise DeliveryError(
        f"{where}: could not deliver to {envelope_to} after {attempts} attempts; "
        f"last error: {_describe(last_error)}"
    )


def outbox_path(config: Config, rendered: RenderedReport, recipient: Recipient) -> Path:
    name = _NOT_FILENAME.sub("_", f"{rendered.report}-{rendered.period}-{recipient.email.lower()}")
    return config.paths.outbox_dir / f"{name}.eml"


def _ensure_ledger(con) -> None:
    con.execute(LEDGER_DDL)


def _ledgered_recipients(con, report: str, period: str) -> set[str]:
    rows = con.execute(
        "select recipient from send_ledger where report = ? and period = ?", [report, period]
    ).fetchall()
    return {recipient for (recipient,) in rows}


def _record_sent(con, rendered: RenderedReport, recipient: str, sent_id: str, transport: str):
    con.execute(
        """
        insert into send_ledger (report, period, recipient, message_id, sent_at, transport)
        values (?, ?, ?, ?, ?, ?)
        on conflict (report, period, recipient) do update set
            message_id = excluded.message_id,
            sent_at = excluded.sent_at,
            transport = excluded.transport
        """,
        [rendered.report, rendered.period, recipient, sent_id, datetime.now(UTC), transport],
    )


def deliver(
    config: Config,
    rendered: RenderedReport,
    *,
    con,
    recipients: Sequence[Recipient] | None = None,
    resend: bool = False,
    attempts: int = 3,
    retry_delay_seconds: float = 2.0,
) -> DeliveryResult:
    """Send `rendered` to every recipient not yet in the ledger: `recipients`, or by default
    the configured recipients of its report (alerts and data-quality mails pass their own).

    `con` is a writable DuckDB connection to the warehouse holding `send_ledger`.
    Transient SMTP failures are retried `attempts` times with delays doubling from
    `retry_delay_seconds`; then DeliveryError is raised. A message over the size limits raises
    MessageTooLarge before the first recipient is sent to.
    """
    if recipients is None:
        recipients = getattr(config.reports, rendered.report).recipients
    transport = "smtp" if config.smtp.host else "outbox"
    _ensure_ledger(con)
    done = _ledgered_recipients(con, rendered.report, rendered.period)
    result = DeliveryResult(transport=transport)
    for recipient in recipients:
        if (recipient.email in done and not resend) or recipient.email in result.sent:
            result.skipped.append(recipient.email)
            continue
        message = build_message(rendered, recipient=recipient, sender=config.smtp.sender)
        if transport == "smtp":
            _smtp_send_with_retries(
                config.smtp,
                message,
                recipient.email,
                attempts=attempts,
                retry_delay_seconds=retry_delay_seconds,
            )
        else:
            write_atomically(
                outbox_path(config, rendered, recipient), message.as_bytes(policy=SMTP_POLICY)
            )
        _record_sent(con, rendered, recipient.email, message["Message-ID"], transport)
        result.sent.append(recipient.email)
        log.info(
            "sent %s/%s to %s via %s", rendered.report, rendered.period, recipient.email, transport
        )
    return result
