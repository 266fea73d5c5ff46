"""Streaming 8 kHz -> 16 kHz upsampling of phone audio, one 20 ms frame at a time.

Resampling each 160-sample frame on its own would put a filter edge (a click) every 20 ms. This keeps
the last few input samples between calls, so a run of frames is resampled exactly as if it were one
signal, with the same windowed-sinc kernel that training and `load_audio` use
(`emotion_models.voice.audio`), and a delay of only 7 input samples (< 1 ms).
"""

from __future__ import annotations

import numpy as np

from emotion_models.voice.audio import _sinc_kernel

PHONE_RATE = 8000
PIPELINE_RATE = 16000


class Upsampler:
    """8 kHz int16 in, 16 kHz int16 out; `flush()` ends a run (end of stream or a timeline gap)."""

    def __init__(self) -> None:
        # The same polyphase kernels `resample(wave, 8000, 16000)` builds (cached there).
        self._kernels = _sinc_kernel(1, PIPELINE_RATE // PHONE_RATE)
        self._width = (self._kernels.shape[1] - 1) // 2
        self._reset()

    def _reset(self) -> None:
        self._buffer = np.zeros(self._width, dtype=np.float32)  # left zero padding, as resample() pads
        self._inputs = 0
        self._outputs = 0  # output frames (of 2 samples) produced in this run

    def push(self, pcm: np.ndarray) -> np.ndarray:
        """Feed int16 samples; returns the 16 kHz samples that are complete so far."""
        if len(pcm) == 0:
            return np.zeros(0, dtype=np.int16)
        self._buffer = np.concatenate([self._buffer, pcm.astype(np.float32) / 32768.0])
        self._inputs += len(pcm)
        return self._emit(limit=None)

    def flush(self) -> np.ndarray:
        """The rest of the run (right zero padding, as resample() pads); the next push starts a new run."""
        if self._inputs == 0:
            self._reset()
            return np.zeros(0, dtype=np.int16)
        self._buffer = np.concatenate([self._buffer, np.zeros(self._width + 1, dtype=np.float32)])
        out = self._emit(limit=self._inputs)
        self._reset()
        return out

    def _emit(self, limit: int | None) -> np.ndarray:
        length = self._kernels.shape[1]
        frames = len(self._buffer) - length + 1
        if limit is not None:
            frames = min(frames, limit - self._outputs)
        if frames <= 0:
            return np.zeros(0, dtype=np.int16)
        windows = np.lib.stride_tricks.sliding_window_view(self._buffer, length)[:frames]
        out = (windows @ self._kernels.T).reshape(-1)
        self._buffer = self._buffer[frames:]
        self._outputs += frames
        return np.clip(np.round(out * 32768.0), -32768, 32767).astype(np.int16)
