"""Keeps the native libraries' chatter off the user's terminal, and their real warnings on it.

mediapipe's face detector runs on LiteRT (TFLite): creating one prints a screenful of C++ `INFO:`
lines straight to file descriptor 2 (LiteRT's own logger, TFLite's minimal logger), its first
detection adds absl's "Logging before InitGoogle()" banner and a warning that numpy's input memory is
copied once for alignment, and closing it prints more `INFO:` lines. None of these loggers reads an
environment variable (GLOG_minloglevel, TF_CPP_MIN_LOG_LEVEL, GOOGLE_STDERRTHRESHOLD were tried with
mediapipe 1.2.2) and they are not reachable from Python, so `filtered_native_stderr()` points fd 2
at a temporary file while such a call runs, then writes back everything that is not known noise
(real warnings, errors and anything written from Python meanwhile keep their order, a little late).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

# Lines that are never the user's business. Anything else written meanwhile is passed through.
NOISE_PATTERNS = (
    re.compile(r"^INFO: "),  # LiteRT / TFLite info ("Created TensorFlow Lite XNNPACK delegate for CPU.")
    re.compile(r"^I\d{4} "),  # glog/absl-style info lines
    re.compile(r"^WARNING: Logging before InitGoogle\(\) is written to STDERR"),
    # numpy frames are copied once into aligned memory: a performance note, not a fault
    re.compile(r"^W\d{4} .*Input tensor memory is not aligned according to LiteRt"),
)

_lock = threading.Lock()


def is_native_noise(line: str) -> bool:
    return any(pattern.search(line) for pattern in NOISE_PATTERNS)


@contextlib.contextmanager
def filtered_native_stderr() -> Iterator[None]:
    """Run the block with fd 2 captured; afterwards write back the lines that are not noise.

    Serialised process-wide (a nested or concurrent use runs unfiltered rather than waiting).
    If fd 2 cannot be captured (closed, not a file descriptor) the block simply runs.
    """
    if not _lock.acquire(blocking=False):
        yield
        return
    try:
        try:
            sys.stderr.flush()
        except (AttributeError, OSError, ValueError):
            pass
        try:
            saved = os.dup(2)
        except OSError:
            yield
            return
        with tempfile.TemporaryFile() as capture:
            os.dup2(capture.fileno(), 2)
            try:
                yield
            finally:
                try:
                    sys.stderr.flush()
                except (AttributeError, OSError, ValueError):
                    pass
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                _write_back(capture.read())
    finally:
        _lock.release()


def _write_back(data: bytes) -> None:
    kept = [
        line
        for line in data.decode("utf-8", "replace").splitlines(keepends=True)
        if not is_native_noise(line)
    ]
    if kept:
        with contextlib.suppress(OSError):
            os.write(2, "".join(kept).encode("utf-8", "replace"))
