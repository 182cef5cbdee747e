"""What spiders yield besides review records (plain dicts with `repwatch.records.RECORD_FIELDS`)."""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field

MAX_REJECT_BODY_BYTES = 1_000_000


@dataclass
class PageReject:
    """A page that could not be used: kept with the reason, never silently dropped."""

    url: str
    status: int | None
    error: str
    body: str = field(repr=False)
    # The exact bytes, when they are not UTF-8 (a GBK page): `body` is only readable text then,
    # and a replay after a parser fix needs what the site sent.
    body_base64: str | None = field(default=None, repr=False)

    @classmethod
    def from_body(cls, url: str, status: int | None, error: str, body: bytes) -> PageReject:
        kept = body[:MAX_REJECT_BODY_BYTES]
        try:
            return cls(url=url, status=status, error=error, body=kept.decode("utf-8"))
        except UnicodeDecodeError:
            text = kept.decode("utf-8", errors="replace")
            exact = base64.b64encode(kept).decode("ascii")
            return cls(url=url, status=status, error=error, body=text, body_base64=exact)

    def as_dict(self) -> dict:
        return asdict(self)
