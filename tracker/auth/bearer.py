"""Bearer authentication with personal API tokens, shared by the API and /healthz, and the
per-address limit on its failures.

The API's own rate limit counts calls per token, so every wrong token had an allowance of its
own: 310 wrong tokens from one address in 25 s never met a 429. Failures are therefore also
counted per client address (API_AUTH_FAIL_LIMIT); good tokens from that address are unaffected.
"""

from __future__ import annotations

import logging
import time
from functools import cache

from flask import current_app, request
from limits import RateLimitItem, parse
from werkzeug.exceptions import TooManyRequests

from tracker.extensions import limiter

log = logging.getLogger(__name__)

FAILURES = "api-auth-fail"


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    return (raw.strip() or None) if scheme.lower() == "bearer" else None


@cache
def _fallback():
    from limits.storage import MemoryStorage
    from limits.strategies import FixedWindowRateLimiter

    return FixedWindowRateLimiter(MemoryStorage())


@cache
def _limit(text: str) -> RateLimitItem:
    return parse(text)


def failed_authentication() -> None:
    """Count a failed authentication from this client address; past API_AUTH_FAIL_LIMIT raise 429
    (with Retry-After) instead of letting the caller go on guessing."""
    if not limiter.enabled:  # rate limits are off (tests, unless a test turns them on)
        return
    item = _limit(current_app.config.get("API_AUTH_FAIL_LIMIT") or "20/minute")
    address = request.remote_addr or "unknown"
    counter = limiter.limiter
    try:
        allowed = counter.hit(item, FAILURES, address)
    except Exception:  # the shared store is down: count in this process until it is back
        log.warning("rate-limit store unreachable; counting failed authentications in this process")
        counter = _fallback()
        allowed = counter.hit(item, FAILURES, address)
    if allowed:
        return
    reset = counter.get_window_stats(item, FAILURES, address).reset_time
    raise TooManyRequests(retry_after=max(1, int(reset - time.time()) + 1))
