"""The livekit SDK's harmless warnings, demoted to DEBUG; every other SDK message is left alone.

- "Attempted to drop unknown FFI handle: N": the Rust side already released a handle (a stream or
  track closed by the room) when Python's garbage collector drops its wrapper (livekit 1.1.21).
- "native video stream queue overflow; dropped N queued frames": our `VideoStream(capacity=1)`
  keeps only the newest frame on purpose (README "Media"); the drop is the design, not a fault.

They come from the SDK's Rust logs, forwarded to the Python logger "livekit" (livekit.rtc.log).
"""

from __future__ import annotations

import logging

SDK_LOGGER = "livekit"
NOISE = (
    "Attempted to drop unknown FFI handle",
    "native video stream queue overflow",
)


class SdkNoiseFilter(logging.Filter):
    """A logger filter: noise becomes a DEBUG record (kept only when DEBUG is on), the rest passes."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self._logger = logger

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING or not any(text in record.getMessage() for text in NOISE):
            return True
        if not self._logger.isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return True


def install_sdk_noise_filter() -> None:
    """Idempotent: one filter on the "livekit" logger of this process."""
    logger = logging.getLogger(SDK_LOGGER)
    if not any(isinstance(f, SdkNoiseFilter) for f in logger.filters):
        logger.addFilter(SdkNoiseFilter(logger))
