"""RTMS wire constants and the messages we send (JSON text frames, integers for every enum).

Numbers follow Zoom's `rtms.h` enums (developers.zoom.us/docs/rtms/data-types); see the shared
ZOOM_RTMS.md for sources and what is unverified.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from enum import IntEnum
from typing import Any, Literal

PROTOCOL_VERSION = 1
MAX_JPG_FPS = 5  # Zoom refuses JPG/PNG video above 5 fps

VideoMode = Literal["speaker", "individual"]


class Msg(IntEnum):
    SIGNALING_HAND_SHAKE_REQ = 1
    SIGNALING_HAND_SHAKE_RESP = 2
    DATA_HAND_SHAKE_REQ = 3
    DATA_HAND_SHAKE_RESP = 4
    EVENT_SUBSCRIPTION = 5
    EVENT_UPDATE = 6
    CLIENT_READY_ACK = 7
    STREAM_STATE_UPDATE = 8
    SESSION_STATE_UPDATE = 9
    KEEP_ALIVE_REQ = 12
    KEEP_ALIVE_RESP = 13
    MEDIA_DATA_AUDIO = 14
    MEDIA_DATA_VIDEO = 15
    MEDIA_DATA_SHARE = 16
    MEDIA_DATA_TRANSCRIPT = 17
    MEDIA_DATA_CHAT = 18
    STREAM_CLOSE_REQ = 21
    STREAM_CLOSE_RESP = 22
    VIDEO_SUBSCRIPTION_REQ = 28
    VIDEO_SUBSCRIPTION_RESP = 29


class Event(IntEnum):
    FIRST_PACKET_TIMESTAMP = 1
    ACTIVE_SPEAKER_CHANGE = 2
    PARTICIPANT_JOIN = 3
    PARTICIPANT_LEAVE = 4
    MEDIA_CONNECTION_INTERRUPTED = 7
    PARTICIPANT_VIDEO_ON = 8
    PARTICIPANT_VIDEO_OFF = 9


SUBSCRIBED_EVENTS = (
    Event.ACTIVE_SPEAKER_CHANGE,
    Event.PARTICIPANT_JOIN,
    Event.PARTICIPANT_LEAVE,
    Event.PARTICIPANT_VIDEO_ON,
    Event.PARTICIPANT_VIDEO_OFF,
)

MEDIA_AUDIO, MEDIA_VIDEO = 1, 2  # media_type bitmask (DESKSHARE 4, TRANSCRIPT 8, CHAT 16, ALL 32)
SESSION_STOPPED = 5
STREAM_TERMINATED = 4
STREAM_TERMINATING = 3

# media_params values (developers.zoom.us/docs/rtms/media-parameter-definition)
AUDIO_RAW, AUDIO_L16, AUDIO_16K, AUDIO_MONO, AUDIO_MULTI_STREAMS = 2, 1, 1, 1, 2
VIDEO_RAW, VIDEO_JPG, VIDEO_SD = 3, 5, 1
VIDEO_SINGLE_ACTIVE_STREAM, VIDEO_SINGLE_INDIVIDUAL_STREAM = 3, 4
AUDIO_SEND_RATE_MS = 20
SAMPLE_RATE = 16_000


def handshake_signature(client_id: str, client_secret: str, meeting_uuid: str, rtms_stream_id: str) -> str:
    """hex HMAC-SHA256(client_secret, "client_id,meeting_uuid,rtms_stream_id") (commas included)."""
    message = f"{client_id},{meeting_uuid},{rtms_stream_id}".encode()
    return hmac.new(client_secret.encode(), message, hashlib.sha256).hexdigest()


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def signaling_handshake(meeting_uuid: str, rtms_stream_id: str, signature: str, sequence: int) -> str:
    # buffer_data false: live media only; a replay of 60 s of startup audio would arrive late and
    # bunched up, and its timestamps would not match the video's.
    return dumps(
        {
            "msg_type": Msg.SIGNALING_HAND_SHAKE_REQ,
            "protocol_version": PROTOCOL_VERSION,
            "sequence": sequence,
            "meeting_uuid": meeting_uuid,
            "rtms_stream_id": rtms_stream_id,
            "signature": signature,
            "buffer_data": False,
        }
    )


def media_params(media_type: int, video_fps: int, video_mode: VideoMode) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if media_type & MEDIA_AUDIO:
        params["audio"] = {
            "content_type": AUDIO_RAW,
            "codec": AUDIO_L16,
            "sample_rate": AUDIO_16K,
            "channel": AUDIO_MONO,
            "data_opt": AUDIO_MULTI_STREAMS,  # each speaker separately: one voice per participant
            "send_rate": AUDIO_SEND_RATE_MS,
        }
    if media_type & MEDIA_VIDEO:
        params["video"] = {
            "content_type": VIDEO_RAW,
            "codec": VIDEO_JPG,
            "resolution": VIDEO_SD,  # enough for a face; larger frames only cost decoding time
            "fps": video_fps,
            "data_opt": VIDEO_SINGLE_INDIVIDUAL_STREAM
            if video_mode == "individual"
            else VIDEO_SINGLE_ACTIVE_STREAM,
        }
    return params


def media_handshake(
    meeting_uuid: str,
    rtms_stream_id: str,
    signature: str,
    media_type: int,
    *,
    video_fps: int,
    video_mode: VideoMode,
    sequence: int,
) -> str:
    return dumps(
        {
            "msg_type": Msg.DATA_HAND_SHAKE_REQ,
            "protocol_version": PROTOCOL_VERSION,
            "sequence": sequence,
            "meeting_uuid": meeting_uuid,
            "rtms_stream_id": rtms_stream_id,
            "signature": signature,
            "media_type": media_type,
            "payload_encryption": False,
            "media_params": media_params(media_type, video_fps, video_mode),
        }
    )


def event_subscription(events: tuple[int, ...] = SUBSCRIBED_EVENTS) -> str:
    return dumps(
        {
            "msg_type": Msg.EVENT_SUBSCRIPTION,
            "events": [{"event_type": int(e), "subscribe": True} for e in events],
        }
    )


def client_ready(rtms_stream_id: str) -> str:
    return dumps({"msg_type": Msg.CLIENT_READY_ACK, "rtms_stream_id": rtms_stream_id})


def keep_alive_response(timestamp: Any) -> str:
    """Echoes Zoom's timestamp (our clock when Zoom sent none)."""
    if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
        timestamp = int(time.time() * 1000)
    return dumps({"msg_type": Msg.KEEP_ALIVE_RESP, "timestamp": timestamp})


def video_subscription(rtms_stream_id: str, user_id: str, subscribe: bool) -> str:
    # Zoom's user ids are integers on the wire; ours are strings (participant identities).
    uid: int | str = int(user_id) if user_id.isdigit() else user_id
    return dumps(
        {
            "msg_type": Msg.VIDEO_SUBSCRIPTION_REQ,
            "rtms_stream_id": rtms_stream_id,
            "user_id": uid,
            "subscribe": subscribe,
        }
    )


def stream_close(rtms_stream_id: str) -> str:
    return dumps({"msg_type": Msg.STREAM_CLOSE_REQ, "rtms_stream_id": rtms_stream_id})
