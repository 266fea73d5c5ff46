"""When to try a webhook again, and what an HTTP answer means for it."""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime
from enum import Enum

# Svix/Recall.ai schedule: the delay before attempt 1, 2, ... (8 attempts over about 27 hours).
DEFAULT_SCHEDULE_S: tuple[float, ...] = (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
MAX_RETRY_AFTER_S = 24 * 3600  # a receiver cannot park a message for longer than this

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


class Outcome(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    PERMANENT_FAILURE = "permanent_failure"


def parse_duration(text: str) -> float:
    """ "90" / "90s" / "5m" / "2h" / "1d" / "250ms" -> seconds. Raises ValueError otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (examples: 0, 5s, 5m, 2h, 90d)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def parse_schedule(text: str) -> tuple[float, ...]:
    """ "0,5s,5m,30m,2h,5h,10h,10h" -> delays in seconds; the first is the delay before attempt 1."""
    delays = tuple(parse_duration(part) for part in text.split(",") if part.strip())
    if not delays:
        raise ValueError("a retry schedule needs at least one delay")
    return delays


def classify(status_code: int) -> Outcome:
    """2xx delivered; 408/429 and 5xx retried; any other answer is the receiver refusing for good."""
    if 200 <= status_code < 300:
        return Outcome.DELIVERED
    if status_code in (408, 429) or status_code >= 500:
        return Outcome.RETRY
    return Outcome.PERMANENT_FAILURE


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After (delta-seconds or HTTP-date) -> seconds from `now`, capped; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def next_delay(schedule: tuple[float, ...], attempts_made: int, retry_after_s: float | None) -> float | None:
    """Seconds until the next attempt after `attempts_made` attempts, or None when the schedule is spent.

    Retry-After only ever postpones: a receiver asking for 1 s does not jump the schedule.
    """
    if attempts_made >= len(schedule):
        return None
    delay = schedule[attempts_made]
    return delay if retry_after_s is None else max(delay, retry_after_s)
