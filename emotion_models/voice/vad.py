"""Streaming voice-activity detection with the Silero VAD model that ships inside livekit-plugins-silero.

The model file comes from the installed wheel (never downloaded) and runs with onnxruntime directly,
fed exactly as the plugin's `onnx_model.py` feeds it: 512-sample windows at 16 kHz, each prefixed by
the previous window's last 64 samples (context), with the recurrent state carried between calls.

`StreamingVAD` turns a stream of 16 kHz mono chunks of any length into utterance segments: speech is
opened when the speech probability reaches `threshold`, and closed after `min_silence_s` below
`threshold - 0.15` (Silero's own hysteresis). Long speech is cut into windows of at most
`max_segment_s` that overlap by `overlap_s`, so the classifier sees bounded, comparable inputs.

Many streams share one model: `advance(vads)` scores the waiting windows of several streams in ONE
batched model call per 32 ms step (Silero's state has a batch axis; each row is exactly what a
stream alone would get), about half the cost per window of one call per stream, which is what
lets one process follow dozens of phone calls. `push` is `feed` + `advance([self])`.
"""

from __future__ import annotations

import importlib.resources
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from emotion_models.voice.audio import SAMPLE_RATE, int16_to_float
from emotion_models.voice.session import cpu_session

WINDOW = 512  # samples per model call at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window prepended to each call
HYSTERESIS = 0.15  # speech continues until the probability drops below threshold - this
PAD_S = 0.1  # audio kept before the first and after the last speech window (Silero's onsets lag)

_SAMPLE_RATE = np.array(SAMPLE_RATE, dtype=np.int64)  # the model's `sr` input
_session: ort.InferenceSession | None = None
_session_lock = threading.Lock()


def silero_model_path() -> Path:
    """Path of silero_vad.onnx inside the installed livekit-plugins-silero wheel."""
    resource = importlib.resources.files("livekit.plugins.silero.resources") / "silero_vad.onnx"
    path = Path(str(resource))
    if not path.is_file():
        raise FileNotFoundError(f"silero_vad.onnx not found in livekit-plugins-silero ({path})")
    return path


def shared_session() -> ort.InferenceSession:
    """The one Silero InferenceSession of this process (single-threaded: many streams share a core)."""
    global _session
    with _session_lock:
        if _session is None:
            _session = cpu_session(str(silero_model_path()), threads=1)
        return _session


@dataclass(frozen=True)
class SpeechSegment:
    """One utterance window: times in seconds from the stream start, samples float32 mono 16 kHz."""

    start: float
    end: float
    samples: np.ndarray = field(repr=False)

    @property
    def duration(self) -> float:
        return self.end - self.start


