"""Which video frames get analysed: a fixed media-time rate with adaptive back-off."""

from __future__ import annotations


class FrameSampler:
    """Takes one frame every `1 / fps` seconds of media time, whatever rate frames arrive at.

    Back-off is multiplicative-increase / gradual-recovery on the sampling interval: each sign of
    falling behind (a dropped frame, or a frame whose result came back later than one interval)
    stretches the interval by `BACKOFF`, down to `min_fps`; a run of `RECOVER_AFTER` results that came
    back within half an interval shrinks it by `RECOVER` towards the target again. This keeps the
    per-participant load matched to what the shared inference engine can do instead of queueing.
    """

    BACKOFF = 1.5
    RECOVER = 0.8
    RECOVER_AFTER = 4

    def __init__(self, fps: float, min_fps: float | None = None, adaptive: bool = True) -> None:
        self.target_interval = 1.0 / fps
        self.max_interval = 1.0 / (min_fps or fps)
        self.adaptive = adaptive
        self.interval = self.target_interval
        self.backoffs = 0
        self._next_due: float | None = None
        self._fast_streak = 0

    @property
    def fps(self) -> float:
        return 1.0 / self.interval

    def offer(self, t: float) -> bool:
        """True when the frame at media time `t` should be analysed."""
        if self._next_due is None:
            self._next_due = t + self.interval
            return True
        early_by = self._next_due - t
        if 1e-6 < early_by <= 2 * self.interval:
            return False
        if -self.interval < early_by <= 1e-6:
            # On schedule: advance by exactly one interval so the average rate is exact (a 30 fps
            # source yields 2.0 fps, not 2.14).
            self._next_due += self.interval
        else:
            # After a gap in the feed, or when media time jumped backwards: restart the grid at t.
            self._next_due = t + self.interval
        return True

    def report_latency(self, latency_s: float) -> None:
        """Feedback from one analysed frame: seconds from arrival to classification result."""
        if not self.adaptive:
            return
        if latency_s > self.interval:
            self.slow_down()
        elif latency_s < self.interval / 2:
            self._fast_streak += 1
            if self._fast_streak >= self.RECOVER_AFTER and self.interval > self.target_interval:
                self.interval = max(self.target_interval, self.interval * self.RECOVER)
                self._fast_streak = 0
        else:
            self._fast_streak = 0

    def slow_down(self) -> None:
        """Sample less often (called on drops and late results)."""
        self._fast_streak = 0
        if not self.adaptive or self.interval >= self.max_interval:
            return
        self.interval = min(self.max_interval, self.interval * self.BACKOFF)
        self.backoffs += 1
