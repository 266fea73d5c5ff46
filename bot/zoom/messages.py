"""Parsing what RTMS sends, liberally: every malformed message becomes a `BadMessage` with a short
reason (the caller counts it and goes on), never an exception that ends a stream.

Accepted beyond the documented shape: `content` as an object or as a string (JSON of the object,
or the bare base64 data), `user_id` as an integer or a string, timestamps as numbers or numeric
strings, binary frames holding UTF-8 JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from bot.zoom.protocol import Msg

MAX_MESSAGE_BYTES = 4 << 20  # a SD/HD JPG in base64 is well under 1 MiB; anything larger is skipped

MediaKind = Literal["audio", "video", "share", "transcript", "chat"]
MEDIA_KINDS: dict[int, MediaKind] = {
    Msg.MEDIA_DATA_AUDIO: "audio",
    Msg.MEDIA_DATA_VIDEO: "video",
    Msg.MEDIA_DATA_SHARE: "share",
    Msg.MEDIA_DATA_TRANSCRIPT: "transcript",
    Msg.MEDIA_DATA_CHAT: "chat",
}
_BINARY_KINDS = frozenset({"audio", "video", "share"})


class BadMessage(ValueError):
    """A message we cannot use; `str(exc)` is a short reason code used as a counter key."""


@dataclass(frozen=True, slots=True)
class MediaPacket:
    kind: MediaKind
    user_id: str | None  # None: the message named nobody (mixed stream, or a bare-string content)
    user_name: str | None
    data: bytes  # decoded binary (audio/video/share) or UTF-8 text (transcript/chat)
    timestamp_ms: float | None


@dataclass(frozen=True, slots=True)
class ZoomUser:
    user_id: str
    user_name: str | None = None


@dataclass(frozen=True, slots=True)
class EventUpdate:
    event_type: int
    timestamp_ms: float | None
    users: tuple[ZoomUser, ...]


def decode(frame: str | bytes) -> dict[str, Any]:
    """One WebSocket frame -> its JSON object with an integer `msg_type`."""
    if len(frame) > MAX_MESSAGE_BYTES:
        raise BadMessage("oversized")
    if isinstance(frame, bytes):
        try:
            frame = frame.decode("utf-8")
        except UnicodeDecodeError:
            raise BadMessage("binary") from None
    try:
        message = json.loads(frame)
    except (json.JSONDecodeError, RecursionError):
        raise BadMessage("malformed_json") from None
    if not isinstance(message, dict):
        raise BadMessage("not_an_object")
    msg_type = message.get("msg_type")
    if isinstance(msg_type, str) and msg_type.isdigit():
        msg_type = int(msg_type)
    if not isinstance(msg_type, int) or isinstance(msg_type, bool):
        raise BadMessage("no_msg_type")
    message["msg_type"] = msg_type
    return message


def media_packet(message: dict[str, Any]) -> MediaPacket:
    kind = MEDIA_KINDS.get(message["msg_type"])
    if kind is None:
        raise BadMessage("not_media")
    content = message.get("content")
    if isinstance(content, str):
        content = _string_content(content)
    if not isinstance(content, dict):
        raise BadMessage("bad_content")
    raw = content.get("data")
    if not isinstance(raw, str):
        raise BadMessage("bad_data")
    if kind in _BINARY_KINDS:
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise BadMessage("bad_base64") from None
    else:
        data = raw.encode()
    return MediaPacket(
        kind=kind,
        user_id=_user_id(content.get("user_id")),
        user_name=_user_name(content.get("user_name")),
        data=data,
        timestamp_ms=timestamp(content.get("timestamp")),
    )


def event_update(message: dict[str, Any]) -> EventUpdate:
    event = message.get("event")
    if not isinstance(event, dict):
        raise BadMessage("bad_event")
    event_type = event.get("event_type", event.get("event_code"))  # V2 renames it event_code
    if not isinstance(event_type, int) or isinstance(event_type, bool):
        raise BadMessage("bad_event_type")
    users: list[ZoomUser] = []
    single = _user_id(event.get("user_id"))
    if single is not None:
        users.append(ZoomUser(single, _user_name(event.get("user_name"))))
    participants = event.get("participants", [])
    if not isinstance(participants, list):
        raise BadMessage("bad_participants")
    for entry in participants:
        uid = _user_id(entry.get("user_id")) if isinstance(entry, dict) else None
        if uid is not None:
            users.append(ZoomUser(uid, _user_name(entry.get("user_name"))))
    return EventUpdate(event_type, timestamp(event.get("timestamp")), tuple(users))


def timestamp(value: Any) -> float | None:
    """A Zoom timestamp (ms since the epoch) or None when absent or not a usable number."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return None
    return float(value) if value > 0 else None


def status_code(message: dict[str, Any]) -> int:
    code = message.get("status_code", 0)
    return code if isinstance(code, int) and not isinstance(code, bool) else -1


def _string_content(content: str) -> Any:
    stripped = content.lstrip()
    if stripped.startswith("{"):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            raise BadMessage("bad_content") from None
    return {"data": content}  # the bare payload, naming nobody


def _user_id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip() and len(value) <= 128:
        return value.strip()
    return None


def _user_name(value: Any) -> str | None:
    return value[:255] if isinstance(value, str) and value.strip() else None