class StreamingVAD:
    """Per-stream VAD state over the shared Silero session. Not thread-safe: one stream, one owner."""

    sample_rate: int = SAMPLE_RATE

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        min_silence_s: float = 0.3,
        max_segment_s: float = 4.0,
        overlap_s: float = 1.0,
        min_speech_s: float = 0.25,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        if not 0.0 <= overlap_s < max_segment_s:
            raise ValueError(f"need 0 <= overlap_s < max_segment_s, got {overlap_s} and {max_segment_s}")
        self.threshold = threshold
        self._neg_threshold = max(threshold - HYSTERESIS, 0.01)
        self._min_silence = round(min_silence_s * SAMPLE_RATE)
        self._max_segment = round(max_segment_s * SAMPLE_RATE)
        self._overlap = round(overlap_s * SAMPLE_RATE)
        self._min_speech = round(min_speech_s * SAMPLE_RATE)
        self._pad = round(PAD_S * SAMPLE_RATE)
        self._session = shared_session()
        self._reset()

    def _reset(self) -> None:
        self._state = np.zeros((2, 128), dtype=np.float32)  # Silero's recurrent state, this stream's row
        self._context = np.zeros(CONTEXT, dtype=np.float32)  # last samples of the previous window
        self._pending = np.zeros(0, dtype=np.float32)  # samples waiting for a full window
        self._processed = 0  # samples already scored by the model
        self._audio = np.zeros(0, dtype=np.float32)  # pre-roll while idle, the open window in speech
        self._audio_start = 0  # stream sample index of self._audio[0]
        self._in_speech = False
        self._window_start = 0
        self._last_speech_end = 0
        self._emitted_until: int | None = None  # end of the last window cut from the open utterance

    def speech_probability(self, window: np.ndarray) -> float:
        """Run the model on one 512-sample window, carrying context and state (as the plugin does)."""
        return float(_score(self._session, [self], np.asarray(window, np.float32)[None])[0])

    def feed(self, chunk: np.ndarray) -> None:
        """Queue int16 or float32 mono 16 kHz samples (any length) for the next `advance`."""
        self._pending = np.concatenate([self._pending, int16_to_float(chunk).reshape(-1)])

    @property
    def waiting_windows(self) -> int:
        """Full windows fed but not scored yet."""
        return self._pending.shape[0] // WINDOW

    def push(self, chunk: np.ndarray) -> list[SpeechSegment]:
        """Feed int16 or float32 mono 16 kHz samples (any length); returns the segments completed so far."""
        self.feed(chunk)
        return advance([self])[0]

    def flush(self) -> list[SpeechSegment]:
        """End of stream: score the tail, close any open utterance, and reset for a new stream."""
        segments = advance([self])[0]
        tail = self._pending.shape[0]
        if tail:
            window = np.zeros(WINDOW, dtype=np.float32)
            window[:tail] = self._pending
            self._audio = np.concatenate([self._audio, self._pending])
            segments.extend(self._step(self.speech_probability(window), valid=tail))
        if self._in_speech:
            segments.extend(self._close(self._processed))
        self._reset()
        return segments

    def _take_windows(self) -> np.ndarray:
        """(n, WINDOW) full windows off the pending samples; their audio joins the buffer at once
        (one copy per call, not per window: the open utterance can be seconds long)."""
        n = self.waiting_windows
        taken = self._pending[: n * WINDOW]
        self._pending = self._pending[n * WINDOW :]
        if n:
            self._audio = np.concatenate([self._audio, taken])
        return taken.reshape(n, WINDOW)

    def _step(self, prob: float, valid: int = WINDOW) -> list[SpeechSegment]:
        """Advance the segmenter by one scored window (its audio is already in self._audio)."""
        start = self._processed
        self._processed += valid
        end = self._processed
        if not self._in_speech:
            if prob >= self.threshold:
                self._in_speech = True
                self._window_start = max(start - self._pad, self._audio_start)
                self._last_speech_end = end
                self._emitted_until = None
                self._trim_to(self._window_start)
            else:
                self._trim_to(end - self._pad)
            return []
        if prob >= self.threshold:
            self._last_speech_end = end
        elif prob < self._neg_threshold and end - self._last_speech_end >= self._min_silence:
            return self._close(min(self._last_speech_end + self._pad, end))
        if end - self._window_start >= self._max_segment:
            return [self._cut_window()]
        return []

    def _cut_window(self) -> SpeechSegment:
        """Emit a full-length window of ongoing speech and start the next one `overlap` earlier."""
        stop = self._window_start + self._max_segment
        segment = self._segment(self._window_start, stop)
        self._emitted_until = stop
        self._window_start = stop - self._overlap
        self._trim_to(self._window_start)
        return segment

    def _close(self, stop: int) -> list[SpeechSegment]:
        """Pause (or end of stream): emit the rest of the utterance unless it is a blip or already sent."""
        self._in_speech = False
        if self._emitted_until is None:
            keep = stop - self._window_start >= self._min_speech
        else:
            keep = stop - self._emitted_until >= self._pad  # new speech beyond the last cut window
        segments = [self._segment(self._window_start, stop)] if keep else []
        self._trim_to(self._processed - self._pad)
        return segments

    def _segment(self, start: int, stop: int) -> SpeechSegment:
        samples = self._audio[start - self._audio_start : stop - self._audio_start].copy()
        return SpeechSegment(start / SAMPLE_RATE, stop / SAMPLE_RATE, samples)

    def _trim_to(self, sample_index: int) -> None:
        """Drop buffered audio before sample_index (never needed again)."""
        drop = min(max(sample_index - self._audio_start, 0), self._audio.shape[0])
        if drop:
            self._audio = self._audio[drop:]
            self._audio_start += drop


def _score(session: ort.InferenceSession, vads: Sequence[StreamingVAD], windows: np.ndarray) -> np.ndarray:
    """One model call: row i is `windows[i]` of `vads[i]` (their context and state carried)."""
    model_input = np.empty((len(vads), CONTEXT + WINDOW), dtype=np.float32)
    for i, vad in enumerate(vads):
        model_input[i, :CONTEXT] = vad._context
    model_input[:, CONTEXT:] = windows
    state = np.stack([vad._state for vad in vads], axis=1)
    out, state = session.run(None, {"input": model_input, "state": state, "sr": _SAMPLE_RATE})
    for i, vad in enumerate(vads):
        vad._state = state[:, i]
        vad._context = model_input[i, -CONTEXT:].copy()
    return out.reshape(-1)


def advance(vads: Sequence[StreamingVAD]) -> list[list[SpeechSegment]]:
    """Score every full window the given streams have waiting, batched across streams.

    Step k runs ONE model call over the k-th waiting window of every stream that has one, so the
    cost grows with the longest backlog, not with the number of streams. Returns each stream's
    completed segments, in the order of `vads`. Each stream must appear at most once.
    """
    if len({id(vad) for vad in vads}) != len(vads):
        raise ValueError("a stream appears twice in one advance()")
    windows = [vad._take_windows() for vad in vads]
    segments: list[list[SpeechSegment]] = [[] for _ in vads]
    steps = max((w.shape[0] for w in windows), default=0)
    for k in range(steps):
        rows = [i for i, w in enumerate(windows) if w.shape[0] > k]
        batch = [vads[i] for i in rows]
        probs = _score(batch[0]._session, batch, np.stack([windows[i][k] for i in rows]))
        for i, prob in zip(rows, probs.tolist(), strict=True):
            segments[i].extend(vads[i]._step(prob))
    return segments


def segment_wave(wave: np.ndarray, vad: StreamingVAD | None = None) -> list[SpeechSegment]:
    """All speech segments of a whole 16 kHz waveform (one stream)."""
    vad = vad or StreamingVAD()
    return vad.push(wave) + vad.flush()
