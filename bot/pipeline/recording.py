"""Analyse one recorded file end to end: probe, open a call, feed the analyser, finish, deliver.

Shared by `emotion-bot analyze` and `emotion-bot demo`. The file is probed before anything is
stored, so a file that cannot be read leaves no call behind.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tqdm import tqdm

from bot.pipeline.config import PipelineConfig
from bot.pipeline.models import Models
from bot.pipeline.sources.file import DecodeReport, MediaInfo, VideoSample, stream
from bot.policy.pii import PhoneNumberPolicy
from storage.db import Database

log = logging.getLogger(__name__)

# Files shorter than this analyse too fast for a progress bar to help.
PROGRESS_MIN_S = 60.0
# Media that ends this much before the container's announced duration was cut short.
TRUNCATION_SLACK_S = 1.5
MIN_VIDEO_COVERAGE = 0.9


@dataclass
class RecordingResult:
    """The stored summary plus what a user should be told about how the file was read."""

    summary: dict[str, Any]
    stats: dict[str, Any]
    report: DecodeReport
    wall_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def observations(self) -> int:
        return int(self.stats["observations"])


async def analyse_recording(
    info: MediaInfo,
    *,
    models: Models,
    database: Database,
    participant: str,
    config: PipelineConfig | None = None,
    webhook_url: str | None = None,
    progress: bool = True,
    role: str | None = None,
    phone_numbers: PhoneNumberPolicy = "masked",
) -> RecordingResult:
    """Analyse a probed file as a call with one participant (source "file") and store its summary.

    Live alerts run as in a live call (rules limited to roles see `role`, default "participant")."""
    from bot.calls.runner import CallContext, open_call

    config = config or PipelineConfig(adaptive=False)
    media_s = info.duration_s or 0.0
    context = CallContext(
        models=models,
        database=database,
        pipeline=config,
        phone_numbers=phone_numbers,
        webhook_url=webhook_url,
    )
    session, alerts = await open_call(
        context,
        room=info.path.name,
        source="file",
        metadata={"file": info.path.name, "media": info.describe()},
    )
    analyser = session.participant(participant, display_name=participant, role=role or "participant")
    report = DecodeReport()
    started = time.perf_counter()
    bar = tqdm(
        total=round(media_s, 1) or None,
        unit="s",
        desc=f"analysing {info.path.name}",
        file=sys.stderr,
        disable=not progress or media_s < PROGRESS_MIN_S,
        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s media [{elapsed}<{remaining}]",
    )
    partial = False
    try:
        async for item in stream(info, video_fps=config.video_fps, report=report):
            if isinstance(item, VideoSample):
                await analyser.put_video(item.rgb, item.t)
            else:
                await analyser.put_audio(item.pcm, item.t)
            bar.update(round(report.last_t, 1) - bar.n)
    except (Exception, asyncio.CancelledError):
        partial = True
        raise
    finally:
        bar.close()
        media_s = max(media_s, report.last_t)
        await alerts.drain()
        summary = await asyncio.shield(
            session.finish(
                partial=partial,
                webhook_url=webhook_url,
                ended_at=session.started_at + timedelta(seconds=media_s),
            )
        )
    wall_s = time.perf_counter() - started
    stats = session.stats
    result = RecordingResult(summary, stats, report, wall_s, _notes(info, report, stats, media_s, wall_s))
    for note in result.notes:
        log.info("%s: %s", info.path.name, note)
    return result


def _notes(
    info: MediaInfo, report: DecodeReport, stats: dict[str, Any], media_s: float, wall_s: float
) -> list[str]:
    notes = list(info.problems)
    if not info.has_video:
        notes.append("no video stream: voice only")
    elif stats["faces"] == 0:
        notes.append(f"no face found in {report.sampled_frames} sampled frames")
    if not info.has_audio:
        notes.append("no audio stream: face only")
    elif stats["segments"] == 0:
        notes.append(f"no speech found in {report.audio_s:.1f} s of audio")
    notes.extend(_coverage_notes(info, report))
    skipped = report.skipped_summary()
    if skipped:
        notes.append(skipped)
    if wall_s > 0 and media_s > 0:
        speed = media_s / wall_s
        notes.append(f"analysed {media_s:.1f} s of media in {wall_s:.1f} s ({speed:.1f}x real time)")
        if speed < 1.0:
            log.warning("analysis ran slower than real time (%.2fx) on this machine", speed)
    return notes


def _coverage_notes(info: MediaInfo, report: DecodeReport) -> list[str]:
    """What the container announced but could not be decoded (cut-off or damaged files)."""
    duration = info.duration_s
    if not duration:
        return []
    notes = []
    if report.last_t < duration - TRUNCATION_SLACK_S:
        notes.append(
            f"the media ends at {report.last_t:.1f} s of the {duration:.1f} s announced (truncated?)"
        )
    if info.has_audio and report.audio_s < duration - TRUNCATION_SLACK_S:
        notes.append(f"only {report.audio_s:.1f} s of {duration:.1f} s of audio could be decoded")
    if info.has_video and info.video_fps:
        expected = duration * info.video_fps
        if report.video_frames < MIN_VIDEO_COVERAGE * expected:
            notes.append(f"only {report.video_frames} of ~{expected:.0f} video frames could be decoded")
    return notes
