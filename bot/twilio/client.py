"""A stand-in for Twilio's side of a Media Stream: for `simulate --twilio`, the tests and the load check.

It sends what Twilio documents (`connected`, `start`, `media` every 20 ms per track, `stop`) over a
real WebSocket, with the upgrade signed as Twilio signs it (`X-Twilio-Signature` over the URL, auth
token), and the audio mu-law encoded at 8 kHz. Frames go out at real pace on absolute deadlines, so
a slow moment does not make the stream drift; numbers are JSON strings, as Twilio sends them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.twilio import mulaw
from bot.twilio.resample import PHONE_RATE
from bot.twilio.signature import sign

FRAME_SAMPLES = 160  # 20 ms at 8 kHz
FRAME_MS = 20


def load_phone_audio(path: Path | str) -> np.ndarray:
    """Any file soundfile reads -> int16 mono at 8 kHz (what a phone line carries)."""
    from emotion_models.voice.audio import load_audio

    wave = load_audio(path, PHONE_RATE)
    return np.clip(np.round(wave * 32767.0), -32768, 32767).astype(np.int16)


def mulaw_frames(pcm8k: np.ndarray) -> list[bytes]:
    """20 ms mu-law payloads (the last one may be shorter)."""
    return [mulaw.encode(pcm8k[i : i + FRAME_SAMPLES]) for i in range(0, len(pcm8k), FRAME_SAMPLES)]


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class StreamIds:
    call_sid: str = field(default_factory=lambda: new_sid("CA"))
    stream_sid: str = field(default_factory=lambda: new_sid("MZ"))
    account_sid: str = field(default_factory=lambda: new_sid("AC"))


class Messages:
    """Builds the JSON text frames of one stream, numbering them as Twilio does."""

    def __init__(self, ids: StreamIds | None = None) -> None:
        self.ids = ids or StreamIds()
        self._sequence = 0
        self._chunks: dict[str, int] = {}

    def _next(self) -> str:
        self._sequence += 1
        return str(self._sequence)

    def connected(self) -> str:
        return json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})

    def start(
        self,
        tracks: Sequence[str],
        params: Mapping[str, str] | None = None,
        media_format: Mapping[str, Any] | None = None,
    ) -> str:
        fmt = dict(media_format or {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1})
        return json.dumps(
            {
                "event": "start",
                "sequenceNumber": self._next(),
                "start": {
                    "accountSid": self.ids.account_sid,
                    "streamSid": self.ids.stream_sid,
                    "callSid": self.ids.call_sid,
                    "tracks": list(tracks),
                    "customParameters": dict(params or {}),
                    "mediaFormat": fmt,
                },
                "streamSid": self.ids.stream_sid,
            }
        )

    def media(self, track: str, timestamp_ms: int, payload: bytes) -> str:
        self._chunks[track] = self._chunks.get(track, 0) + 1
        return json.dumps(
            {
                "event": "media",
                "sequenceNumber": self._next(),
                "media": {
                    "track": track,
                    "chunk": str(self._chunks[track]),
                    "timestamp": str(timestamp_ms),
                    "payload": base64.b64encode(payload).decode("ascii"),
                },
                "streamSid": self.ids.stream_sid,
            }
        )

    def stop(self) -> str:
        return json.dumps(
            {
                "event": "stop",
                "sequenceNumber": self._next(),
                "streamSid": self.ids.stream_sid,
                "stop": {"accountSid": self.ids.account_sid, "callSid": self.ids.call_sid},
            }
        )


def media_schedule(
    tracks: Mapping[str, np.ndarray], *, gaps_ms: Mapping[str, Sequence[tuple[int, int]]] | None = None
) -> list[tuple[int, str, bytes]]:
    """(timestamp_ms, track, payload) for every frame of every track, in send order.

    `gaps_ms[track]` = [(from_ms, to_ms)]: frames in those spans are not sent (a hold, a mute), so
    the receiver sees the jump in `timestamp`.
    """
    schedule = []
    for track, pcm in tracks.items():
        spans = (gaps_ms or {}).get(track, ())
        for index, payload in enumerate(mulaw_frames(pcm)):
            ts = index * FRAME_MS
            if any(lo <= ts < hi for lo, hi in spans):
                continue
            schedule.append((ts, track, payload))
    schedule.sort(key=lambda item: (item[0], item[1]))
    return schedule


@dataclass
class StreamResult:
    ids: StreamIds
    frames_sent: int = 0
    close_code: int | None = None
    close_reason: str | None = None
    late_s: float = 0.0  # how far behind real pace the sender fell at worst


async def connect(url: str, auth_token: str | None, *, signature: str | None = None, **kwargs: Any) -> Any:
    """A websockets client connection with Twilio's signature header (or the given one)."""
    from websockets.asyncio.client import connect as ws_connect

    headers = {}
    if signature is None and auth_token is not None:
        signature = sign(auth_token, url)
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    kwargs.setdefault("open_timeout", 30)
    return await ws_connect(url, additional_headers=headers, **kwargs)


async def stream_call(
    url: str,
    auth_token: str,
    tracks: Mapping[str, np.ndarray],
    *,
    params: Mapping[str, str] | None = None,
    ids: StreamIds | None = None,
    realtime: bool = True,
    send_stop: bool = True,
    gaps_ms: Mapping[str, Sequence[tuple[int, int]]] | None = None,
    stop_event: asyncio.Event | None = None,
) -> StreamResult:
    """One whole stream: connect (signed), connected, start, media at real pace, stop, close."""
    messages = Messages(ids)
    result = StreamResult(messages.ids)
    loop = asyncio.get_running_loop()
    async with await connect(url, auth_token) as ws:
        await ws.send(messages.connected())
        await ws.send(messages.start(list(tracks), params))
        began = loop.time()
        for ts, track, payload in media_schedule(tracks, gaps_ms=gaps_ms):
            if stop_event is not None and stop_event.is_set():
                break
            if realtime:
                delay = began + ts / 1000.0 - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    result.late_s = max(result.late_s, -delay)
            await ws.send(messages.media(track, ts, payload))
            result.frames_sent += 1
        if send_stop:
            await ws.send(messages.stop())
        await ws.close()
        result.close_code, result.close_reason = ws.close_code, ws.close_reason
    return result
