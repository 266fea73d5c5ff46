"""A call without a server: files published through real local tracks into a FakeRoom, analysed by
the same room handling and call runner the worker uses."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livekit import rtc

from bot.calls.runner import CallContext, open_call
from bot.livekit.call import CallOutcome, RoomCall
from bot.livekit.fake_room import FakeParticipant, FakeRoom
from bot.livekit.publisher import DEFAULT_PUBLISH_FPS, FilePublisher
from bot.livekit.room import CallEnd, RoomOptions
from bot.pipeline.config import PipelineConfig
from bot.pipeline.models import Models
from bot.pipeline.session import CallSession
from bot.pipeline.sources.file import MediaError
from bot.policy.pii import PhoneNumberPolicy
from storage.db import Database

logger = logging.getLogger(__name__)

# A made-up number in the range reserved for drama/fiction (+44 7700 900xxx): never a real person.
SIMULATED_PHONE_PREFIX = "+447700900"
_RSS_SAMPLE_INTERVAL_S = 2.0


class ParticipantSpecError(ValueError):
    """A --participant value that is not ID=PATH[:sip]."""


class NothingToSimulateError(RuntimeError):
    """No participant's file could be opened."""


@dataclass(frozen=True, slots=True)
class SimulatedParticipant:
    identity: str
    path: Path
    sip: bool = False
    name: str = ""  # display name (default: the identity)

    @classmethod
    def parse(cls, spec: str) -> SimulatedParticipant:
        """ "alice=call.mp4" (camera + microphone) or "caller=phone.ogg:sip" (phone, audio only)."""
        identity, sep, rest = spec.partition("=")
        if not sep or not identity.strip() or not rest.strip():
            raise ParticipantSpecError(f"--participant {spec!r}: expected ID=PATH or ID=PATH:sip")
        sip = rest.endswith(":sip")
        path = Path(rest[: -len(":sip")] if sip else rest)
        return cls(identity=identity.strip(), path=path, sip=sip)


@dataclass(frozen=True, slots=True)
class SimulationResult:
    outcome: CallOutcome
    stats: dict[str, Any]


