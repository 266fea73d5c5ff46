"""The one inference engine per process: every model call of every participant, batched, off the loop.

Analysers submit jobs (a frame to search for faces, a speech segment to classify, audio for the
VAD) and await the result. Three threads, each taking whatever jobs of its kind are waiting (up to a
limit, waiting briefly for the batch to fill once it has one):
- the face thread runs the detector on each frame, then ONE face-classifier call on the crops of
  all participants; it is the only thread that ever touches the detector (mediapipe graphs are
  per-thread);
- the voice thread runs ONE voice-classifier call on all finished speech segments (the speaker
  normalisers are only touched there, in submission order);
- the VAD thread scores every participant's waiting audio in one batched VAD pass
  (`bot.pipeline.speech.advance_streams`).
Faces and voices used to share one thread: when many participants' 4-s speech windows closed
together, frames waited behind a long voice batch and the cameras backed off. Apart, each kind
keeps its own latency and the two use both cores.

Jobs are plain `concurrent.futures.Future`s, so the engine serves any number of event loops (a test
per loop, the worker's loop) and needs no task of its own. Its queues are bounded by construction:
an analyser has at most one frame and one speech batch in flight; its own bounded queue holds the rest.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import numpy as np

from bot.pipeline.speech import AudioChunk, Speech, SpeechJob, SpeechStream, advance_streams

if TYPE_CHECKING:
    from bot.pipeline.models import Models
    from emotion_models.face.detector import FaceBox
    from emotion_models.voice.speaker_norm import SpeakerNormaliser

log = logging.getLogger(__name__)

MAX_BATCH = 32
MAX_WAIT_S = 0.02
MAX_VAD_BATCH = 512  # participants' audio scored in one VAD pass
# How long the VAD thread lets other participants' audio gather once one has some. Each model
# call scores one 32 ms window of every stream in the batch, so a fuller batch costs far less per
# window; speech segments still close within a second of their end.
VAD_WAIT_S = 0.05


@dataclass(frozen=True)
class FaceResult:
    """One classified face: where it was and the 7 probabilities."""

    box: FaceBox
    probabilities: np.ndarray


@dataclass
class _Job:
    kind: str  # "face" or "voice"
    payload: np.ndarray
    all_faces: bool
    near: FaceBox | None = None  # the participant's previous face: the detector looks there first
    speaker: SpeakerNormaliser | None = None  # the participant's running voice statistics
    future: Future[Any] = field(default_factory=Future)


@dataclass
class _VadJob:
    speech: SpeechJob
    future: Future[list[Speech]] = field(default_factory=Future)


class _Queued(Protocol):
    future: Future[Any]


Q = TypeVar("Q", bound=_Queued)


class _BatchThread(Generic[Q]):
    """A daemon thread started on first use that runs `run(batch)` on the next queued job and
    whatever else arrives within `wait_s` (at most `limit`). Closing fails what is still queued."""

    def __init__(self, name: str, run: Callable[[list[Q]], None], limit: int, wait_s: float) -> None:
        self._name, self._run, self._limit, self._wait_s = name, run, limit, wait_s
        self._jobs: queue.SimpleQueue[Q | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def submit(self, job: Q) -> None:
        """Call under the engine's lock, after checking it is open."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
            self._thread.start()
        self._jobs.put(job)

    def close(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)

    def _serve(self) -> None:
        while (batch := self._take()) is not None:
            if batch:
                self._run(batch)
        while True:  # closed: fail whatever is still queued
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job is not None and job.future.set_running_or_notify_cancel():
                job.future.set_exception(RuntimeError("inference engine closed"))

    def _take(self) -> list[Q] | None:
        first = self._jobs.get()
        if first is None:
            return None
        batch = [first]
        deadline = time.monotonic() + self._wait_s
        while len(batch) < self._limit:
            try:
                job = self._jobs.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if job is None:
                self._jobs.put(None)  # finish this batch, then stop
                break
            batch.append(job)
        return [job for job in batch if job.future.set_running_or_notify_cancel()]


