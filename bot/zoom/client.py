"""The RTMS client: one signaling socket and the media socket(s) of one stream, kept alive.

What Zoom needs from a client (shared ZOOM_RTMS.md §1-6): the signaling handshake (signature over
client_id,meeting_uuid,rtms_stream_id), an event subscription, a media handshake per media socket
asking for L16 16 kHz mono audio per speaker and JPG video, CLIENT_READY_ACK, and an answer to
every keep-alive on both sockets. Everything the stream carries goes to a `StreamSink`; this module
knows nothing about calls or the pipeline.

Faults: a socket that closes, errs or goes silent beyond `receive_timeout_s` is reconnected with
backoff. The stream is over when Zoom says so (stream/session state), when the signaling handshake
is refused (its status code is the reason; retrying would only be refused again), when `stop()` is
called, or when no socket at all was up for `reconnect_window_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

from bot.zoom import messages, protocol
from bot.zoom.config import ZoomCredentials
from bot.zoom.messages import BadMessage, EventUpdate, MediaPacket
from bot.zoom.protocol import Msg, VideoMode
from bot.zoom.webhook import StreamStart

logger = logging.getLogger(__name__)

# Hard cap per frame: websockets closes a socket that sends more (the client reconnects). Frames
# between messages.MAX_MESSAGE_BYTES and this are read, counted and skipped.
HARD_MAX_FRAME_BYTES = 16 << 20
READY_FALLBACK_S = 3.0  # Zoom's mock never answers the media handshake: send the ready ack anyway
HANDSHAKE_TIMEOUT_S = 10.0
BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
_NETWORK_ERRORS = (OSError, TimeoutError, WebSocketException, InvalidHandshake, InvalidURI)

EndKind = Literal["stopped", "refused", "lost", "closed"]


@dataclass(frozen=True, slots=True)
class StreamEnd:
    kind: EndKind  # stopped: Zoom ended it; refused: a handshake failed; lost: sockets gone; closed: us
    status_code: int | None = None
    stop_reason: int | None = None
    detail: str = ""


class StreamSink(Protocol):
    async def on_media(self, packet: MediaPacket) -> None: ...

    async def on_event(self, event: EventUpdate) -> None: ...


@dataclass(frozen=True, slots=True)
class ClientOptions:
    video_fps: int = 2
    video_mode: VideoMode = "speaker"
    reconnect_window_s: float = 30.0
    receive_timeout_s: float = 90.0
    backoff_s: Sequence[float] = BACKOFF_S
    ssl_context: ssl.SSLContext | None = None  # wss:// only; None = the system's trust store


class RtmsClient:
    def __init__(
        self,
        start: StreamStart,
        credentials: ZoomCredentials,
        sink: StreamSink,
        options: ClientOptions | None = None,
        counters: Counter[str] | None = None,
    ) -> None:
        self.start = start
        self.options = options or ClientOptions()
        self.counters: Counter[str] = counters if counters is not None else Counter()
        self._sink = sink
        self._signature = protocol.handshake_signature(
            credentials.client_id, credentials.client_secret, start.meeting_uuid, start.rtms_stream_id
        )
        self._sequence = 0
        self._signaling: ClientConnection | None = None
        self._media_urls: dict[str, str] = {}  # socket name ("all", "audio", "video") -> URL
        self._media_tasks: dict[str, asyncio.Task[None]] = {}
        self._up: set[str] = set()
        self._down_since: float | None = time.monotonic()
        self._ready_sent = False
        self._media_answered = False
        self._end: asyncio.Future[StreamEnd] | None = None
        self.connections = Counter[str]()  # successful connects per socket (reconnects show here)

    # -- running ---------------------------------------------------------------------------------

    async def run(self) -> StreamEnd:
        """Connect, stream, reconnect as needed; return why the stream ended."""
        self._end = asyncio.get_running_loop().create_future()
        tasks = [
            asyncio.create_task(self._signaling_loop(), name=f"rtms signaling {self.start.rtms_stream_id}"),
            asyncio.create_task(self._watchdog(), name="rtms watchdog"),
        ]
        try:
            return await self._end
        finally:
            for task in [*tasks, *self._media_tasks.values()]:
                task.cancel()
            await asyncio.gather(*tasks, *self._media_tasks.values(), return_exceptions=True)

    def stop(self, end: StreamEnd | None = None) -> None:
        """End the stream (the first end given wins); `run()` returns it."""
        self._finish(end or StreamEnd("closed"))

    @property
    def connected(self) -> frozenset[str]:
        return frozenset(self._up)

    async def subscribe_video(self, user_id: str, subscribe: bool = True) -> bool:
        """Individual video mode: ask for `user_id`'s camera (replaces the previous subscription)."""
        ws = self._signaling
        if ws is None:
            return False
        with contextlib.suppress(*_NETWORK_ERRORS):
            await ws.send(protocol.video_subscription(self.start.rtms_stream_id, user_id, subscribe))
            return True
        return False

    def _finish(self, end: StreamEnd) -> None:
        if self._end is not None and not self._end.done():
            self._end.set_result(end)

    # -- signaling -------------------------------------------------------------------------------

    async def _signaling_loop(self) -> None:
        failures = 0
        urls = self.start.server_urls
        while True:
            url = urls[failures % len(urls)]  # several URLs: try the next one after a failure
            try:
                async with self._connect(url) as ws:
                    if await self._signaling_handshake(ws):
                        failures = 0
                        await self._signaling_session(ws)
            except _NETWORK_ERRORS as exc:
                logger.warning("RTMS signaling %s: %s", self._name(), _describe(exc))
            finally:
                self._signaling = None
                self._set_down("signaling")
            failures += 1
            await asyncio.sleep(self._backoff(failures))

    async def _signaling_handshake(self, ws: ClientConnection) -> bool:
        self._sequence += 1
        await ws.send(
            protocol.signaling_handshake(
                self.start.meeting_uuid, self.start.rtms_stream_id, self._signature, self._sequence
            )
        )
        async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
            while True:
                message = await self._receive(ws)
                if message is None:
                    continue
                if message["msg_type"] == Msg.KEEP_ALIVE_REQ:
                    await ws.send(protocol.keep_alive_response(message.get("timestamp")))
                    continue
                if message["msg_type"] == Msg.SIGNALING_HAND_SHAKE_RESP:
                    break
                self._count(f"before_handshake_type_{message['msg_type']}")
        code = messages.status_code(message)
        if code != 0:
            logger.error("RTMS %s: signaling handshake refused, status_code %d", self._name(), code)
            self._finish(StreamEnd("refused", status_code=code, detail=f"zoom_status:{code}"))
            return False
        self._media_urls.update(_media_urls(message))
        if not self._media_urls:
            logger.error("RTMS %s: handshake answer names no media server", self._name())
            self._finish(StreamEnd("refused", status_code=code, detail="zoom_no_media_url"))
            return False
        self._signaling = ws
        self._ready_sent = False
        self.connections["signaling"] += 1
        self._set_up("signaling")
        await ws.send(protocol.event_subscription())
        self._start_media()
        self._maybe_ready()
        return True

    async def _signaling_session(self, ws: ClientConnection) -> None:
        while True:
            message = await self._receive(ws)
            if message is None:
                continue
            kind = message["msg_type"]
            if kind == Msg.KEEP_ALIVE_REQ:
                await ws.send(protocol.keep_alive_response(message.get("timestamp")))
            elif kind == Msg.EVENT_UPDATE:
                await self._event(message)
            elif kind in (Msg.STREAM_STATE_UPDATE, Msg.SESSION_STATE_UPDATE):
                self._state_update(message)
            elif kind in messages.MEDIA_KINDS:
                await self._media(message)  # not where Zoom sends media, but usable
            elif kind in (Msg.VIDEO_SUBSCRIPTION_RESP, Msg.STREAM_CLOSE_RESP, Msg.SIGNALING_HAND_SHAKE_RESP):
                self._log_status(message)
            else:
                self._count(f"unknown_type_{kind}")

    def _maybe_ready(self) -> None:
        """CLIENT_READY_ACK once per signaling connection, after the media handshake was answered
        or, since some servers never answer it, a few seconds after a media socket opened."""
        ws = self._signaling
        if ws is None or self._ready_sent or not (self._media_answered or self._up - {"signaling"}):
            return
        if not self._media_answered:
            asyncio.get_running_loop().call_later(READY_FALLBACK_S, self._ready_fallback, ws)
            return
        self._send_ready(ws)

    def _ready_fallback(self, ws: ClientConnection) -> None:
        if ws is self._signaling and not self._ready_sent:
            self._send_ready(ws)

    def _send_ready(self, ws: ClientConnection) -> None:
        self._ready_sent = True
        task = asyncio.create_task(ws.send(protocol.client_ready(self.start.rtms_stream_id)))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # a closed socket reconnects

    def _state_update(self, message: dict[str, Any]) -> None:
        state = message.get("state")
        reason = message.get("stop_reason")
        reason = reason if isinstance(reason, int) and not isinstance(reason, bool) else None
        stream_over = message["msg_type"] == Msg.STREAM_STATE_UPDATE and state == protocol.STREAM_TERMINATED
        session_over = message["msg_type"] == Msg.SESSION_STATE_UPDATE and state == protocol.SESSION_STOPPED
        logger.info(
            "RTMS %s: state %s (message %d, stop_reason %s)", self._name(), state, message["msg_type"], reason
        )
        if stream_over or session_over:
            detail = f"zoom_stop_reason:{reason}" if reason else "stream_stopped"
            self._finish(StreamEnd("stopped", stop_reason=reason, detail=detail))

    def _log_status(self, message: dict[str, Any]) -> None:
        code = messages.status_code(message)
        if code != 0:
            logger.warning("RTMS %s: message %d status_code %d", self._name(), message["msg_type"], code)

    # -- media -----------------------------------------------------------------------------------

    def _start_media(self) -> None:
        # One socket for everything when Zoom offers it, else one per media type we need.
        wanted = {"all": protocol.MEDIA_AUDIO | protocol.MEDIA_VIDEO}
        if "all" not in self._media_urls:
            wanted = {"audio": protocol.MEDIA_AUDIO, "video": protocol.MEDIA_VIDEO}
        for name, media_type in wanted.items():
            task = self._media_tasks.get(name)
            if name in self._media_urls and (task is None or task.done()):
                self._media_tasks[name] = asyncio.create_task(
                    self._media_loop(name, media_type), name=f"rtms media {name}"
                )

    async def _media_loop(self, name: str, media_type: int) -> None:
        failures = 0
        while True:
            try:
                async with self._connect(self._media_urls[name]) as ws:
                    self._sequence += 1
                    await ws.send(
                        protocol.media_handshake(
                            self.start.meeting_uuid,
                            self.start.rtms_stream_id,
                            self._signature,
                            media_type,
                            video_fps=self.options.video_fps,
                            video_mode=self.options.video_mode,
                            sequence=self._sequence,
                        )
                    )
                    failures = 0
                    self.connections[name] += 1
                    self._set_up(name)
                    self._maybe_ready()
                    await self._media_session(ws)
            except _NETWORK_ERRORS as exc:
                logger.warning("RTMS media (%s) %s: %s", name, self._name(), _describe(exc))
            finally:
                self._set_down(name)
            failures += 1
            await asyncio.sleep(self._backoff(failures))

    async def _media_session(self, ws: ClientConnection) -> None:
        while True:
            message = await self._receive(ws)
            if message is None:
                continue
            kind = message["msg_type"]
            if kind in messages.MEDIA_KINDS:
                await self._media(message)  # also before the handshake answer: Zoom's mock never sends one
            elif kind == Msg.KEEP_ALIVE_REQ:
                await ws.send(protocol.keep_alive_response(message.get("timestamp")))
            elif kind == Msg.DATA_HAND_SHAKE_RESP:
                code = messages.status_code(message)
                if code != 0:
                    logger.error("RTMS %s: media handshake refused, status_code %d", self._name(), code)
                    self._finish(StreamEnd("refused", status_code=code, detail=f"zoom_status:{code}"))
                    return
                self._media_answered = True
                self._maybe_ready()
            elif kind in (Msg.STREAM_STATE_UPDATE, Msg.SESSION_STATE_UPDATE):
                self._state_update(message)
            elif kind == Msg.EVENT_UPDATE:
                await self._event(message)
            else:
                self._count(f"unknown_type_{kind}")

    async def _media(self, message: dict[str, Any]) -> None:
        try:
            packet = messages.media_packet(message)
        except BadMessage as exc:
            self._count(str(exc))
            return
        self.counters[f"{packet.kind}_packets"] += 1
        await self._sink.on_media(packet)

    async def _event(self, message: dict[str, Any]) -> None:
        try:
            event = messages.event_update(message)
        except BadMessage as exc:
            self._count(str(exc))
            return
        await self._sink.on_event(event)

    # -- shared ----------------------------------------------------------------------------------

    def _connect(self, url: str) -> connect:
        # Zoom keeps sockets alive with its own keep-alive messages; websockets' pings are off
        # so that a server that does not answer pings is not dropped for it.
        return connect(
            url,
            ssl=self.options.ssl_context if url.startswith("wss://") else None,
            max_size=HARD_MAX_FRAME_BYTES,
            ping_interval=None,
            open_timeout=HANDSHAKE_TIMEOUT_S,
            close_timeout=2.0,
        )

    async def _receive(self, ws: ClientConnection) -> dict[str, Any] | None:
        """The next message, or None for one that was counted and skipped. Raises on a dead socket."""
        async with asyncio.timeout(self.options.receive_timeout_s):
            frame = await ws.recv()
        try:
            return messages.decode(frame)
        except BadMessage as exc:
            self._count(str(exc))
            return None

    def _count(self, reason: str) -> None:
        self.counters[reason] += 1
        if self.counters[reason] in (1, 100, 10_000):  # the first, then rarely: a flood stays quiet
            logger.warning(
                "RTMS %s: skipped a message (%s), %d so far", self._name(), reason, self.counters[reason]
            )

    def _set_up(self, name: str) -> None:
        self._up.add(name)
        self._down_since = None

    def _set_down(self, name: str) -> None:
        self._up.discard(name)
        if not self._up and self._down_since is None:
            self._down_since = time.monotonic()

    async def _watchdog(self) -> None:
        window = self.options.reconnect_window_s
        while True:
            await asyncio.sleep(min(1.0, window / 4))
            if self._down_since is not None and time.monotonic() - self._down_since > window:
                logger.error("RTMS %s: no connection for %.0f s; giving up", self._name(), window)
                self._finish(StreamEnd("lost", detail="connection_lost"))
                return

    def _backoff(self, failures: int) -> float:
        steps = self.options.backoff_s
        return steps[min(failures, len(steps)) - 1]

    def _name(self) -> str:
        return f"stream {self.start.rtms_stream_id}"


def _media_urls(answer: dict[str, Any]) -> dict[str, str]:
    server = answer.get("media_server")
    urls = server.get("server_urls") if isinstance(server, dict) else None
    if isinstance(urls, str):
        urls = {"all": urls}
    if not isinstance(urls, dict):
        return {}
    return {
        name: url
        for name, url in urls.items()
        if name in ("all", "audio", "video") and isinstance(url, str) and url.startswith(("ws://", "wss://"))
    }


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
