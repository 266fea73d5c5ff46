"""Small pure pieces: configuration, the stream clock, media decoding, message parsing."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bot.config import ConfigError
from bot.zoom import messages
from bot.zoom.config import ZoomOptions, credentials_from_env
from bot.zoom.media import BadMedia, jpg_to_rgb, l16_to_pcm
from bot.zoom.protocol import handshake_signature, media_params
from bot.zoom.timeline import StreamClock


def test_missing_credentials_are_named():
    with pytest.raises(ConfigError, match="ZOOM_CLIENT_SECRET, ZOOM_SECRET_TOKEN"):
        credentials_from_env({"ZOOM_CLIENT_ID": "id", "ZOOM_CLIENT_SECRET": " "})
    assert (
        credentials_from_env(
            {"ZOOM_CLIENT_ID": "a", "ZOOM_CLIENT_SECRET": "b", "ZOOM_SECRET_TOKEN": "c"}
        ).client_id
        == "a"
    )
    with pytest.raises(ConfigError, match="fps"):
        ZoomOptions(video_fps=6)


def test_serve_refuses_to_start_without_zoom_credentials(tmp_path: Path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "EMOTION_BOT_DB": str(tmp_path / "x.db")}
    cli = Path(sys.executable).parent / "emotion-bot"
    done = subprocess.run([str(cli), "serve", "--source", "zoom"], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert "ZOOM_CLIENT_ID, ZOOM_CLIENT_SECRET, ZOOM_SECRET_TOKEN not set" in done.stderr


def test_signature_has_commas():
    import hashlib
    import hmac

    expected = hmac.new(b"sec", b"id,uuid==,stream", hashlib.sha256).hexdigest()
    assert handshake_signature("id", "sec", "uuid==", "stream") == expected
    assert media_params(3, 2, "speaker")["video"]["data_opt"] == 3


def test_clock_uses_zoom_time_and_keeps_audio_contiguous():
    counters: Counter[str] = Counter()
    clock = StreamClock(1_000_000.0, counters)
    assert clock.t(1_000_500.0) == pytest.approx(0.5)  # origin: the webhook's event_ts
    assert clock.audio_t("1", 1_001_000.0, 0.02) == pytest.approx(1.0)
    assert clock.audio_t("1", 1_001_023.0, 0.02) == pytest.approx(1.02)  # 3 ms jitter: contiguous
    assert clock.audio_t("1", 1_003_000.0, 0.02) == pytest.approx(3.0)  # a real gap stays a gap
    assert clock.t(5e12) < 10 and counters["implausible_timestamp"] == 1  # placed by our clock
    clock.t(None)
    assert counters["no_timestamp"] == 1
    late_hook = StreamClock(2_000_000.0, Counter())  # event_ts after the first packet: not the origin
    assert late_hook.t(1_000_000.0) == 0.0 and late_hook.t(1_000_250.0) == pytest.approx(0.25)


def test_media_decoding_rejects_bad_input(face_jpgs):
    assert l16_to_pcm(b"\x01\x00\xff\xff").tolist() == [1, -1]
    for data, reason in (
        (b"\x01", "odd_length_audio"),
        (b"", "empty_audio"),
        (b"\0" * 70_000, "oversized_audio"),
    ):
        with pytest.raises(BadMedia, match=reason):
            l16_to_pcm(data)
    rgb = jpg_to_rgb(face_jpgs[0])
    assert rgb.shape == (360, 640, 3) and rgb.dtype == np.uint8
    with pytest.raises(BadMedia, match="undecodable_jpg"):
        jpg_to_rgb(face_jpgs[0][:200])


def test_content_as_object_or_string():
    data = base64.b64encode(b"\0\0").decode()
    as_object = {"msg_type": 14, "content": {"user_id": 5, "user_name": "A", "data": data, "timestamp": "17"}}
    as_string = {"msg_type": "14", "content": json.dumps(as_object["content"])}
    for message in (as_object, as_string):
        packet = messages.media_packet(messages.decode(json.dumps(message)))
        assert (packet.kind, packet.user_id, packet.user_name, packet.data, packet.timestamp_ms) == (
            "audio",
            "5",
            "A",
            b"\0\0",
            17.0,
        )
    bare = messages.media_packet({"msg_type": 15, "content": data})
    assert bare.user_id is None and bare.data == b"\0\0"
    event = messages.event_update(
        {"msg_type": 6, "event": {"event_type": 3, "participants": [{"user_id": 9}, 4]}}
    )
    assert [u.user_id for u in event.users] == ["9"]
