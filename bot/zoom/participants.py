"""Zoom users to call participants, and their media to the pipeline.

Each Zoom user id is one participant (identity = the user id, name = user_name as Zoom sends it:
the session masks any phone number or e-mail in it before it is stored). Join/leave events and
media from a user nobody announced (people already in the meeting when the stream starts) both
make a participant present. Audio (one stream per speaker) goes to that user's voice pipeline,
video frames (JPG, decoded off the event loop) to the face pipeline of the user the frame names,
or of the active speaker when it names nobody.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from bot.calls.lifecycle import ParticipantLifecycle, Person
from bot.zoom.media import BadMedia, jpg_to_rgb, l16_to_pcm
from bot.zoom.messages import EventUpdate, MediaPacket, ZoomUser
from bot.zoom.protocol import SAMPLE_RATE, Event
from bot.zoom.rotation import VideoRotation
from bot.zoom.timeline import StreamClock

logger = logging.getLogger(__name__)

HOST_ROLE = "host"


class ZoomParticipants:
    """The `StreamSink` of one stream: translates RTMS events and media into lifecycle calls."""

    def __init__(
        self,
        lifecycle: ParticipantLifecycle,
        clock: StreamClock,
        counters: Counter[str],
        *,
        host_user_id: str | None = None,
        rotation: VideoRotation | None = None,
    ) -> None:
        self._lifecycle = lifecycle
        self._clock = clock
        self._counters = counters
        self._host_user_id = host_user_id
        self._rotation = rotation
        self._names: dict[str, str | None] = {}
        self._speaker: str | None = None
        self._decoding: set[str] = set()  # users with a frame being decoded: at most one each
        self._tasks: set[asyncio.Task[None]] = set()

    # -- StreamSink ------------------------------------------------------------------------------

    async def on_event(self, event: EventUpdate) -> None:
        kind = event.event_type
        if kind in (Event.PARTICIPANT_JOIN, Event.ACTIVE_SPEAKER_CHANGE):
            for user in event.users:
                await self._present(user)
            if kind == Event.ACTIVE_SPEAKER_CHANGE and event.users:
                self._speaker = event.users[0].user_id
        elif kind == Event.PARTICIPANT_LEAVE:
            for user in event.users:
                if self._rotation is not None:
                    self._rotation.gone(user.user_id)
                await self._lifecycle.leave(user.user_id)
        elif kind in (Event.PARTICIPANT_VIDEO_ON, Event.PARTICIPANT_VIDEO_OFF):
            for user in event.users:
                if kind == Event.PARTICIPANT_VIDEO_ON:
                    await self._present(user)
                if self._rotation is not None:
                    on = kind == Event.PARTICIPANT_VIDEO_ON
                    (self._rotation.camera_on if on else self._rotation.camera_off)(user.user_id)
        else:
            self._counters[f"event_{kind}"] += 1

    async def on_media(self, packet: MediaPacket) -> None:
        if packet.kind not in ("audio", "video"):
            self._counters[f"ignored_{packet.kind}"] += 1  # screen share, transcript, chat: not analysed
            return
        user_id = packet.user_id or self._speaker
        if user_id is None:
            self._counters["media_without_user"] += 1
            return
        await self._present(ZoomUser(user_id, packet.user_name))
        analyser = await self._lifecycle.analyser_for(user_id)
        if analyser is None:
            self._counters["not_analysed_media"] += 1
            return
        if packet.kind == "audio":
            try:
                pcm = l16_to_pcm(packet.data)
            except BadMedia as exc:
                self._counters[str(exc)] += 1
                return
            analyser.push_audio(
                pcm, self._clock.audio_t(user_id, packet.timestamp_ms, len(pcm) / SAMPLE_RATE)
            )
        else:
            t = self._clock.t(packet.timestamp_ms)
            if user_id in self._decoding:
                self._counters["video_decode_busy"] += 1  # the newest frame waits for no one
                return
            self._decoding.add(user_id)
            task = asyncio.create_task(self._decode_and_push(user_id, packet.data, t))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Let frames being decoded reach their analysers before the call finishes."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- helpers ---------------------------------------------------------------------------------

    async def _decode_and_push(self, user_id: str, data: bytes, t: float) -> None:
        try:
            rgb = await asyncio.to_thread(jpg_to_rgb, data)
        except BadMedia as exc:
            self._counters[str(exc)] += 1
            return
        finally:
            self._decoding.discard(user_id)
        analyser = self._lifecycle.analyser(user_id)  # it may have left or been excluded meanwhile
        if analyser is not None:
            analyser.push_video(rgb, t)
            self._counters["video_frames"] += 1

    async def _present(self, user: ZoomUser) -> None:
        """Join on first sight (announced or not); a changed name updates the participant."""
        uid = user.user_id
        known = self._names.get(uid)
        name = user.user_name or known
        if self._lifecycle.is_present(uid) and name == known:
            return
        self._names[uid] = name
        person = Person(identity=uid, name=name, role=HOST_ROLE if uid == self._host_user_id else None)
        if self._lifecycle.is_present(uid):
            await self._lifecycle.update(person)
        else:
            await self._lifecycle.join(person)
        if self._rotation is not None:
            self._rotation.present(uid)
