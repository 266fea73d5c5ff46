"""Room handling shared by the worker (a real `rtc.Room`) and `simulate` (a `FakeRoom`).

The LiveKit adapter of the participant lifecycle (`bot/calls/lifecycle.py`): it translates the
SDK's room events (joins, tracks, attributes, opt-out messages, the room closing) into lifecycle
calls and runs one reader per track (closed on `track_unsubscribed`). Who is analysed, roles,
rejoins and when the call is over are the lifecycle's. Events are handled one at a time in arrival
order, so a track is never unsubscribed before it was subscribed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from livekit import rtc

from bot.calls.lifecycle import CallEnd, LifecycleOptions, ParticipantLifecycle, Person, Session
from bot.livekit.media import AudioReader, Clock, TrackReader, TrackStats, VideoReader, describe_track
from bot.livekit.participants import SIP_CALLER_NUMBER, AnalysedKind, analysed_kind
from bot.pipeline.config import PipelineConfig
from bot.policy.config import AnalysisPolicy
from bot.policy.decide import CHAT_TOPICS, opt_out_requested

logger = logging.getLogger(__name__)

MediaKind = Literal["video", "audio"]

_EVENT_DRAIN_TIMEOUT_S = 60.0
_CAMERA_SOURCES = (rtc.TrackSource.SOURCE_CAMERA, rtc.TrackSource.SOURCE_UNKNOWN)
_MICROPHONE_SOURCES = (rtc.TrackSource.SOURCE_MICROPHONE, rtc.TrackSource.SOURCE_UNKNOWN)


__all__ = ["CallEnd", "RoomAnalysis", "RoomOptions", "conversion_rate_limit"]


def conversion_rate_limit(pipeline: PipelineConfig) -> float:
    """Frames per second worth converting for an analyser sampling at `pipeline.video_fps`.

    The analyser's sampler decides which frames are analysed; converting a 30 fps camera only for
    it to keep 2 would cost more CPU than the analysis. Twice its rate leaves it a choice.
    """
    return 2 * pipeline.video_fps


@dataclass(frozen=True, slots=True)
class RoomOptions:
    """How a room is handled (the analysis itself is configured in PipelineConfig)."""

    empty_grace_s: float = 20.0  # no human left for this long: the call is over
    no_show_timeout_s: float = 300.0  # nobody joined this long after the bot arrived: give up
    video_max_fps: float | None = None  # don't even convert frames arriving faster than this
    host_identity: str | None = None  # from the dispatch metadata: that participant's role is "host"
    policy: AnalysisPolicy = field(default_factory=AnalysisPolicy)

    def lifecycle(self) -> LifecycleOptions:
        return LifecycleOptions(
            empty_grace_s=self.empty_grace_s,
            no_show_timeout_s=self.no_show_timeout_s,
            host_identity=self.host_identity,
            policy=self.policy,
        )


@dataclass(slots=True)
class _ParticipantStats:
    kind: AnalysedKind
    video_tracks: int = 0
    audio_tracks: int = 0


def person_of(participant: Any, kind: AnalysedKind) -> Person:
    """The lifecycle's view of an SDK participant (raw: the session redacts what it stores)."""
    attributes = dict(participant.attributes or {})
    return Person(
        identity=participant.identity,
        name=participant.name or None,
        kind=kind,
        attributes=attributes,
        phone_number=attributes.get(SIP_CALLER_NUMBER) if kind == "sip" else None,
    )


