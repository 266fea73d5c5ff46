"""A stand-in for Zoom's side of RTMS, written from the shared ZOOM_RTMS.md: for the tests,
`emotion-bot simulate --zoom` and the load check.

It checks the signaling handshake as Zoom does (protocol version, meeting/stream pair, the
comma-separated signature), answers with the media URL(s), sends keep-alives on both sockets and
stops a client that misses three, answers the media handshake (optionally late or never, as Zoom's
own mock does), emits join/leave/active-speaker/video events, and streams each participant's media
from files at real pace: audio as base64 L16 16 kHz mono in 20 ms packets per speaker, video as JPG
frames of the active speaker (or of the subscribed user in individual mode) at the fps asked for.
Timestamps are milliseconds since the epoch, as Zoom's are. Test hooks drop sockets, inject raw
messages and end the stream.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from bot.zoom import protocol
from bot.zoom.protocol import Event, Msg
from bot.zoom.webhook import sign

logger = logging.getLogger(__name__)

AUDIO_PACKET_SAMPLES = 320  # 20 ms at 16 kHz


@dataclass
class FakeParticipant:
    user_id: int
    user_name: str
    audio: np.ndarray | None = None  # int16 16 kHz mono, looped
    frames: Sequence[bytes] = ()  # JPG frames, looped
    announced: bool = True  # False: already in the meeting, never announced by a join event
    camera_on: bool = True


@dataclass
class FakeMeeting:
    meeting_uuid: str
    rtms_stream_id: str
    participants: list[FakeParticipant]
    speaker_turn_s: float = 3.0  # the active speaker changes this often (round robin)
    duration_s: float | None = None  # then the stream ends (state TERMINATED, reason 6 meeting ended)


@dataclass
class FakeOptions:
    keepalive_s: float = 5.0
    answer_media_handshake: bool = True
    media_answer_delay_s: float = 0.0  # media flows meanwhile: a client must not wait for the answer
    send_media_before_ready: bool = False  # Zoom's mock relays media regardless of CLIENT_READY_ACK
    refuse_status: int = 0  # non-zero: the signaling handshake is answered with this status
    separate_media_urls: bool = False  # one socket per media type instead of `all`


@dataclass
class FakeStats:
    signaling_connections: int = 0
    media_connections: int = 0
    keepalive_answers: Counter[str] = field(default_factory=Counter)
    ready_acks: int = 0
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    media_handshakes: list[dict[str, Any]] = field(default_factory=list)
    video_subscriptions: list[int] = field(default_factory=list)
    sent: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)


class FakeRtmsServer:
    """`async with FakeRtmsServer(client_id, client_secret, meeting) as fake:` then
    `fake.webhook_started()` for the body Zoom would post."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        meeting: FakeMeeting,
        options: FakeOptions | None = None,
        *,
        host: str = "127.0.0.1",
        ssl_context: Any = None,
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.meeting = meeting
        self.options = options or FakeOptions()
        self.stats = FakeStats()
        self._host = host
        self._ssl = ssl_context
        self._server: Server | None = None
        self._signaling: set[ServerConnection] = set()
        self._media: dict[ServerConnection, int] = {}  # socket -> media_type bitmask it asked for
        self._ready = asyncio.Event()
        self._video_fps = 2
        self._video_mode = protocol.VIDEO_SINGLE_ACTIVE_STREAM
        self._subscribed: int | None = None
        self._speaker = 0
        self._started_ms = time.time() * 1000
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = asyncio.Event()
        self.stopped = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeRtmsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        self._server = await serve(
            self._handle, self._host, 0, ssl=self._ssl, max_size=1 << 20, ping_interval=None
        )
        self._tasks = [asyncio.create_task(self._keepalives()), asyncio.create_task(self._stream_media())]

    async def close(self) -> None:
        self._closed.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"{'wss' if self._ssl else 'ws'}://{self._host}:{port}"

    @property
    def signature(self) -> str:
        return protocol.handshake_signature(
            self.client_id, self.client_secret, self.meeting.meeting_uuid, self.meeting.rtms_stream_id
        )

    # -- webhooks Zoom would send ----------------------------------------------------------------

    def webhook_started(self, *, nested: bool = False, product: str = "meeting") -> bytes:
        fields = {
            "meeting_uuid": self.meeting.meeting_uuid,
            "rtms_stream_id": self.meeting.rtms_stream_id,
            "server_urls": f"{self.base_url}/signaling",
            "operator_id": "op-host-1",
        }
        payload: dict[str, Any] = {"object": {**fields, "meeting_id": 81234567890}} if nested else fields
        if nested:
            payload["account_id"] = "acct-1"
        body = {"event": f"{product}.rtms_started", "event_ts": int(self._started_ms), "payload": payload}
        return json.dumps(body).encode()

    def webhook_stopped(self, stop_reason: int = 6) -> bytes:
        payload = {
            "meeting_uuid": self.meeting.meeting_uuid,
            "rtms_stream_id": self.meeting.rtms_stream_id,
            "stop_reason": stop_reason,
        }
        return json.dumps(
            {"event": "meeting.rtms_stopped", "event_ts": int(time.time() * 1000), "payload": payload}
        ).encode()

    # -- test hooks ------------------------------------------------------------------------------

    async def drop_media(self) -> None:
        """Close every media socket abruptly (as a network fault would); signaling stays."""
        for ws in list(self._media):
            ws.transport.abort()

    async def drop_all(self) -> None:
        for ws in [*self._media, *self._signaling]:
            ws.transport.abort()

    async def send_media_raw(self, frame: str | bytes) -> None:
        for ws in list(self._media):
            with contextlib.suppress(ConnectionClosed):
                await ws.send(frame)

    async def send_signaling(self, message: dict[str, Any]) -> None:
        for ws in list(self._signaling):
            with contextlib.suppress(ConnectionClosed):
                await ws.send(protocol.dumps(message))

    async def event(self, event_type: int, users: Sequence[FakeParticipant], *, single: bool = False) -> None:
        body: dict[str, Any] = {"event_type": event_type, "timestamp": self._now_ms()}
        if single:
            body.update(user_id=users[0].user_id, user_name=users[0].user_name)
        else:
            body["participants"] = [{"user_id": p.user_id, "user_name": p.user_name} for p in users]
        await self.send_signaling({"msg_type": Msg.EVENT_UPDATE, "event": body})

    async def leave(self, participant: FakeParticipant) -> None:
        if participant in self.meeting.participants:
            self.meeting.participants.remove(participant)
        await self.event(Event.PARTICIPANT_LEAVE, [participant])

    async def end_stream(self, stop_reason: int = 6) -> None:
        """What Zoom does when the meeting ends: state TERMINATED on signaling, then close."""
        await self.send_signaling(
            {
                "msg_type": Msg.STREAM_STATE_UPDATE,
                "state": protocol.STREAM_TERMINATED,
                "stop_reason": stop_reason,
            }
        )
        self.stopped.set()
        for ws in [*self._media, *self._signaling]:
            await ws.close()

    # -- sockets ---------------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else "/"
        try:
            if path.startswith("/signaling"):
                await self._signaling_socket(ws)
            elif path.startswith("/media"):
                await self._media_socket(ws, path)
            else:
                await ws.close(1008, "unknown path")
        except ConnectionClosed:
            pass
        finally:
            self._signaling.discard(ws)
            self._media.pop(ws, None)

    def _check(self, message: dict[str, Any], kind: int) -> int:
        """0 if a handshake is valid, else the status the fake answers (codes are ours, not Zoom's)."""
        if message.get("msg_type") != kind or message.get("protocol_version") != protocol.PROTOCOL_VERSION:
            return 1
        if (message.get("meeting_uuid"), message.get("rtms_stream_id")) != (
            self.meeting.meeting_uuid,
            self.meeting.rtms_stream_id,
        ):
            return 2
        return 0 if message.get("signature") == self.signature else 3

    async def _signaling_socket(self, ws: ServerConnection) -> None:
        hello = json.loads(await ws.recv())
        status = self._check(hello, Msg.SIGNALING_HAND_SHAKE_REQ) or self.options.refuse_status
        if self.stopped.is_set():
            status = 4
        base = self.base_url
        urls = (
            {"audio": f"{base}/media/audio", "video": f"{base}/media/video"}
            if self.options.separate_media_urls
            else {"all": f"{base}/media/all", "audio": f"{base}/media/audio", "video": f"{base}/media/video"}
        )
        await ws.send(
            protocol.dumps(
                {
                    "msg_type": Msg.SIGNALING_HAND_SHAKE_RESP,
                    "protocol_version": protocol.PROTOCOL_VERSION,
                    "sequence": hello.get("sequence"),
                    "status_code": status,
                    "media_server": {"server_urls": urls},
                }
            )
        )
        if status:
            self.stats.refused[str(status)] += 1
            await ws.close()
            return
        self.stats.signaling_connections += 1
        self._signaling.add(ws)
        announced = [p for p in self.meeting.participants if p.announced]
        async for frame in ws:
            message = json.loads(frame)
            kind = message.get("msg_type")
            if kind == Msg.KEEP_ALIVE_RESP:
                self.stats.keepalive_answers["signaling"] += 1
            elif kind == Msg.EVENT_SUBSCRIPTION:
                self.stats.subscriptions.append(message)
                if announced:
                    await self.event(Event.PARTICIPANT_JOIN, announced)
                    cams = [p for p in announced if p.camera_on]
                    if cams:
                        await self.event(Event.PARTICIPANT_VIDEO_ON, cams)
            elif kind == Msg.CLIENT_READY_ACK:
                self.stats.ready_acks += 1
                self._ready.set()
            elif kind == Msg.VIDEO_SUBSCRIPTION_REQ:
                self._subscribed = int(message["user_id"]) if message.get("subscribe") else None
                self.stats.video_subscriptions.append(int(message["user_id"]))
                await ws.send(protocol.dumps({"msg_type": Msg.VIDEO_SUBSCRIPTION_RESP, "status_code": 0}))

    async def _media_socket(self, ws: ServerConnection, path: str) -> None:
        hello = json.loads(await ws.recv())
        status = self._check(hello, Msg.DATA_HAND_SHAKE_REQ)
        if status:
            self.stats.refused[f"media_{status}"] += 1
            await ws.send(protocol.dumps({"msg_type": Msg.DATA_HAND_SHAKE_RESP, "status_code": status}))
            await ws.close()
            return
        self.stats.media_handshakes.append(hello)
        self.stats.media_connections += 1
        params = hello.get("media_params", {})
        video = params.get("video", {})
        self._video_fps = max(1, min(int(video.get("fps", 2)), protocol.MAX_JPG_FPS))
        self._video_mode = video.get("data_opt", protocol.VIDEO_SINGLE_ACTIVE_STREAM)
        asked = int(hello.get("media_type", 0))
        served = {"/media/audio": protocol.MEDIA_AUDIO, "/media/video": protocol.MEDIA_VIDEO}.get(path, 0xFF)
        self._media[ws] = asked & served
        if self.options.answer_media_handshake:
            asyncio.get_running_loop().call_later(
                self.options.media_answer_delay_s,
                lambda: asyncio.ensure_future(self._answer_media(ws)),
            )
        async for frame in ws:
            if json.loads(frame).get("msg_type") == Msg.KEEP_ALIVE_RESP:
                self.stats.keepalive_answers["media"] += 1

    async def _answer_media(self, ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws.send(protocol.dumps({"msg_type": Msg.DATA_HAND_SHAKE_RESP, "status_code": 0}))

    async def _keepalives(self) -> None:
        """Zoom stops a client that misses three keep-alives on a socket (stop reason 24)."""
        missed: Counter[ServerConnection] = Counter()
        answered: dict[ServerConnection, int] = {}
        while True:
            await asyncio.sleep(self.options.keepalive_s)
            for ws in [*self._signaling, *self._media]:
                key = "signaling" if ws in self._signaling else "media"
                total = self.stats.keepalive_answers[key]
                if ws in answered and answered[ws] == total:
                    missed[ws] += 1
                answered[ws] = total
                if missed[ws] >= 3:
                    await ws.close(1000, "keep-alive timeout")
                    continue
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(
                        protocol.dumps({"msg_type": Msg.KEEP_ALIVE_REQ, "timestamp": self._now_ms()})
                    )

    # -- media -----------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(time.time() * 1000)

    async def _stream_media(self) -> None:
        """20 ms audio ticks on absolute deadlines; video frames at the asked fps; speaker turns."""
        if not self.options.send_media_before_ready:
            await self._ready.wait()
        loop = asyncio.get_running_loop()
        start = loop.time()
        tick = 0
        next_video = 0.0
        next_turn = self.meeting.speaker_turn_s
        await self._announce_speaker()
        while True:
            now = tick * 0.02
            if self.meeting.duration_s is not None and now >= self.meeting.duration_s:
                await self.end_stream(6)
                return
            await self._send_audio(tick)
            if now >= next_video:
                await self._send_video(int(now * self._video_fps))
                next_video += 1.0 / self._video_fps
            if now >= next_turn and len(self.meeting.participants) > 1:
                self._speaker = (self._speaker + 1) % len(self.meeting.participants)
                await self._announce_speaker()
                next_turn += self.meeting.speaker_turn_s
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * 0.02 - loop.time()))

    async def _announce_speaker(self) -> None:
        speaker = self._current_speaker()
        if speaker is not None:
            await self.event(Event.ACTIVE_SPEAKER_CHANGE, [speaker], single=True)

    def _current_speaker(self) -> FakeParticipant | None:
        people = self.meeting.participants
        return people[self._speaker % len(people)] if people else None

    async def _send_audio(self, tick: int) -> None:
        ts = self._now_ms()
        for person in list(self.meeting.participants):
            if person.audio is None or not len(person.audio):
                continue
            start = (tick * AUDIO_PACKET_SAMPLES) % len(person.audio)
            chunk = np.take(person.audio, range(start, start + AUDIO_PACKET_SAMPLES), mode="wrap")
            await self._broadcast(
                protocol.MEDIA_AUDIO, Msg.MEDIA_DATA_AUDIO, person, chunk.astype("<i2").tobytes(), ts
            )

    async def _send_video(self, index: int) -> None:
        if self._video_mode == protocol.VIDEO_SINGLE_INDIVIDUAL_STREAM:
            person = next((p for p in self.meeting.participants if p.user_id == self._subscribed), None)
        else:
            person = self._current_speaker()
        if person is None or not person.frames or not person.camera_on:
            return
        frame = person.frames[index % len(person.frames)]
        await self._broadcast(protocol.MEDIA_VIDEO, Msg.MEDIA_DATA_VIDEO, person, frame, self._now_ms())

    async def _broadcast(self, media: int, kind: int, person: FakeParticipant, data: bytes, ts: int) -> None:
        text = protocol.dumps(
            {
                "msg_type": kind,
                "content": {
                    "user_id": person.user_id,
                    "user_name": person.user_name,
                    "data": base64.b64encode(data).decode(),
                    "timestamp": ts,
                },
            }
        )
        for ws, mask in list(self._media.items()):
            if mask & media:
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(text)
                    self.stats.sent["audio" if media == protocol.MEDIA_AUDIO else "video"] += 1


def signed_headers(secret_token: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The headers Zoom puts on a webhook: `x-zm-request-timestamp` and `x-zm-signature`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "content-type": "application/json",
        "x-zm-request-timestamp": ts,
        "x-zm-signature": sign(secret_token, ts, body),
    }
