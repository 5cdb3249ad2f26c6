"""Exponential backoff with jitter that never waits less than the server's Retry-After."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

# A Retry-After beyond this is treated as this: a misconfigured proxy must not park a training job for a day.
MAX_RETRY_AFTER = 300.0


@dataclass(frozen=True)
class Backoff:
    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        # "Equal jitter": half the exponential step is fixed, half random, so clients that failed together
        # spread out but none retries immediately.
        step = min(self.cap, self.base * 2.0 ** min(attempt, 30))
        wait = step / 2 + random.uniform(0, step / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, MAX_RETRY_AFTER))
        return wait


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