class InferenceEngine:
    """Batches model calls across participants on a face, a voice and a VAD thread (module docstring)."""

    def __init__(self, models: Models, *, max_batch: int = MAX_BATCH, max_wait_s: float = MAX_WAIT_S) -> None:
        if max_batch < 1 or max_wait_s < 0:
            raise ValueError("max_batch must be >= 1 and max_wait_s >= 0")
        self.models = models
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._face_thread = _BatchThread("emotion-faces", self._run_batch, max_batch, max_wait_s)
        self._voice_thread = _BatchThread("emotion-voice", self._run_batch, max_batch, max_wait_s)
        self._vad_thread = _BatchThread("emotion-vad", self._run_vad_batch, MAX_VAD_BATCH, VAD_WAIT_S)
        self._lock = threading.Lock()
        self._counters = threading.Lock()  # the face and voice threads both count batches
        self._closed = False
        self.batches = 0
        self.face_frames = 0
        self.face_crops = 0
        self.voice_segments = 0
        self.largest_batch = 0
        self.busy_s = 0.0
        self.errors = 0
        self.vad_batches = 0
        self.vad_jobs = 0
        self.largest_vad_batch = 0
        self.vad_busy_s = 0.0

    # -- async API for analysers ----------------------------------------------------------------

    async def faces(
        self, rgb: np.ndarray, *, all_faces: bool = False, near: FaceBox | None = None
    ) -> list[FaceResult]:
        """Faces in one RGB frame, largest first (only the largest unless all_faces), classified.

        `near` (ignored with all_faces) is the participant's face in their previous frame.
        """
        job = _Job("face", rgb, all_faces, None if all_faces else near)
        self._submit(self._face_thread, job)
        return await asyncio.wrap_future(job.future)

    async def voice(self, wave: np.ndarray, speaker: SpeakerNormaliser | None = None) -> np.ndarray:
        """(7,) probabilities for one 16 kHz float32 speech segment.

        `speaker` is the participant's `new_voice_speaker()` state; it is only touched on the voice
        thread, in submission order, so one participant's segments update it in the order spoken.
        """
        job = _Job("voice", wave, False, speaker=speaker)
        self._submit(self._voice_thread, job)
        return await asyncio.wrap_future(job.future)

    def new_voice_speaker(self) -> SpeakerNormaliser | None:
        """Per-participant voice statistics for a speaker-normalised model (None if it has none)."""
        return self.models.voice_classifier.new_normaliser()

    async def speech(
        self, stream: SpeechStream, chunks: Sequence[AudioChunk], *, final: bool = False
    ) -> list[Speech]:
        """Run a participant's waiting audio through its VAD stream (batched with everyone else's).

        Returns the speech segments it completed; `final` also closes the stream (end of audio).
        One job per stream at a time: the caller awaits each before sending the next.
        """
        job = _VadJob(SpeechJob(stream, chunks, final))
        self._submit(self._vad_thread, job)
        return await asyncio.wrap_future(job.future)

    @property
    def stats(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "face_frames": self.face_frames,
            "face_crops": self.face_crops,
            "voice_segments": self.voice_segments,
            "largest_batch": self.largest_batch,
            "mean_batch": round((self.face_frames + self.voice_segments) / self.batches, 2)
            if self.batches
            else 0,
            "busy_s": round(self.busy_s, 3),
            "errors": self.errors,
            "vad_batches": self.vad_batches,
            "vad_mean_batch": round(self.vad_jobs / self.vad_batches, 2) if self.vad_batches else 0,
            "largest_vad_batch": self.largest_vad_batch,
            "vad_busy_s": round(self.vad_busy_s, 3),
        }

    def close(self) -> None:
        """Stop the face, voice and VAD threads (pending jobs fail); the engine cannot be used afterwards."""
        with self._lock:
            self._closed = True
            for thread in (self._face_thread, self._voice_thread, self._vad_thread):
                thread.close()

    # -- face, voice and VAD threads ------------------------------------------------------------

    def _submit(self, thread: _BatchThread[Q], job: Q) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("inference engine is closed")
            thread.submit(job)

    def _run_batch(self, batch: list[_Job]) -> None:
        """One batch of the face thread or of the voice thread (each holds one kind of job)."""
        started = time.perf_counter()
        face_jobs = [job for job in batch if job.kind == "face"]
        voice_jobs = [job for job in batch if job.kind == "voice"]
        # Counted before any result is delivered, so a caller that saw its result sees its batch too.
        with self._counters:
            self.batches += 1
            self.largest_batch = max(self.largest_batch, len(batch))
            self.face_frames += len(face_jobs)
            self.voice_segments += len(voice_jobs)
        self._run_guarded(face_jobs, self._classify_faces)
        self._run_guarded(voice_jobs, self._classify_voices)
        with self._counters:
            self.busy_s += time.perf_counter() - started

    def _run_guarded(self, jobs: list[_Job], run: Callable[[list[_Job]], None]) -> None:
        if not jobs:
            return
        try:
            run(jobs)
        except Exception as exc:  # a model failure fails these jobs, never the thread
            with self._counters:
                self.errors += 1
            log.exception("model call failed for a batch of %d %s jobs", len(jobs), jobs[0].kind)
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)

    def _classify_faces(self, jobs: list[_Job]) -> None:
        from emotion_models.face.align import align_face

        detector = self.models.face_detector
        classifier = self.models.face_classifier
        boxes_per_job: list[list[FaceBox]] = []
        crops: list[np.ndarray] = []
        for job in jobs:
            try:
                boxes = detector.detect(job.payload, near=job.near)
            except ValueError as exc:  # a malformed frame fails its own job only
                job.future.set_exception(exc)
                boxes_per_job.append([])
                continue
            chosen = boxes if job.all_faces else boxes[:1]
            boxes_per_job.append(chosen)
            crops.extend(align_face(job.payload, box, size=classifier.input_size) for box in chosen)
        probabilities = classifier.predict_batch(crops) if crops else np.zeros((0, 7), np.float32)
        self.face_crops += len(crops)
        row = 0
        for job, boxes in zip(jobs, boxes_per_job, strict=True):
            if job.future.done():
                continue
            job.future.set_result([FaceResult(box, probabilities[row + i]) for i, box in enumerate(boxes)])
            row += len(boxes)

    def _classify_voices(self, jobs: list[_Job]) -> None:
        probabilities = self.models.voice_classifier.predict_batch(
            [job.payload for job in jobs], [job.speaker for job in jobs]
        )
        for job, probs in zip(jobs, probabilities, strict=True):
            job.future.set_result(probs)

    def _run_vad_batch(self, batch: list[_VadJob]) -> None:
        """The VAD thread: every participant's waiting audio (gathered for up to VAD_WAIT_S) in one
        batched pass (advance_streams never raises: failures come back per job)."""
        started = time.perf_counter()
        self.vad_batches += 1
        self.vad_jobs += len(batch)
        self.largest_vad_batch = max(self.largest_vad_batch, len(batch))
        results = advance_streams([job.speech for job in batch])
        self.vad_busy_s += time.perf_counter() - started
        for job, result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)
