"""One analysed call: its database row, one analyser per participant, the writer and the summary.

Every source (a recorded file, a simulated room, a LiveKit room, a Zoom stream, a Twilio call) drives
the same object: `CallSession.open(...)`, then `session.participant(identity).push_video/push_audio(...)`,
then `await session.finish()`. Database calls run on worker threads; the event loop never waits on them.

Sources pass what the platform gave them (identities, names, room names, metadata) as it is: the
session's `Redactor` masks phone numbers and e-mails in all of it before anything is stored, sent
or logged, the same way for the whole call (`stored_identity()` tells a source the stored form).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.pipeline.analyser import ParticipantAnalyser
from bot.pipeline.config import PipelineConfig
from bot.pipeline.models import Models
from bot.policy.pii import PhoneNumberPolicy, Redactor
from storage.db import Database
from storage.models import utcnow
from storage.records import FusedPoint, Observation
from storage.repository import (
    create_call,
    mark_not_analysed,
    mark_participant_left,
    upsert_participant,
)
from storage.writer import ObservationWriter

log = logging.getLogger(__name__)

Listener = Callable[[FusedPoint], None]


class CallSession:
    """The pipeline for one call (see module docstring). Create with `await CallSession.open(...)`."""

    def __init__(
        self,
        *,
        models: Models,
        database: Database,
        call_id: str,
        room: str,
        source: str,
        metadata: dict[str, Any],
        config: PipelineConfig,
        redactor: Redactor | None = None,
    ) -> None:
        self.call_id = call_id
        self.room = room
        self.source = source
        self.metadata = metadata
        self.config = config
        self._models = models
        self._engine = models.engine
        self._db = database
        self._writer = ObservationWriter(
            database, call_id, flush_interval_s=config.writer_flush_interval_s, on_written=self._on_written
        )
        self._analysers: dict[str, ParticipantAnalyser] = {}
        # Participant rows being written; their items wait in `_held` so the writer never races the
        # upsert (and never creates a bare row for someone whose name and kind are on their way).
        self._registrations: dict[str, asyncio.Task[None]] = {}
        self._held: dict[str, list[Observation | FusedPoint]] = {}
        self._excluded: dict[str, str] = {}
        self._profiles: dict[str, tuple[Any, ...]] = {}  # last stored participant fields, per identity
        self._roles: dict[str, str | None] = {}
        self.redactor = redactor or Redactor()
        self._left: set[str] = set()
        self._listeners: list[Listener] = []
        self._db_latencies: deque[float] = deque(maxlen=20_000)
        # Speech-segment results alone (from the end of the audio that closed the segment): a
        # segment waits for the VAD and the voice thread, a frame does not, so they are timed apart.
        self._voice_latencies: deque[float] = deque(maxlen=20_000)
        self._finish_lock = asyncio.Lock()
        self._summary: dict[str, Any] | None = None
        self.started_at = utcnow()

    @classmethod
    async def open(
        cls,
        *,
        models: Models,
        database: Database,
        room: str,
        source: str,
        metadata: dict[str, Any] | None = None,
        config: PipelineConfig | None = None,
        phone_numbers: PhoneNumberPolicy = "masked",
    ) -> CallSession:
        """Create the call row (status active) and start its writer. `room` and `metadata` are stored
        redacted under `phone_numbers` (the CRM's ids and the webhook URL are kept as they are)."""
        redactor = Redactor(phone_numbers)
        room = redactor.text(room)
        metadata = redactor.metadata(metadata or {})
        started_at = utcnow()
        call_id = await asyncio.to_thread(
            create_call, database, room=room, source=source, metadata=metadata, started_at=started_at
        )
        session = cls(
            models=models,
            database=database,
            call_id=call_id,
            room=room,
            source=source,
            metadata=metadata,
            config=config or PipelineConfig(),
            redactor=redactor,
        )
        session.started_at = started_at
        session._writer.start()
        log.info("call %s opened (room %r, source %s)", call_id, room, source)
        return session

    # -- participants ---------------------------------------------------------------------------

    def participant(
        self,
        identity: str,
        *,
        display_name: str | None = None,
        kind: str = "standard",
        role: str | None = None,
        phone_number: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> ParticipantAnalyser:
        """The analyser of `identity`, created on first use. Calling again returns the same analyser;
        after a leave (a rejoin) or with changed fields it also updates the same participant row.
        Fields are the platform's own (raw): they are stored redacted. Call from the event loop."""
        if self._summary is not None:
            raise RuntimeError(f"call {self.call_id} is finished")
        identity = self.stored_identity(identity)
        display_name = self.redactor.optional(display_name)
        phone_number = self.redactor.phone_number(phone_number)
        attributes = None if attributes is None else self.redactor.attributes(attributes)
        self._roles[identity] = role.lower() if role else None
        analyser = self._analysers.get(identity)
        if analyser is None:
            analyser = ParticipantAnalyser(
                identity,
                engine=self._engine,
                new_vad=self._models.new_vad,
                config=self.config,
                on_observation=self._on_observation,
                on_fused=self._on_fused,
            )
            self._analysers[identity] = analyser
        profile = (display_name, kind, role, phone_number, attributes)
        if self._profiles.get(identity) == profile and identity not in self._left:
            return analyser  # nothing new to store: callers may ask for the analyser as often as they like
        self._profiles[identity] = profile
        self._left.discard(identity)
        self._register(
            identity,
            lambda: asyncio.to_thread(
                upsert_participant,
                self._db,
                self.call_id,
                identity,
                display_name=display_name,
                kind=kind,
                role=role,
                phone_number=phone_number,
                attributes=attributes,
            ),
        )
        return analyser

    async def participant_left(self, identity: str) -> None:
        """Finish what is queued for `identity` and record the leave time (a rejoin continues)."""
        identity = self.stored_identity(identity)
        analyser = self._analysers.get(identity)
        if analyser is not None:
            await analyser.aclose()
        await self._registered(identity)
        self._left.add(identity)
        await asyncio.to_thread(mark_participant_left, self._db, self.call_id, identity)

    async def exclude_participant(self, identity: str, reason: str, *, delete_stored: bool = False) -> None:
        """Stop analysing `identity` for the rest of the call (consent refused or withdrawn).

        Queued media is discarded, nothing more is stored for them (the writer checks the flag on
        every flush), and with `delete_stored` what was already stored is deleted. The participant
        row stays, with the reason, so the summary can say who was not analysed and why.
        """
        identity = self.stored_identity(identity)
        analyser = self._analysers.get(identity) or self.participant(identity)
        await analyser.exclude()
        self._excluded[identity] = reason
        self._held.pop(identity, None)
        await self._registered(identity)
        await self._writer.run_exclusive(
            mark_not_analysed, self._db, self.call_id, identity, reason, delete_stored
        )
        log.info("call %s: %s excluded from analysis (%s)", self.call_id, identity, reason)

    def stored_identity(self, identity: str) -> str:
        """How `identity` (the platform's) is stored and appears in observations, alerts and logs."""
        return self.redactor.text(identity)

    def role_of(self, identity: str) -> str | None:
        """The role a participant was given (lower case; None if none), by stored identity."""
        return self._roles.get(identity)

    def add_listener(self, callback: Listener) -> None:
        """Call `callback(point)` for every fused point (live alerts). It runs on the event loop: keep
        it quick; exceptions are logged and do not stop the pipeline."""
        self._listeners.append(callback)

    # -- finishing ------------------------------------------------------------------------------

    async def finish(
        self,
        *,
        partial: bool = False,
        webhook_url: str | None = None,
        ended_at: datetime | None = None,
        end_reason: str | None = None,
    ) -> dict[str, Any]:
        """Drain every participant, write everything, build and store the summary; returns it.

        `partial` marks a call that ended abnormally; `ended_at` defaults to now (a recorded file
        passes start + its duration). The summary webhook is queued in the outbox in
        the same transaction when a URL is known (the call's metadata `webhook_url`, else
        `webhook_url`). `end_reason` says why the call ended (in the summary; e.g. "stream_stopped",
        or a platform's error code). Idempotent: later calls return the stored summary.
        """
        async with self._finish_lock:
            if self._summary is not None:
                return self._summary
            for analyser in list(self._analysers.values()):
                await analyser.aclose()
            await asyncio.gather(*self._registrations.values(), return_exceptions=True)
            await self._writer.aclose()
            self._summary = await asyncio.to_thread(
                self._store_summary, partial, webhook_url, ended_at, end_reason
            )
            log.info(
                "call %s finished (%s): %s",
                self.call_id,
                "partial" if partial else "complete",
                {k: v for k, v in self.stats.items() if k != "participants"},
            )
            return self._summary

    def _store_summary(
        self, partial: bool, webhook_url: str | None, ended_at: datetime | None, end_reason: str | None
    ) -> dict[str, Any]:
        from bot.delivery.outbox import summary_enqueuer
        from bot.summary import finalize_call

        def enqueue_webhook(session: Session, summary: dict[str, Any]) -> None:
            summary_enqueuer(
                summary, call_id=self.call_id, call_metadata=self.metadata, default_url=webhook_url
            )(session)

        return finalize_call(
            self._db,
            self.call_id,
            partial=partial,
            ended_at=ended_at,
            extra=enqueue_webhook,
            end_reason=end_reason,
        )

    @property
    def finished(self) -> bool:
        return self._summary is not None

    @property
    def stats(self) -> dict[str, Any]:
        """Counters of the whole call: per participant, the engine, the writer, latencies."""
        participants = {identity: a.stats for identity, a in self._analysers.items()}
        totals = {
            key: sum(p[key] for p in participants.values())
            for key in ("frames_in", "frames_sampled", "frames_dropped", "faces", "segments", "observations")
        }
        return {
            "call_id": self.call_id,
            "participants": participants,
            **totals,
            "audio_dropped_s": round(sum(p["audio_dropped_s"] for p in participants.values()), 3),
            "excluded": dict(self._excluded),
            "engine": self._engine.stats,
            "writer": self._writer.stats,
            **_latency_tail("frame", self._db_latencies),
            **_latency_tail("voice", self._voice_latencies),
        }

    # -- plumbing -------------------------------------------------------------------------------

    def _register(self, identity: str, upsert: Callable[[], Awaitable[int]]) -> None:
        previous = self._registrations.get(identity)

        async def run() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            try:
                await upsert()
            except Exception:
                log.exception("call %s: could not store participant %s", self.call_id, identity)
            for item in self._held.pop(identity, []):
                self._submit(item)

        self._held.setdefault(identity, [])
        self._registrations[identity] = asyncio.get_running_loop().create_task(run())

    async def _registered(self, identity: str) -> None:
        task = self._registrations.get(identity)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    def _submit(self, item: Observation | FusedPoint) -> None:
        held = self._held.get(item.participant_identity)
        if held is not None:
            held.append(item)
        elif isinstance(item, Observation):
            self._writer.submit_observation(item)
        else:
            self._writer.submit_fused(item)

    def _on_observation(self, obs: Observation) -> None:
        if obs.participant_identity not in self._excluded:
            self._submit(obs)

    def _on_fused(self, point: FusedPoint) -> None:
        if point.participant_identity in self._excluded:
            return
        self._submit(point)
        for listener in self._listeners:
            try:
                listener(point)
            except Exception:
                log.exception("fused-point listener failed")

    def _on_written(self, observations: list[Observation]) -> None:
        now = time.monotonic()
        for obs in observations:
            if obs.captured_at:
                latency = now - obs.captured_at
                self._db_latencies.append(latency)
                if obs.modality == "voice":
                    self._voice_latencies.append(latency)


def _latency_tail(name: str, latencies: deque[float]) -> dict[str, float | None]:
    """p95 and max of observed latencies (None before the first), as `p95_<name>_to_db_s` etc."""
    ordered = sorted(latencies)
    p95 = round(ordered[int(0.95 * (len(ordered) - 1))], 4) if ordered else None
    return {f"p95_{name}_to_db_s": p95, f"max_{name}_to_db_s": round(ordered[-1], 4) if ordered else None}
