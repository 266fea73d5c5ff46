"""Throughput, capacity, latency and memory measurements of the pipeline on this machine.

Everything runs the real models on real content: the shipped portrait (a real face) drifting across
640x480 frames and the shipped speech clip, fed through `CallSession` into a real SQLite database
exactly as a live room would feed it (frames at 2 fps, audio in 20 ms chunks, in real time).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.pipeline.config import PipelineConfig
from bot.pipeline.demo_media import face_frame, speech, speech_pcm
from bot.pipeline.models import Models
from bot.pipeline.session import CallSession
from emotion_models.face.align import align_face
from storage.db import Database

SAMPLE_RATE = 16000
AUDIO_CHUNK_S = 0.02  # LiveKit delivers 10-20 ms audio frames
FRAME_POOL = 32  # distinct frames cycled by the feed (pre-rendered: the feed itself must cost ~nothing)


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux /proc; 0 where unavailable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def face_throughput(models: Models, seconds: float = 5.0) -> dict[str, Any]:
    """Single-thread face path (detect + align + classify) on 640x480 frames with one face."""
    frames = [face_frame(t) for t in np.linspace(0, 30, 16)]
    detector, classifier = models.face_detector, models.face_classifier
    detector.detect(frames[0])  # warm-up
    n, detect_s, classify_s = 0, 0.0, 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        frame = frames[n % len(frames)]
        t0 = time.perf_counter()
        boxes = detector.detect(frame)
        crop = align_face(frame, boxes[0], size=classifier.input_size)
        t1 = time.perf_counter()
        classifier.predict_batch([crop])
        detect_s += t1 - t0
        classify_s += time.perf_counter() - t1
        n += 1
    crops = [crop] * 32
    t0 = time.perf_counter()
    classifier.predict_batch(crops)
    batch32_ms = (time.perf_counter() - t0) * 1000
    return {
        "frames_per_s": round(n / (detect_s + classify_s), 1),
        "detect_align_ms": round(1000 * detect_s / n, 2),
        "classify_ms": round(1000 * classify_s / n, 2),
        "classify_batch32_ms_per_crop": round(batch32_ms / 32, 2),
        "frame": "640x480, one face ~110 px",
    }


def voice_throughput(models: Models, audio_s: float = 60.0) -> dict[str, Any]:
    """Streaming VAD + classification of speech, as the analyser does it (20 ms chunks)."""
    pcm = speech_pcm(audio_s)
    chunk = round(AUDIO_CHUNK_S * SAMPLE_RATE)
    vad = models.new_vad()
    segments = []
    t0 = time.perf_counter()
    for start in range(0, len(pcm), chunk):
        segments.extend(vad.push(pcm[start : start + chunk]))
    segments.extend(vad.flush())
    vad_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    models.voice_classifier.predict_batch([s.samples for s in segments])
    classify_s = time.perf_counter() - t0
    rtf = (vad_s + classify_s) / audio_s
    return {
        "real_time_factor": round(rtf, 4),
        "x_real_time": round(1 / rtf, 1),
        "vad_rtf": round(vad_s / audio_s, 4),
        "classify_ms_per_segment": round(1000 * classify_s / max(len(segments), 1), 2),
        "segments": len(segments),
        "audio_s": audio_s,
        "audio": "shipped espeak-ng speech clip, looped",
    }


@dataclass
class FeedResult:
    participants: int
    seconds: float
    stats: dict[str, Any]
    lag_s: float  # how far the feeder itself fell behind real time

    def sustained(self, fps: float, max_p95_s: float) -> bool:
        per = self.stats["participants"].values()
        p95 = self.stats["p95_frame_to_db_s"]
        return (
            self.stats["frames_dropped"] == 0
            and self.stats["audio_dropped_s"] == 0
            and all(p["backoffs"] == 0 and p["video_fps"] >= fps * 0.99 for p in per)
            and p95 is not None
            and p95 < max_p95_s
            and self.lag_s < 0.5
        )

    def row(self, fps: float, max_p95_s: float) -> dict[str, Any]:
        per = list(self.stats["participants"].values())
        return {
            "participants": self.participants,
            "sustained": self.sustained(fps, max_p95_s),
            "p95_frame_to_db_s": self.stats["p95_frame_to_db_s"],
            "max_frame_to_db_s": self.stats["max_frame_to_db_s"],
            "frames_sampled": self.stats["frames_sampled"],
            "frames_dropped": self.stats["frames_dropped"],
            "backoffs": sum(p["backoffs"] for p in per),
            "min_video_fps": min(p["video_fps"] for p in per),
            "audio_dropped_s": self.stats["audio_dropped_s"],
            "voice_segments": self.stats["segments"],
            "p95_voice_to_db_s": self.stats["p95_voice_to_db_s"],
            "mean_engine_batch": self.stats["engine"]["mean_batch"],
            "feeder_lag_s": round(self.lag_s, 3),
        }


async def simulated_call(
    models: Models,
    database: Database,
    *,
    participants: int,
    seconds: float,
    config: PipelineConfig | None = None,
    on_tick: Any = None,
) -> FeedResult:
    """Feed `participants` live participants (video at config.video_fps + continuous speech) in real
    time for `seconds`, then finish the call. `on_tick(elapsed_s)` is called about once a second."""
    config = config or PipelineConfig()
    frames = [face_frame(t, phase=t) for t in np.linspace(0, 60, FRAME_POOL)]
    clip = (np.clip(speech(), -1, 1) * 32767).astype(np.int16)
    chunk = round(AUDIO_CHUNK_S * SAMPLE_RATE)
    session = await CallSession.open(
        models=models, database=database, room="bench", source="simulated", config=config
    )
    analysers = [session.participant(f"p{i:03d}") for i in range(participants)]
    offsets = [(i * 7919 * chunk) % (len(clip) - chunk) for i in range(participants)]  # unsynchronised speech
    frame_interval = 1.0 / config.video_fps
    loop = asyncio.get_running_loop()
    start = loop.time()
    ticks = 0
    next_frame = [i * frame_interval / participants for i in range(participants)]  # staggered cameras
    lag = 0.0
    last_report = 0.0
    while (elapsed := loop.time() - start) < seconds:
        due = int(elapsed / AUDIO_CHUNK_S) + 1
        lag = max(lag, (due - ticks - 1) * AUDIO_CHUNK_S)
        while ticks < due:
            t = ticks * AUDIO_CHUNK_S
            for i, analyser in enumerate(analysers):
                pos = (offsets[i] + ticks * chunk) % (len(clip) - chunk)
                analyser.push_audio(clip[pos : pos + chunk], t)
                if t >= next_frame[i]:
                    analyser.push_video(frames[(ticks + i) % FRAME_POOL], t)
                    next_frame[i] += frame_interval
            ticks += 1
        if on_tick is not None and elapsed - last_report >= 1.0:
            last_report = elapsed
            on_tick(elapsed)
        await asyncio.sleep(max(0.0, start + ticks * AUDIO_CHUNK_S - loop.time()))
    stats_before_finish = session.stats
    await session.finish()
    stats = session.stats
    # Capacity is judged on the live phase; drops during the final drain would not count anyway.
    stats["frames_dropped"] = stats_before_finish["frames_dropped"]
    return FeedResult(participants, seconds, stats, lag)


def temporary_database() -> tuple[Database, tempfile.TemporaryDirectory[str]]:
    folder = tempfile.TemporaryDirectory(prefix="emotion-bench-")
    database = Database(os.path.join(folder.name, "bench.db"))
    database.upgrade()
    return database, folder


def participant_capacity(
    models: Models,
    *,
    trial_s: float,
    start: int = 25,
    step: int = 5,
    max_participants: int = 80,
    fps: float = 2.0,
    max_p95_s: float = 1.0,
    log: Any = None,
) -> dict[str, Any]:
    """The most participants sustained at `fps` (no drops, no back-off, p95 frame-to-DB < max_p95_s).

    Starts at `start` (the target) and walks up by `step` while trials pass, or down while they fail.
    """
    trials: list[dict[str, Any]] = []
    results: dict[int, bool] = {}

    def trial(n: int) -> bool:
        database, folder = temporary_database()
        try:
            result = asyncio.run(simulated_call(models, database, participants=n, seconds=trial_s))
        finally:
            database.dispose()
            folder.cleanup()
        row = result.row(fps, max_p95_s)
        trials.append(row)
        if log is not None:
            log(row)
        results[n] = row["sustained"]
        return row["sustained"]

    n = start
    if trial(n):
        while n + step <= max_participants and trial(n + step):
            n += step
        best = n
    else:
        while n - step >= 1 and not trial(n - step):
            n -= step
        best = n - step if n - step >= 1 else 0
    return {
        "sustained_participants": best,
        "video_fps": fps,
        "trial_seconds": trial_s,
        "criteria": f"no dropped frames or audio, no back-off, p95 frame-to-database < {max_p95_s} s",
        "trials": trials,
    }


def memory_flatness(
    models: Models, *, minutes: float, participants: int = 10, sample_every_s: float = 10.0
) -> dict[str, Any]:
    """RSS over a long simulated call; growth measured from the end of the first minute (warm-up)."""
    samples: list[tuple[float, float]] = []

    def on_tick(elapsed: float) -> None:
        if not samples or elapsed - samples[-1][0] >= sample_every_s:
            samples.append((round(elapsed, 1), round(rss_mb(), 1)))

    database, folder = temporary_database()
    try:
        result = asyncio.run(
            simulated_call(models, database, participants=participants, seconds=minutes * 60, on_tick=on_tick)
        )
    finally:
        database.dispose()
        folder.cleanup()
    warm = [mb for t, mb in samples if t >= min(60.0, minutes * 30)] or [mb for _, mb in samples]
    growth = warm[-1] - warm[0] if warm else 0.0
    return {
        "participants": participants,
        "minutes": minutes,
        "rss_mb_start": samples[0][1] if samples else None,
        "rss_mb_after_warmup": warm[0] if warm else None,
        "rss_mb_end": samples[-1][1] if samples else None,
        "growth_mb_after_warmup": round(growth, 1),
        "growth_mb_per_10_min": round(growth * 10 / max(minutes - min(1.0, minutes / 2), 1e-9), 1),
        "target_mb_per_10_min": 50,
        "frames_dropped": result.stats["frames_dropped"],
        "samples": samples,
    }
