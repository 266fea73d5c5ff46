"""One participant's audio on the media timeline, turned into timed speech segments by the VAD.

`SpeechStream` owns the participant's `StreamingVAD` and where it started on the call's timeline.
Audio that does not continue where the stream should be (a mute, dropped chunks, a reconnect)
closes the stream and starts a new one, so segment times stay right after the gap.

`advance_streams` is what the engine's VAD thread runs: it feeds the waiting audio of many
participants and scores it in one batched pass over all their VADs (emotion_models.voice.vad.advance).
Only that thread touches a stream's VAD; each participant has at most one job in flight.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from emotion_models.voice.vad import SpeechSegment, StreamingVAD

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
# Audio whose timestamp is further than this from where the stream should be starts a new VAD stream.
AUDIO_GAP_TOLERANCE_S = 0.5


@dataclass(frozen=True, slots=True)
class Speech:
    """A speech segment on the call's timeline (seconds since call start), float32 16 kHz samples."""

    t_start: float
    t_end: float
    samples: np.ndarray


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """16 kHz mono int16 PCM whose first sample is at media time t (`captured`: monotonic arrival)."""

    pcm: np.ndarray
    t: float
    captured: float = 0.0


class SpeechStream:
    """Per-participant VAD stream with its timeline origin (see module docstring). Not thread-safe."""

    def __init__(self, new_vad: Callable[[], StreamingVAD]) -> None:
        self._new_vad = new_vad
        self._vad: StreamingVAD | None = None
        self._origin_t = 0.0
        self._samples = 0

    def feed(self, chunks: Sequence[AudioChunk]) -> list[Speech]:
        """Queue chunks for the next batched scoring; returns what a gap closed before them."""
        speech: list[Speech] = []
        for chunk in chunks:
            expected_t = self._origin_t + self._samples / SAMPLE_RATE
            if self._vad is None or abs(chunk.t - expected_t) > AUDIO_GAP_TOLERANCE_S:
                speech.extend(self.flush())
                self._vad = self._new_vad()
                self._origin_t = chunk.t
                self._samples = 0
            self._vad.feed(chunk.pcm)
            self._samples += len(chunk.pcm)
        return speech

    @property
    def vad(self) -> StreamingVAD | None:
        return self._vad

    def timed(self, segments: Sequence[SpeechSegment]) -> list[Speech]:
        """Stream-relative VAD segments placed on the call's timeline."""
        origin = self._origin_t
        return [Speech(origin + seg.start, origin + seg.end, seg.samples) for seg in segments]

    def flush(self) -> list[Speech]:
        """End of this stream: score what is left, close the open utterance, forget the VAD."""
        if self._vad is None:
            return []
        speech = self.timed(self._vad.flush())
        self._vad = None
        return speech

    def reset(self) -> None:
        """Drop the VAD state (after a failure, or when the participant is excluded)."""
        self._vad = None


@dataclass
class SpeechJob:
    """One participant's waiting audio for the VAD thread (`final`: then close the stream)."""

    stream: SpeechStream
    chunks: Sequence[AudioChunk]
    final: bool = False


def advance_streams(jobs: Sequence[SpeechJob]) -> list[list[Speech] | Exception]:
    """Feed, score (one batched pass over every job's VAD) and segment; one result per job.

    A job whose audio cannot be fed fails alone; a model failure fails every job of the batch.
    """
    from emotion_models.voice.vad import advance  # onnxruntime: imported where it runs

    results: list[list[Speech] | Exception] = []
    fed: list[tuple[int, StreamingVAD]] = []
    for i, job in enumerate(jobs):
        try:
            results.append(job.stream.feed(job.chunks))
        except Exception as exc:  # malformed audio fails its own participant's job only
            results.append(exc)
            continue
        if (vad := job.stream.vad) is not None:
            fed.append((i, vad))
    try:
        scored = advance([vad for _, vad in fed])
    except Exception as exc:
        log.exception("voice activity detection failed for a batch of %d streams", len(fed))
        return [exc] * len(jobs)
    for (i, _), segments in zip(fed, scored, strict=True):
        speech = results[i]
        assert isinstance(speech, list)
        speech.extend(jobs[i].stream.timed(segments))
    for i, job in enumerate(jobs):
        speech = results[i]
        if job.final and isinstance(speech, list):
            try:
                speech.extend(job.stream.flush())
            except Exception as exc:
                results[i] = exc
    return results
