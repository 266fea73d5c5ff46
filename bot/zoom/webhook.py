"""Zoom's webhooks: URL validation, signature check, and the RTMS start/stop payloads.

A request is authentic when `x-zm-signature` = "v0=" + hex HMAC-SHA256(secret token,
"v0:{x-zm-request-timestamp}:{raw body}") and the timestamp is recent: the raw bytes are signed (not
re-serialised JSON), the comparison is constant-time, and a captured request replayed later than the
tolerance is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

URL_VALIDATION = "endpoint.url_validation"
STARTED_EVENTS = frozenset({"meeting.rtms_started", "webinar.rtms_started"})
STOPPED_EVENTS = frozenset({"meeting.rtms_stopped", "webinar.rtms_stopped"})


class InvalidWebhook(ValueError):
    """Unsigned, badly signed, stale, or not the shape Zoom sends."""


def sign(secret_token: str, timestamp: str, body: bytes) -> str:
    message = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret_token.encode(), message, hashlib.sha256).hexdigest()


def verify(
    secret_token: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> None:
    """Raise InvalidWebhook unless the request is signed with `secret_token` and recent."""
    signature = headers.get("x-zm-signature", "")
    timestamp = headers.get("x-zm-request-timestamp", "")
    if not signature or not timestamp:
        raise InvalidWebhook("missing signature headers")
    try:
        sent = float(timestamp)
    except ValueError:
        raise InvalidWebhook("bad timestamp") from None
    if sent > 1e11:  # milliseconds: Zoom documents seconds, be lenient
        sent /= 1000.0
    if abs((time.time() if now is None else now) - sent) > tolerance_s:
        raise InvalidWebhook("timestamp outside the tolerance")
    if not hmac.compare_digest(sign(secret_token, timestamp, body), signature):
        raise InvalidWebhook("signature mismatch")


def url_validation_answer(secret_token: str, plain_token: str) -> dict[str, str]:
    encrypted = hmac.new(secret_token.encode(), plain_token.encode(), hashlib.sha256).hexdigest()
    return {"plainToken": plain_token, "encryptedToken": encrypted}


@dataclass(frozen=True, slots=True)
class StreamStart:
    meeting_uuid: str
    rtms_stream_id: str
    server_urls: tuple[str, ...]
    product: str  # "meeting" or "webinar"
    meeting_id: str | None = None
    operator_id: str | None = None
    account_id: str | None = None
    event_ts_ms: float | None = None
    signature: str | None = None  # Zoom may precompute it; ours is computed anyway

    def metadata(self) -> dict[str, Any]:
        """What the call's metadata (and so its summary) carries for a CRM to join on."""
        record: dict[str, Any] = {"product": self.product, "meeting_uuid": self.meeting_uuid}
        if self.meeting_id:
            record["meeting_id"] = self.meeting_id
        record["rtms_stream_id"] = self.rtms_stream_id
        if self.operator_id:
            record["operator_id"] = self.operator_id
        return record


@dataclass(frozen=True, slots=True)
class StreamStop:
    meeting_uuid: str | None
    rtms_stream_id: str
    stop_reason: int | None


def payload_object(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event's fields: the flat `payload` the SDK quickstarts use, or `payload.object` (newer docs)."""
    payload = body.get("payload")
    if not isinstance(payload, Mapping):
        raise InvalidWebhook("no payload")
    inner = payload.get("object")
    if isinstance(inner, Mapping):
        return {**{k: v for k, v in payload.items() if k != "object"}, **inner}
    return payload


def parse_start(body: Mapping[str, Any]) -> StreamStart:
    fields = payload_object(body)
    uuid, stream = _text(fields.get("meeting_uuid")), _text(fields.get("rtms_stream_id"))
    urls = fields.get("server_urls")
    if isinstance(urls, str):
        server_urls = tuple(u.strip() for u in urls.split(",") if u.strip())  # "comma-separated" per the SDK
    elif isinstance(urls, list):
        server_urls = tuple(u.strip() for u in urls if isinstance(u, str) and u.strip())
    else:
        server_urls = ()
    if not uuid or not stream or not server_urls:
        raise InvalidWebhook("rtms_started without meeting_uuid, rtms_stream_id or server_urls")
    if not all(u.startswith(("ws://", "wss://")) for u in server_urls):
        raise InvalidWebhook("server_urls must be ws:// or wss://")
    event = str(body.get("event", ""))
    event_ts = body.get("event_ts")
    return StreamStart(
        meeting_uuid=uuid,
        rtms_stream_id=stream,
        server_urls=server_urls,
        product=event.split(".", 1)[0] or "meeting",
        meeting_id=_text(fields.get("meeting_id")),
        operator_id=_text(fields.get("operator_id")),
        account_id=_text(body.get("account_id") or fields.get("account_id")),
        event_ts_ms=float(event_ts) if isinstance(event_ts, int | float) and event_ts > 0 else None,
        signature=_text(fields.get("signature")),
    )


def parse_stop(body: Mapping[str, Any]) -> StreamStop:
    fields = payload_object(body)
    stream = _text(fields.get("rtms_stream_id"))
    if not stream:
        raise InvalidWebhook("rtms_stopped without rtms_stream_id")
    reason = fields.get("stop_reason")
    return StreamStop(
        meeting_uuid=_text(fields.get("meeting_uuid")),
        rtms_stream_id=stream,
        stop_reason=reason if isinstance(reason, int) and not isinstance(reason, bool) else None,
    )


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return (value.strip() or None) if isinstance(value, str) else None
