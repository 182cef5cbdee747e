"""What spiders yield besides review records (plain dicts with `repwatch.records.RECORD_FIELDS`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

MAX_REJECT_BODY_BYTES = 1_000_000


@dataclass
class PageReject:
    """A page that could not be used: kept with the reason, never silently dropped."""

    url: str
    status: int | None
    error: str
    body: str = field(repr=False)

    @classmethod
    def from_body(cls, url: str, status: int | None, error: str, body: bytes) -> PageReject:
        text = body[:MAX_REJECT_BODY_BYTES].decode("utf-8", errors="replace")
        return cls(url=url, status=status, error=error, body=text)

    def as_dict(self) -> dict:
        return asdict(self)
