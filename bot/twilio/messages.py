"""Twilio Media Streams messages (JSON text frames) parsed and checked into typed records.

Facts: ../shared/docs/TWILIO_MEDIA_STREAMS.md (twilio.com/docs/voice/media-streams/websocket-messages).
`sequenceNumber`, `chunk` and `timestamp` arrive as JSON strings; numbers are accepted too.
Anything malformed raises `BadMessage` with a short counter key and a reason: the stream handler
counts and skips it (or closes the stream, for a bad `start`), it never takes the server down.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

EXPECTED_ENCODING = "audio/x-mulaw"
EXPECTED_RATE = 8000
EXPECTED_CHANNELS = 1
TRACKS = ("inbound", "outbound")
# 20 ms is 160 bytes; a single message carrying more than 2 s of audio is not something Twilio sends.
MAX_PAYLOAD_BYTES = 16000
_MAX_PARAMETERS = 64
_MAX_PARAMETER_CHARS = 4096


class BadMessage(ValueError):
    """A message we cannot use. `key` names the counter (e.g. "bad_base64"); str() is the reason."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(reason)
        self.key = key


class UnsupportedFormat(BadMessage):
    """`start` announced audio other than mu-law 8 kHz mono: the stream is refused."""


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str | None
    version: str | None


@dataclass(frozen=True, slots=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str | None
    tracks: tuple[str, ...]
    custom_parameters: dict[str, str] = field(default_factory=dict)
    sequence_number: int | None = None


@dataclass(frozen=True, slots=True)
class Media:
    stream_sid: str | None
    track: str
    chunk: int | None
    timestamp_ms: int
    payload: bytes  # raw mu-law bytes (decoded from base64)
    sequence_number: int | None = None


@dataclass(frozen=True, slots=True)
class Mark:
    stream_sid: str | None
    name: str | None


@dataclass(frozen=True, slots=True)
class Dtmf:
    stream_sid: str | None
    track: str | None
    digit: str | None


@dataclass(frozen=True, slots=True)
class Stop:
    stream_sid: str | None
    call_sid: str | None


Message = Connected | Start | Media | Mark | Dtmf | Stop


def parse(text: str) -> Message:
    """One text frame -> a typed message; raises BadMessage."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadMessage("bad_json", f"not JSON: {exc.msg if hasattr(exc, 'msg') else exc}") from exc
    if not isinstance(data, dict):
        raise BadMessage("bad_json", f"expected a JSON object, got {type(data).__name__}")
    event = data.get("event")
    parser = _PARSERS.get(event) if isinstance(event, str) else None
    if parser is None:
        raise BadMessage("unknown_event", f"unknown event {str(event)[:40]!r}")
    return parser(data)


def _connected(data: dict[str, Any]) -> Connected:
    return Connected(_opt_str(data.get("protocol")), _opt_str(data.get("version")))


def _start(data: dict[str, Any]) -> Start:
    body = _object(data, "start", "bad_start")
    stream_sid = _opt_str(body.get("streamSid")) or _opt_str(data.get("streamSid"))
    call_sid = _opt_str(body.get("callSid"))
    if not stream_sid or not call_sid:
        raise BadMessage("bad_start", "start without streamSid or callSid")
    _check_format(body.get("mediaFormat"))
    raw_tracks = body.get("tracks", ["inbound"])
    if not isinstance(raw_tracks, list) or not raw_tracks:
        raise BadMessage("bad_start", "start.tracks must be a non-empty list")
    tracks = tuple(dict.fromkeys(str(t) for t in raw_tracks))
    unknown = [t for t in tracks if t not in TRACKS]
    if unknown:
        raise BadMessage("bad_start", f"unknown track(s) {unknown[:4]}; expected {list(TRACKS)}")
    return Start(
        stream_sid=stream_sid,
        call_sid=call_sid,
        account_sid=_opt_str(body.get("accountSid")),
        tracks=tracks,
        custom_parameters=_parameters(body.get("customParameters")),
        sequence_number=_opt_int(data.get("sequenceNumber"), "sequenceNumber", "bad_start"),
    )


def _check_format(fmt: Any) -> None:
    if not isinstance(fmt, dict):
        raise UnsupportedFormat("unsupported_format", "start.mediaFormat is missing")
    encoding, rate, channels = fmt.get("encoding"), fmt.get("sampleRate"), fmt.get("channels")
    try:
        ok = (encoding, int(rate), int(channels)) == (EXPECTED_ENCODING, EXPECTED_RATE, EXPECTED_CHANNELS)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise UnsupportedFormat(
            "unsupported_format",
            f"unsupported media format {str(encoding)[:32]}/{str(rate)[:8]} Hz/{str(channels)[:4]} ch; "
            f"expected {EXPECTED_ENCODING}/{EXPECTED_RATE} Hz/mono",
        )


def _parameters(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BadMessage("bad_start", "start.customParameters must be an object")
    if len(raw) > _MAX_PARAMETERS:
        raise BadMessage("bad_start", f"more than {_MAX_PARAMETERS} customParameters")
    params: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise BadMessage("bad_start", f"customParameter {str(key)[:40]!r} is not a string")
        value = str(value)
        if len(value) > _MAX_PARAMETER_CHARS:
            raise BadMessage("bad_start", f"customParameter {str(key)[:40]!r} is too long")
        params[str(key)] = value
    return params


def _media(data: dict[str, Any]) -> Media:
    body = _object(data, "media", "bad_media")
    track = body.get("track", "inbound")
    if not isinstance(track, str):
        raise BadMessage("bad_media", "media.track is not a string")
    timestamp = _opt_int(body.get("timestamp"), "media.timestamp", "bad_media")
    if timestamp is None or timestamp < 0:
        raise BadMessage("bad_media", "media.timestamp is missing or negative")
    payload = body.get("payload")
    if not isinstance(payload, str):
        raise BadMessage("bad_base64", "media.payload is not a string")
    if len(payload) > MAX_PAYLOAD_BYTES * 4 // 3 + 4:
        raise BadMessage("oversized_payload", f"media.payload is over {MAX_PAYLOAD_BYTES} bytes")
    try:
        audio = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadMessage("bad_base64", f"media.payload is not base64: {exc}") from exc
    return Media(
        stream_sid=_opt_str(data.get("streamSid")),
        track=track,
        chunk=_opt_int(body.get("chunk"), "media.chunk", "bad_media"),
        timestamp_ms=timestamp,
        payload=audio,
        sequence_number=_opt_int(data.get("sequenceNumber"), "sequenceNumber", "bad_media"),
    )


def _mark(data: dict[str, Any]) -> Mark:
    body = data.get("mark") if isinstance(data.get("mark"), dict) else {}
    return Mark(_opt_str(data.get("streamSid")), _opt_str(body.get("name")))


def _dtmf(data: dict[str, Any]) -> Dtmf:
    body = data.get("dtmf") if isinstance(data.get("dtmf"), dict) else {}
    return Dtmf(_opt_str(data.get("streamSid")), _opt_str(body.get("track")), _opt_str(body.get("digit")))


def _stop(data: dict[str, Any]) -> Stop:
    body = data.get("stop") if isinstance(data.get("stop"), dict) else {}
    return Stop(_opt_str(data.get("streamSid")), _opt_str(body.get("callSid")))


_PARSERS = {
    "connected": _connected,
    "start": _start,
    "media": _media,
    "mark": _mark,
    "dtmf": _dtmf,
    "stop": _stop,
}


def _object(data: dict[str, Any], name: str, key: str) -> dict[str, Any]:
    body = data.get(name)
    if not isinstance(body, dict):
        raise BadMessage(key, f"{name} event without a {name!r} object")
    return body


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _opt_int(value: Any, name: str, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadMessage(key, f"{name} is not a number")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadMessage(key, f"{name} is not a number: {str(value)[:20]!r}") from None
