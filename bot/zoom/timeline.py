"""Media time of a Zoom stream: seconds since the stream started, from Zoom's own timestamps.

Zoom stamps every packet in milliseconds since the epoch. The origin is the `rtms_started` webhook's
`event_ts` when it is plausible (not after the first packet, at most `MAX_LEAD_S` before it), else
the first packet's timestamp. A packet without a usable timestamp, or one implausibly far from the
origin, is placed by our own clock instead (counted). Audio of one speaker is kept contiguous across
Zoom's small timestamp jitter, so the voice detector sees one stream, not thousands of 20 ms pieces.
"""

from __future__ import annotations

import time
from collections import Counter

MAX_LEAD_S = 120.0
MAX_SKEW_S = 24 * 3600.0
CONTIGUOUS_S = 0.25  # a packet this close to where the previous one ended continues it


class StreamClock:
    def __init__(self, webhook_ts_ms: float | None, counters: Counter[str]) -> None:
        self._webhook_ts_ms = webhook_ts_ms
        self._origin_ms: float | None = None
        self._started = time.monotonic()
        self._counters = counters
        self._audio_end: dict[str, float] = {}

    def t(self, timestamp_ms: float | None) -> float:
        """Seconds since the stream's start for a packet stamped `timestamp_ms` (never negative)."""
        if timestamp_ms is not None and self._origin_ms is None:
            hook = self._webhook_ts_ms
            plausible = hook is not None and 0 <= (timestamp_ms - hook) / 1000.0 <= MAX_LEAD_S
            self._origin_ms = hook if plausible and hook is not None else timestamp_ms
            self._started = time.monotonic() - (timestamp_ms - self._origin_ms) / 1000.0
        if timestamp_ms is None or self._origin_ms is None:
            self._counters["no_timestamp"] += 1
            return self.now()
        t = (timestamp_ms - self._origin_ms) / 1000.0
        if not -MAX_LEAD_S <= t <= MAX_SKEW_S:
            self._counters["implausible_timestamp"] += 1
            return self.now()
        return max(t, 0.0)

    def now(self) -> float:
        """Our own clock, in the same time base."""
        return time.monotonic() - self._started

    def audio_t(self, user_id: str, timestamp_ms: float | None, duration_s: float) -> float:
        t = self.t(timestamp_ms)
        end = self._audio_end.get(user_id)
        if end is not None and abs(t - end) <= CONTIGUOUS_S:
            t = end
        self._audio_end[user_id] = t + duration_s
        return t
