"""Place one track's 20 ms mu-law frames on the call's timeline by each message's `timestamp`.

Twilio stamps every media message with the milliseconds since the stream started. Frames that follow
on from the previous one (up to `tolerance_ms` later: rounding of the stamps) are treated as one continuous
signal, timed by the sample count so the clock does not wander; a frame that starts later than that
is a gap (Twilio sent nothing, e.g. a hold): the run before it is flushed and a new one starts at the
frame's own timestamp, so the gap stays a gap in the analysed timeline (the analyser starts a new VAD
stream after it). A frame that starts before the end of what was already placed (a duplicate, or one
out of order) is dropped and counted: audio is never placed twice.

Audio is decoded, resampled and handed to the pipeline in blocks of `block_s` (100 ms, as a LiveKit
audio stream delivers it), not per 20 ms message: 40 two-track calls are 4000 messages a second, and
numpy's per-call overhead would otherwise dominate the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.twilio import mulaw
from bot.twilio.resample import PHONE_RATE, PIPELINE_RATE, Upsampler


@dataclass(frozen=True, slots=True)
class Block:
    pcm: np.ndarray  # int16, 16 kHz mono
    t: float  # media time of the first sample, seconds since the stream started


@dataclass(slots=True)
class TrackStats:
    frames: int = 0
    audio_s: float = 0.0
    gaps: int = 0
    gap_s: float = 0.0
    late_frames: int = 0  # dropped: started before the end of audio already placed


class TrackTimeline:
    def __init__(self, *, tolerance_ms: float = 40.0, late_ms: float = 10.0, block_s: float = 0.1) -> None:
        self.stats = TrackStats()
        self._tolerance_ms = tolerance_ms
        # Twilio's timestamps come from the media clock, not arrival time: a frame stamped half a
        # frame before the end of what was placed is a repeat, not jitter.
        self._late_ms = late_ms
        self._block = int(block_s * PIPELINE_RATE)
        self._block_in = int(block_s * PHONE_RATE)
        self._raw = bytearray()  # mu-law bytes placed but not yet decoded
        self._upsampler = Upsampler()
        self._run_start_ms: float | None = None  # timestamp of the current run's first sample
        self._run_inputs = 0  # 8 kHz samples placed in the current run
        self._pending: list[np.ndarray] = []
        self._pending_len = 0
        self._emitted = 0  # 16 kHz samples of the current run already handed out

    def push(self, payload: bytes, timestamp_ms: float) -> list[Block]:
        """Place one media message's mu-law payload; returns the blocks now ready for the pipeline."""
        if not payload:
            return []
        blocks: list[Block] = []
        if self._run_start_ms is not None:
            expected = self._run_start_ms + self._run_inputs * 1000.0 / PHONE_RATE
            drift = timestamp_ms - expected
            if drift < -self._late_ms:
                self.stats.late_frames += 1
                return []
            if drift > self._tolerance_ms:
                self.stats.gaps += 1
                self.stats.gap_s += drift / 1000.0
                blocks = self.flush()
        if self._run_start_ms is None:
            self._run_start_ms = float(timestamp_ms)
        self._run_inputs += len(payload)
        self.stats.frames += 1
        self.stats.audio_s += len(payload) / PHONE_RATE
        self._raw.extend(payload)
        if len(self._raw) >= self._block_in:
            self._decode()
            blocks.extend(self._take(final=False))
        return blocks

    def _decode(self) -> None:
        if self._raw:
            self._add(self._upsampler.push(mulaw.decode(bytes(self._raw))))
            self._raw.clear()

    def flush(self) -> list[Block]:
        """End the current run (a gap, the end of the stream): everything placed so far."""
        if self._run_start_ms is None:
            return []
        self._decode()
        self._add(self._upsampler.flush())
        blocks = self._take(final=True)
        self._run_start_ms = None
        self._run_inputs = 0
        self._emitted = 0
        return blocks

    def _add(self, pcm: np.ndarray) -> None:
        if len(pcm):
            self._pending.append(pcm)
            self._pending_len += len(pcm)

    def _take(self, *, final: bool) -> list[Block]:
        if not self._pending_len or (not final and self._pending_len < self._block):
            return []
        joined = np.concatenate(self._pending)
        cut = len(joined) if final else len(joined) - len(joined) % self._block
        assert self._run_start_ms is not None
        start_t = self._run_start_ms / 1000.0 + self._emitted / PIPELINE_RATE
        blocks = [
            Block(joined[i : min(i + self._block, cut)], start_t + i / PIPELINE_RATE)
            for i in range(0, cut, self._block)
        ]
        self._emitted += cut
        rest = joined[cut:]
        self._pending = [rest] if len(rest) else []
        self._pending_len = len(rest)
        return blocks