class _RssMonitor:
    """Resident memory of this process over the run (Linux /proc; the peak from getrusage)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def current_mb() -> float:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * resource.getpagesize() / 2**20

    def start(self) -> None:
        self.samples.append(self.current_mb())
        self._task = asyncio.get_running_loop().create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(_RSS_SAMPLE_INTERVAL_S)
            self.samples.append(self.current_mb())

    async def stop(self) -> dict[str, float]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.samples.append(self.current_mb())
        # "Flat" is judged after warm-up: the first samples include model arenas and codec setup.
        settled = self.samples[len(self.samples) // 4 :] or self.samples
        return {
            "start_mb": round(self.samples[0], 1),
            "settled_mb": round(settled[0], 1),
            "end_mb": round(self.samples[-1], 1),
            "max_mb": round(max(self.samples), 1),
            "growth_after_warmup_mb": round(self.samples[-1] - settled[0], 1),
        }


async def simulate_call(
    participants: list[SimulatedParticipant],
    *,
    models: Models,
    database: Database,
    duration_s: float | None,
    config: PipelineConfig,
    options: RoomOptions,
    metadata: dict[str, Any] | None = None,
    webhook_url: str | None = None,
    phone_numbers: PhoneNumberPolicy = "masked",
    publish_fps: float = DEFAULT_PUBLISH_FPS,
    stop: asyncio.Event | None = None,
) -> SimulationResult:
    """Run one simulated call to its summary. Participants whose file cannot be read are skipped
    (logged, reported under "errors"); the others are analysed regardless."""
    errors: dict[str, str] = {}
    publishers: dict[str, FilePublisher] = {}
    for spec in participants:
        try:
            publishers[spec.identity] = FilePublisher(
                spec.path, video=not spec.sip, audio=True, duration_s=duration_s, fps=publish_fps
            )
        except MediaError as exc:
            logger.error("participant %s not simulated: %s", spec.identity, exc)
            errors[spec.identity] = str(exc)
    if not publishers:
        raise NothingToSimulateError("; ".join(errors.values()) or "no participants")
    rss = _RssMonitor()
    rss.start()
    started = time.monotonic()
    room = FakeRoom(name=f"simulated-{uuid.uuid4().hex[:8]}")
    context = CallContext(
        models=models,
        database=database,
        pipeline=config,
        policy=options.policy,
        phone_numbers=phone_numbers,
        webhook_url=webhook_url,
    )
    session, alerts = await open_call(context, room=room.name, source="simulated", metadata=metadata)
    call = RoomCall(room, session, options, webhook_url=webhook_url, alerts=alerts)
    call_task = asyncio.create_task(call.run())
    tasks = [
        asyncio.create_task(_attend(room, spec, publishers[spec.identity], number, errors))
        for number, spec in enumerate(participants)
        if spec.identity in publishers
    ]
    if stop is not None:
        tasks.append(asyncio.create_task(_end_on(stop, call)))
    outcome = await call_task
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for publisher in publishers.values():
        await publisher.aclose()
    memory = await rss.stop()
    stats = _stats(outcome, session, publishers, errors, memory, time.monotonic() - started)
    return SimulationResult(outcome=outcome, stats=stats)


async def _attend(
    room: FakeRoom, spec: SimulatedParticipant, publisher: FilePublisher, number: int, errors: dict[str, str]
) -> None:
    """Join, publish the file until it is done (or fails to decode), leave."""
    if spec.sip:
        attributes = {"sip.phoneNumber": f"{SIMULATED_PHONE_PREFIX}{number:03d}", "sip.callStatus": "active"}
        participant: FakeParticipant = room.join(
            spec.identity,
            name=spec.name or spec.identity,
            kind=rtc.ParticipantKind.PARTICIPANT_KIND_SIP,
            attributes=attributes,
        )
    else:
        participant = room.join(spec.identity, name=spec.name or spec.identity)
    for track, source in publisher.tracks(spec.identity):
        room.publish(participant, track, source)
    try:
        await publisher.run()
    except Exception as exc:
        logger.error("participant %s: media failed: %s", spec.identity, exc)
        errors[spec.identity] = f"{type(exc).__name__}: {exc}"
    finally:
        room.leave(participant)


async def _end_on(stop: asyncio.Event, call: RoomCall) -> None:
    await stop.wait()
    call.request_end(CallEnd.SHUTDOWN)


def _stats(
    outcome: CallOutcome,
    session: CallSession,
    publishers: dict[str, FilePublisher],
    errors: dict[str, str],
    memory: dict[str, float],
    wall_s: float,
) -> dict[str, Any]:
    session_stats = session.stats
    participants: dict[str, Any] = {}
    publishers = {session.stored_identity(identity): p for identity, p in publishers.items()}
    errors = {session.stored_identity(identity): e for identity, e in errors.items()}
    for identity, room_stats in outcome.room_stats.items():
        pipeline = session_stats["participants"].get(identity, {})
        participants[identity] = {
            "kind": room_stats["kind"],
            "face_observations": pipeline.get("faces", 0),
            "voice_observations": pipeline.get("segments", 0),
            "observations": pipeline.get("observations", 0),
            "frames_in": pipeline.get("frames_in", 0),
            "frames_sampled": pipeline.get("frames_sampled", 0),
            "frames_dropped": pipeline.get("frames_dropped", 0),
            "audio_dropped_s": pipeline.get("audio_dropped_s", 0.0),
            "video_fps_at_end": pipeline.get("video_fps"),
            "p95_frame_result_latency_s": pipeline.get("p95_frame_result_latency_s"),
            "video_reader": room_stats["video"],
            "audio_reader": room_stats["audio"],
            "published": publishers[identity].stats.as_dict() if identity in publishers else None,
        }
    return {
        "call_id": session.call_id,
        "end_reason": str(outcome.reason),
        "wall_s": round(wall_s, 1),
        "participants": participants,
        "errors": errors,
        "frames_dropped": session_stats["frames_dropped"],
        "p95_frame_to_db_s": session_stats["p95_frame_to_db_s"],
        "max_frame_to_db_s": session_stats["max_frame_to_db_s"],
        "engine": session_stats["engine"],
        "writer": session_stats["writer"],
        "rss": memory,
    }