class RoomAnalysis:
    """Analyses every human in `room` through `session` until `wait_for_end()` returns.

    `room` is anything with the SDK Room's `on`/`off`, `remote_participants` and events
    (`participant_connected`, `track_subscribed`, `track_unsubscribed`, `participant_disconnected`,
    `disconnected`). Use `start()`, `await wait_for_end()`, then `await aclose()`.
    """

    def __init__(
        self,
        room: Any,
        session: Session,
        options: RoomOptions | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._room = room
        self._session = session
        self._options = options or RoomOptions()
        self.lifecycle = ParticipantLifecycle(
            session, self._options.lifecycle(), on_excluded=self._close_readers_of
        )
        started = time.monotonic()
        self._clock: Clock = clock or (lambda: time.monotonic() - started)
        # Unbounded, but it carries room events (joins, tracks), never media.
        self._events: asyncio.Queue[tuple[Callable[..., Awaitable[None]], tuple[Any, ...]] | None] = (
            asyncio.Queue()
        )
        self._handlers: dict[str, Callable[..., None]] = {}
        self._event_task: asyncio.Task[None] | None = None
        self._readers: dict[str, tuple[str, MediaKind, TrackReader]] = {}  # publication sid -> ...
        self._participant_stats: dict[str, _ParticipantStats] = {}
        self._finished_track_stats: dict[tuple[str, MediaKind], list[TrackStats]] = {}
        self._ignored: set[str] = set()
        self._chat_topics: list[str] = []

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe to room events and take in whoever is already there."""
        self.lifecycle.start()
        self._event_task = asyncio.get_running_loop().create_task(self._process_events(), name="room events")
        self._handlers = {
            "participant_connected": lambda p: self._enqueue(self._participant_connected, p),
            "track_subscribed": lambda t, pub, p: self._enqueue(self._track_subscribed, t, pub, p),
            "track_unsubscribed": lambda t, pub, p: self._enqueue(self._track_unsubscribed, t, pub, p),
            "participant_disconnected": lambda p: self._enqueue(self._participant_disconnected, p),
            "participant_attributes_changed": lambda _changed, p: self._enqueue(self._attributes_changed, p),
            "data_received": self._on_data_received,
            "disconnected": lambda *_: self._enqueue(self._room_disconnected),
        }
        for event, handler in self._handlers.items():
            self._room.on(event, handler)
        if hasattr(self._room, "register_text_stream_handler"):
            for topic in sorted(CHAT_TOPICS):
                self._room.register_text_stream_handler(topic, self._on_text_stream)
                self._chat_topics.append(topic)
        for participant in list(self._room.remote_participants.values()):
            self._enqueue(self._participant_connected, participant)
            for publication in list(participant.track_publications.values()):
                if publication.track is not None:
                    self._enqueue(self._track_subscribed, publication.track, publication, participant)

    async def wait_for_end(self) -> CallEnd:
        """Wait until the call is over (or `request_end()` was called) and say why."""
        return await self.lifecycle.wait_for_end()

    def request_end(self, reason: CallEnd = CallEnd.SHUTDOWN) -> None:
        """End the call now (job shutdown, Ctrl-C, simulation over). The first reason wins."""
        self.lifecycle.request_end(reason)

    async def aclose(self) -> None:
        """Stop listening, close every reader and mark remaining participants as left."""
        for event, handler in self._handlers.items():
            self._room.off(event, handler)
        self._handlers = {}
        for topic in self._chat_topics:
            self._room.unregister_text_stream_handler(topic)
        self._chat_topics = []
        if self._event_task is not None:
            # Events already queued (a leave in progress) are finished, not cut off halfway: the
            # session must see every participant_left it was going to see.
            self._events.put_nowait(None)
            try:
                await asyncio.wait_for(asyncio.shield(self._event_task), _EVENT_DRAIN_TIMEOUT_S)
            except TimeoutError:
                logger.error("room events did not finish within %.0f s; cancelled", _EVENT_DRAIN_TIMEOUT_S)
                self._event_task.cancel()
                await asyncio.gather(self._event_task, return_exceptions=True)
            self._event_task = None
        for sid in list(self._readers):
            await self._close_reader(sid)
        await self.lifecycle.aclose()

    def stats(self) -> dict[str, Any]:
        """Per participant (by stored identity): kind, joins, and video/audio reader counters (closed
        readers included)."""
        result: dict[str, Any] = {}
        for identity, pstats in self._participant_stats.items():
            entry: dict[str, Any] = {
                "kind": pstats.kind,
                "joins": self.lifecycle.joins(identity),
                "video_tracks": pstats.video_tracks,
                "audio_tracks": pstats.audio_tracks,
            }
            for media in ("video", "audio"):
                total = TrackStats()
                parts = list(self._finished_track_stats.get((identity, media), []))
                parts += [
                    r.stats for owner, m, r in self._readers.values() if owner == identity and m == media
                ]
                for part in parts:
                    for name, value in part.as_dict().items():
                        setattr(total, name, getattr(total, name) + value)
                entry[media] = total.as_dict()
            result[self._session.stored_identity(identity)] = entry
        return result

    @property
    def end_reason(self) -> CallEnd | None:
        """Why the call is over, once it is (None while it goes on)."""
        return self.lifecycle.end_reason

    @property
    def active_readers(self) -> int:
        return len(self._readers)

    # -- event handling (one at a time, in order) -----------------------------------------------

    def _enqueue(self, handler: Callable[..., Awaitable[None]], *args: Any) -> None:
        self._events.put_nowait((handler, args))

    async def _process_events(self) -> None:
        while (event := await self._events.get()) is not None:
            handler, args = event
            try:
                await handler(*args)
            except Exception:
                # One participant's broken event must not stop the analysis of everybody else.
                logger.exception("room event %s failed", handler.__name__)

    def _kind_of(self, participant: Any) -> AnalysedKind | None:
        kind = analysed_kind(participant)
        if kind is None and participant.identity not in self._ignored:
            self._ignored.add(participant.identity)
            logger.info(
                "not analysing %s (participant kind %s)",
                self._session.stored_identity(participant.identity),
                participant.kind,
            )
        return kind

    async def _participant_connected(self, participant: Any) -> None:
        kind = self._kind_of(participant)
        if kind is not None:
            await self.lifecycle.join(person_of(participant, kind))

    async def _track_subscribed(self, track: Any, publication: Any, participant: Any) -> None:
        kind = self._kind_of(participant)
        if (
            kind is None
            or publication.sid in self._readers
            or self.lifecycle.is_excluded(participant.identity)
        ):
            return
        media = self._media_kind(track, publication, kind)
        if media is None:
            return
        if not self.lifecycle.is_present(participant.identity):
            await self.lifecycle.join(person_of(participant, kind))
        analyser = await self.lifecycle.analyser_for(participant.identity)
        if analyser is None:
            return
        name = self._session.stored_identity(describe_track(participant, publication))
        pstats = self._participant_stats.setdefault(participant.identity, _ParticipantStats(kind=kind))
        if media == "video":
            reader: TrackReader = VideoReader(
                name, track, analyser, self._clock, max_fps=self._options.video_max_fps
            )
            pstats.video_tracks += 1
        else:
            reader = AudioReader(name, track, analyser, self._clock)
            pstats.audio_tracks += 1
        self._readers[publication.sid] = (participant.identity, media, reader)
        reader.start()
        logger.info("analysing %s %s", media, name)

    async def _track_unsubscribed(self, track: Any, publication: Any, participant: Any) -> None:
        await self._close_reader(publication.sid)

    async def _participant_disconnected(self, participant: Any) -> None:
        await self._close_readers_of(participant.identity)
        await self.lifecycle.leave(participant.identity)

    async def _attributes_changed(self, participant: Any) -> None:
        """Consent withdrawn, opt-out flag set, role changed: the lifecycle decides again."""
        kind = analysed_kind(participant)
        if kind is not None:
            await self.lifecycle.update(person_of(participant, kind))

    def _on_data_received(self, packet: Any) -> None:
        sender = packet.participant
        if sender is not None and opt_out_requested(packet.topic, packet.data, self._options.policy):
            self._enqueue(self.lifecycle.opt_out, sender.identity)

    def _on_text_stream(self, reader: Any, participant_identity: str) -> None:
        async def read_chat() -> None:
            text = await reader.read_all()
            if opt_out_requested(reader.info.topic, text.encode(), self._options.policy):
                await self.lifecycle.opt_out(participant_identity)

        self._enqueue(read_chat)

    async def _room_disconnected(self) -> None:
        self.request_end(CallEnd.ROOM_CLOSED)

    # -- helpers ---------------------------------------------------------------------------------

    def _media_kind(self, track: Any, publication: Any, kind: AnalysedKind) -> MediaKind | None:
        source = publication.source
        if track.kind == rtc.TrackKind.KIND_VIDEO and source in _CAMERA_SOURCES:
            if kind == "sip":
                return None  # phone callers are analysed from their voice only
            return "video"
        if track.kind == rtc.TrackKind.KIND_AUDIO and source in _MICROPHONE_SOURCES:
            return "audio"
        logger.info("ignoring track %s (source %s)", publication.sid, source)
        return None

    async def _close_readers_of(self, identity: str) -> None:
        for sid, (owner, _, _) in list(self._readers.items()):
            if owner == identity:
                await self._close_reader(sid)

    async def _close_reader(self, sid: str) -> None:
        entry = self._readers.pop(sid, None)
        if entry is None:
            return
        identity, media, reader = entry
        # Counted as finished before it is: stats() must never miss a reader that is closing.
        self._finished_track_stats.setdefault((identity, media), []).append(reader.stats)
        await reader.aclose()
        logger.info("stopped %s %s", media, reader.name)
