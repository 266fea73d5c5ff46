"""Shared fixtures: the real models (loaded once), a migrated SQLite database per test, and a
participant that publishes real livekit rtc tracks (the shipped demo face and speech) into a room."""

from __future__ import annotations

import asyncio
import time

import pytest
from livekit import rtc

from bot.livekit.fake_room import FakeParticipant, FakePublication, FakeRoom
from bot.pipeline.demo_media import face_frame, speech_pcm

VIDEO_FPS = 10
AUDIO_CHUNK_S = 0.02


async def wait_until(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def live():
    """Makes LiveParticipants and closes them after the test, even a failed one: a source left
    feeding a stream after its event loop closed makes the SDK's Rust side abort the process."""
    made: list[LiveParticipant] = []

    def make(room: FakeRoom, identity: str, **kwargs: object) -> LiveParticipant:
        participant = LiveParticipant(room, identity, **kwargs)
        made.append(participant)
        return participant

    yield make
    for participant in made:
        await participant.close()


class LiveParticipant:
    """Someone in a FakeRoom whose camera and microphone are real local tracks fed in real time."""

    def __init__(
        self,
        room: FakeRoom,
        identity: str,
        *,
        kind: rtc.ParticipantKind.ValueType = rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD,
        attributes: dict[str, str] | None = None,
        name: str = "",
        width: int = 320,
        height: int = 240,
    ) -> None:
        self.room, self.identity, self.kind = room, identity, kind
        self.attributes, self.name = attributes or {}, name
        self.width, self.height = width, height
        self.participant: FakeParticipant | None = None
        self.camera: FakePublication | None = None
        self.microphone: FakePublication | None = None
        self.screen: FakePublication | None = None
        self._video = rtc.VideoSource(width, height)
        self._audio = rtc.AudioSource(16000, 1)
        self._screen = rtc.VideoSource(width, height)
        self._feeder: asyncio.Task[None] | None = None
        self._closed = False
        self.frames_sent = 0

    def join(self, *, camera: bool = True, microphone: bool = True) -> LiveParticipant:
        self.participant = self.room.join(
            self.identity, name=self.name, kind=self.kind, attributes=self.attributes
        )
        if camera:
            self.camera_on()
        if microphone:
            track = rtc.LocalAudioTrack.create_audio_track(f"{self.identity}-mic", self._audio)
            self.microphone = self.room.publish(self.participant, track, rtc.TrackSource.SOURCE_MICROPHONE)
        if self._feeder is None:
            self._feeder = asyncio.get_running_loop().create_task(self._feed())
        return self

    def camera_on(self) -> None:
        assert self.participant is not None
        track = rtc.LocalVideoTrack.create_video_track(f"{self.identity}-cam", self._video)
        self.camera = self.room.publish(self.participant, track, rtc.TrackSource.SOURCE_CAMERA)

    def camera_off(self) -> None:
        assert self.participant is not None and self.camera is not None
        self.room.unpublish(self.participant, self.camera)
        self.camera = None

    def share_screen(self) -> None:
        assert self.participant is not None
        track = rtc.LocalVideoTrack.create_video_track(f"{self.identity}-screen", self._screen)
        self.screen = self.room.publish(self.participant, track, rtc.TrackSource.SOURCE_SCREENSHARE)

    async def leave(self) -> None:
        await self._stop_feeding()
        assert self.participant is not None
        self.room.leave(self.participant)
        self.participant = self.camera = self.microphone = self.screen = None

    async def close(self) -> None:
        await self._stop_feeding()
        if not self._closed:
            self._closed = True
            for source in (self._video, self._screen, self._audio):
                await source.aclose()

    async def _stop_feeding(self) -> None:
        if self._feeder is not None:
            self._feeder.cancel()
            await asyncio.gather(self._feeder, return_exceptions=True)
            self._feeder = None

    async def _feed(self) -> None:
        """Face frames at VIDEO_FPS and speech in 20 ms chunks, paced by the wall clock."""
        start = time.monotonic()
        next_video = 0.0
        sent_audio_s = 0.0
        while True:
            elapsed = time.monotonic() - start
            if elapsed >= next_video:
                rgb = face_frame(elapsed, width=self.width, height=self.height, portrait_side=self.height)
                frame = rtc.VideoFrame(self.width, self.height, rtc.VideoBufferType.RGB24, rgb.tobytes())
                self._video.capture_frame(frame)
                self._screen.capture_frame(frame)
                self.frames_sent += 1
                next_video += 1 / VIDEO_FPS
            while sent_audio_s < elapsed + AUDIO_CHUNK_S:
                pcm = speech_pcm(AUDIO_CHUNK_S, offset_s=sent_audio_s)
                await self._audio.capture_frame(rtc.AudioFrame(pcm.tobytes(), 16000, 1, len(pcm)))
                sent_audio_s += AUDIO_CHUNK_S
            await asyncio.sleep(0.01)
