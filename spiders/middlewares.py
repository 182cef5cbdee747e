"""Downloader middlewares shared by every spider."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Request, Response
from scrapy.settings import BaseSettings

log = logging.getLogger(__name__)


def retry_after_seconds(value: bytes | str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries, but waiting before each one: the server's Retry-After when it sends
    one (capped by RETRY_AFTER_MAX), else exponential backoff from RETRY_BACKOFF_BASE.

    With one request at a time per domain, waiting here also holds back the next request,
    which is the point when a site says it is overloaded."""

    def __init__(self, settings: BaseSettings):
        super().__init__(settings)
        self.backoff_base = settings.getfloat("RETRY_BACKOFF_BASE", 1.0)
        self.backoff_max = settings.getfloat("RETRY_BACKOFF_MAX", 60.0)
        self.retry_after_max = settings.getfloat("RETRY_AFTER_MAX", 300.0)

    def _delay(self, request: Request, response: Response | None) -> float:
        attempt = request.meta.get("retry_times", 0)
        header = response.headers.get(b"Retry-After") if response is not None else None
        server_says = retry_after_seconds(header)
        if server_says is not None:
            return min(server_says, self.retry_after_max)
        return min(self.backoff_base * 2**attempt, self.backoff_max)

    async def process_response(self, request: Request, response: Response, spider=None):
        if request.meta.get("dont_retry") or response.status not in self.retry_http_codes:
            return response
        retry = super().process_response(request, response)
        if isinstance(retry, Request):
            delay = self._delay(request, response)
            log.info("HTTP %s for %s: retrying in %.1f s", response.status, request.url, delay)
            await asyncio.sleep(delay)
        return retry

    async def process_exception(self, request: Request, exception: Exception, spider=None):
        retry = super().process_exception(request, exception)
        if isinstance(retry, Request):
            delay = self._delay(request, None)
            log.info("%s for %s: retrying in %.1f s", type(exception).__name__, request.url, delay)
            await asyncio.sleep(delay)
        return retry
