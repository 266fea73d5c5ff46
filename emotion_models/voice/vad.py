"""Streaming voice-activity detection with the Silero VAD model that ships inside livekit-plugins-silero.

The model file comes from the installed wheel (never downloaded) and runs with onnxruntime directly,
fed exactly as the plugin's `onnx_model.py` feeds it: 512-sample windows at 16 kHz, each prefixed by
the previous window's last 64 samples (context), with the recurrent state carried between calls.

`StreamingVAD` turns a stream of 16 kHz mono chunks of any length into utterance segments: speech is
opened when the speech probability reaches `threshold`, and closed after `min_silence_s` below
`threshold - 0.15` (Silero's own hysteresis). Long speech is cut into windows of at most
`max_segment_s` that overlap by `overlap_s`, so the classifier sees bounded, comparable inputs.
"""

from __future__ import annotations

import importlib.resources
import threading
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
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self._reset()

    def _reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._model_input = np.zeros((1, CONTEXT + WINDOW), dtype=np.float32)
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
        self._model_input[0, CONTEXT:] = window
        out, self._state = self._session.run(
            None, {"input": self._model_input, "state": self._state, "sr": self._sr}
        )
        self._model_input[0, :CONTEXT] = self._model_input[0, -CONTEXT:]
        return float(out.item())

    def push(self, chunk: np.ndarray) -> list[SpeechSegment]:
        """Feed int16 or float32 mono 16 kHz samples (any length); returns the segments completed so far."""
        samples = int16_to_float(chunk).reshape(-1)
        self._pending = np.concatenate([self._pending, samples])
        segments: list[SpeechSegment] = []
        n_windows = self._pending.shape[0] // WINDOW
        for i in range(n_windows):
            segments.extend(self._step(self._pending[i * WINDOW : (i + 1) * WINDOW]))
        self._pending = self._pending[n_windows * WINDOW :]
        return segments

    def flush(self) -> list[SpeechSegment]:
        """End of stream: score the tail, close any open utterance, and reset for a new stream."""
        segments: list[SpeechSegment] = []
        tail = self._pending.shape[0]
        if tail:
            window = np.zeros(WINDOW, dtype=np.float32)
            window[:tail] = self._pending
            segments.extend(self._step(window, valid=tail))
        if self._in_speech:
            segments.extend(self._close(self._processed))
        self._reset()
        return segments

    def _step(self, window: np.ndarray, valid: int = WINDOW) -> list[SpeechSegment]:
        prob = self.speech_probability(window)
        start = self._processed
        self._processed += valid
        self._audio = np.concatenate([self._audio, window[:valid]])
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


def segment_wave(wave: np.ndarray, vad: StreamingVAD | None = None) -> list[SpeechSegment]:
    """All speech segments of a whole 16 kHz waveform (one stream)."""
    vad = vad or StreamingVAD()
    return vad.push(wave) + vad.flush()
