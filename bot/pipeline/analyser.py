"""One participant's analysis: sample frames and audio, classify via the shared engine, smooth, emit.

Producers (a file decoder, a LiveKit track reader) call `push_video` / `push_audio` from the event
loop; both return at once. Two small tasks per participant drain the bounded queues: the video task
sends one sampled frame at a time to the engine (face detection + classification, batched with the
other participants), the audio task sends the waiting audio to the engine's VAD thread (batched
with the other participants' too) and the finished speech segments to the classifier. Results
become Observations (stored) and FusedPoints (stored + listeners).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from bot.pipeline.config import PipelineConfig
from bot.pipeline.observations import face_observation, voice_observation
from bot.pipeline.queues import DropOldestQueue
from bot.pipeline.sampler import FrameSampler
from bot.pipeline.smoother import Smoother
from bot.pipeline.speech import AudioChunk, Speech, SpeechStream
from storage.records import FusedPoint, Observation

if TYPE_CHECKING:
    from bot.pipeline.engine import InferenceEngine
    from emotion_models.face.detector import FaceBox
    from emotion_models.voice.vad import StreamingVAD

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000

State = Literal["idle", "running", "closing", "excluded"]


@dataclass(frozen=True, slots=True)
class _Frame:
    rgb: np.ndarray
    t: float
    captured: float


class ParticipantAnalyser:
    """Per-participant sampler, queues, VAD state and smoother; models are shared via the engine."""

    def __init__(
        self,
        identity: str,
        *,
        engine: InferenceEngine,
        new_vad: Callable[[], StreamingVAD],
        config: PipelineConfig,
        on_observation: Callable[[Observation], None],
        on_fused: Callable[[FusedPoint], None],
    ) -> None:
        self.identity = identity
        self._engine = engine
        self._new_vad = new_vad
        self._config = config
        self._on_observation = on_observation
        self._on_fused = on_fused
        self._sampler = FrameSampler(config.video_fps, config.min_video_fps, config.adaptive)
        self._smoother = Smoother(
            identity,
            face_tau_s=config.face_tau_s,
            voice_tau_s=config.voice_tau_s,
            stale_after_tau=config.stale_after_tau,
        )
        self._frames: DropOldestQueue[_Frame] = DropOldestQueue(config.max_queue)
        self._audio: DropOldestQueue[AudioChunk] = DropOldestQueue(
            config.max_audio_queue_s, weight=lambda chunk: len(chunk.pcm) / SAMPLE_RATE
        )
        self._speech = SpeechStream(new_vad)
        # This participant's running voice statistics (the voice model compares each voice with itself).
        self.voice_speaker = engine.new_voice_speaker()
        self._tasks: list[asyncio.Task[None]] = []
        self._state: State = "idle"
        self._last_warning = -math.inf
        self._latencies: deque[float] = deque(maxlen=2000)
        self.frames_in = 0
        self.frames_sampled = 0
        self.frames_without_face = 0
        self._last_face: FaceBox | None = None  # where to look first in the next frame
        self.faces = 0
        self.audio_in_s = 0.0
        self.speech_s = 0.0
        self.segments = 0
        self.observations = 0
        self.errors = 0

    # -- producer side --------------------------------------------------------------------------

    def push_video(self, rgb: np.ndarray, t: float) -> bool:
        """Offer one RGB frame (HxWx3 uint8, not modified afterwards) at media time t (s since call start).

        Never blocks. False when the frame is not analysed: sampled out, or the participant is closed
        or excluded. When the queue is full the OLDEST waiting frame is dropped (counted) and
        sampling backs off.
        """
        frame = self._accept_frame(rgb, t)
        if frame is None:
            return False
        dropped = self._frames.offer(frame)
        if dropped:
            self._sampler.slow_down()
            self._warn_slow(f"{dropped} frame(s) dropped")
        return True

    async def put_video(self, rgb: np.ndarray, t: float) -> bool:
        """Like push_video, but waits for queue room instead of dropping (recorded files)."""
        frame = self._accept_frame(rgb, t)
        if frame is None:
            return False
        await self._frames.put(frame)
        return True

    def push_audio(self, pcm: np.ndarray, t: float) -> None:
        """Offer 16 kHz mono int16 PCM whose first sample is at media time t. Never blocks; when
        more than `max_audio_queue_s` is waiting, the oldest audio is dropped (counted)."""
        chunk = self._accept_audio(pcm, t)
        if chunk is not None and self._audio.offer(chunk):
            self._warn_slow("audio dropped")

    async def put_audio(self, pcm: np.ndarray, t: float) -> None:
        """Like push_audio, but waits for queue room instead of dropping (recorded files)."""
        chunk = self._accept_audio(pcm, t)
        if chunk is not None:
            await self._audio.put(chunk)

    def _accept_frame(self, rgb: np.ndarray, t: float) -> _Frame | None:
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 RGB frame, got shape {rgb.shape} dtype {rgb.dtype}")
        self.frames_in += 1
        if not self._ensure_running() or not self._sampler.offer(t):
            return None
        self.frames_sampled += 1
        return _Frame(rgb, t, time.monotonic())

    def _accept_audio(self, pcm: np.ndarray, t: float) -> AudioChunk | None:
        pcm = np.asarray(pcm)
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError(f"expected 1-D int16 PCM at 16 kHz, got shape {pcm.shape} dtype {pcm.dtype}")
        self.audio_in_s += len(pcm) / SAMPLE_RATE
        if len(pcm) == 0 or not self._ensure_running():
            return None
        return AudioChunk(pcm, t, time.monotonic())

    def _ensure_running(self) -> bool:
        if self._state == "idle":
            self._frames.reopen()
            self._audio.reopen()
            self._tasks = [
                asyncio.get_running_loop().create_task(loop(), name=f"{name} {self.identity}")
                for name, loop in (("video", self._video_loop), ("audio", self._audio_loop))
            ]
            self._state = "running"
        return self._state == "running"

    # -- lifecycle ------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Finish everything queued (including the speech segment in progress), then stop.

        The analyser can be pushed to again afterwards (a participant who rejoins)."""
        if self._state != "running":
            return
        self._state = "closing"
        await self._drain()
        self._state = "idle"

    async def exclude(self) -> None:
        """Stop for good and discard everything queued or in flight (consent withdrawn)."""
        previous, self._state = self._state, "excluded"
        self._frames.clear()
        self._audio.clear()
        if previous in ("running", "closing"):
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._speech.reset()

    @property
    def excluded(self) -> bool:
        return self._state == "excluded"

    async def _drain(self) -> None:
        self._frames.close()
        self._audio.close()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("analysis task of %s failed: %r", self.identity, result)

    @property
    def stats(self) -> dict[str, Any]:
        latencies = sorted(self._latencies)
        return {
            "frames_in": self.frames_in,
            "frames_sampled": self.frames_sampled,
            "frames_dropped": self._frames.dropped,
            "frames_queued": len(self._frames),
            "frames_without_face": self.frames_without_face,
            "faces": self.faces,
            "video_fps": round(self._sampler.fps, 3),
            "backoffs": self._sampler.backoffs,
            "audio_in_s": round(self.audio_in_s, 3),
            "audio_dropped_s": round(self._audio.dropped_weight, 3),
            "audio_queued_s": round(self._audio.load, 3),
            "speech_s": round(self.speech_s, 3),
            "segments": self.segments,
            "observations": self.observations,
            "errors": self.errors,
            "p95_frame_result_latency_s": round(latencies[int(0.95 * (len(latencies) - 1))], 4)
            if latencies
            else None,
        }

    # -- consumer tasks -------------------------------------------------------------------------

    async def _video_loop(self) -> None:
        while (frame := await self._frames.get()) is not None:
            try:
                results = await self._engine.faces(
                    frame.rgb, all_faces=self._config.all_faces, near=self._last_face
                )
            except Exception as exc:
                self.errors += 1
                log.warning("face analysis of %s at t=%.2f failed: %s", self.identity, frame.t, exc)
                continue
            latency = time.monotonic() - frame.captured
            self._latencies.append(latency)
            backoffs = self._sampler.backoffs
            self._sampler.report_latency(latency)
            if self._sampler.backoffs > backoffs:
                self._warn_slow(f"a frame took {latency:.2f} s to analyse")
            self._last_face = results[0].box if results else None
            if not results:
                self.frames_without_face += 1
                continue
            self.faces += len(results)
            for result in results:
                self._emit(face_observation(self.identity, frame.t, result, frame.captured))

    async def _audio_loop(self) -> None:
        while chunks := await self._audio.get_all():
            try:
                speech = await self._engine.speech(self._speech, chunks)
            except Exception as exc:  # a VAD failure loses this audio, never the participant
                self.errors += 1
                self._speech.reset()
                log.error("voice activity detection for %s failed: %r", self.identity, exc)
                continue
            await self._classify_speech(speech, chunks[-1].captured)
        try:
            speech = await self._engine.speech(self._speech, [], final=True)
        except Exception as exc:
            self.errors += 1
            self._speech.reset()
            log.error("voice activity detection for %s failed: %r", self.identity, exc)
            return
        await self._classify_speech(speech, time.monotonic())

    async def _classify_speech(self, speech: list[Speech], captured: float) -> None:
        if not speech or self._state == "excluded":
            return
        # Submitted together so they share one classifier batch (with other participants' too).
        results = await asyncio.gather(
            *(self._engine.voice(s.samples, self.voice_speaker) for s in speech), return_exceptions=True
        )
        for segment, probs in zip(speech, results, strict=True):
            if isinstance(probs, BaseException):
                self.errors += 1
                log.warning(
                    "voice analysis of %s at t=%.2f failed: %s", self.identity, segment.t_start, probs
                )
                continue
            self.segments += 1
            self.speech_s += segment.t_end - segment.t_start
            self._emit(
                voice_observation(
                    self.identity, segment.t_start, segment.t_end, segment.samples, probs, captured
                )
            )

    def _emit(self, obs: Observation) -> None:
        if self._state == "excluded":
            return
        self.observations += 1
        self._on_observation(obs)
        self._on_fused(self._smoother.update(obs))

    def _warn_slow(self, what: str) -> None:
        now = time.monotonic()
        if now - self._last_warning < self._config.slow_warning_interval_s:
            return
        self._last_warning = now
        log.warning(
            "inference is slower than real time for %s (%s): sampling video at %.2f fps; "
            "%d frames and %.1f s of audio dropped so far",
            self.identity,
            what,
            self._sampler.fps,
            self._frames.dropped,
            self._audio.dropped_weight,
        )
