"""Zoom fixtures: real EmoDB speech, the shipped face portrait as SD JPG frames, the in-process fake
RTMS server, and the real gateway (`serve_app`) with the Zoom source mounted."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.pipeline.demo_media import FACE_IMAGE
from bot.zoom.client import ClientOptions
from bot.zoom.config import ZoomCredentials, ZoomOptions
from bot.zoom.fake import FakeMeeting, FakeOptions, FakeParticipant, FakeRtmsServer
from bot.zoom.fake_media import audio_pcm, image_frames
from tests.gateway.conftest import serve_app  # noqa: F401  (the real gateway, in-process)

CREDENTIALS = ZoomCredentials("test-client-id", "test-client-secret", "test-secret-token-0123")


def emodb_dir() -> Path:
    root = os.environ.get("EMOTION_BOT_SHARED_DATA")
    base = Path(root) if root else Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return base / "emodb" / "wav"


@pytest.fixture(scope="session")
def emodb():
    """`emodb(*names)` -> the named EmoDB files one after another, 16 kHz int16."""
    folder = emodb_dir()
    if not folder.is_dir():
        pytest.skip(f"EmoDB not found at {folder} (set EMOTION_BOT_SHARED_DATA)")

    def speech(*names: str) -> np.ndarray:
        return np.concatenate([audio_pcm(folder / name) for name in names])

    return speech


@pytest.fixture(scope="session")
def face_jpgs() -> tuple[bytes, ...]:
    return image_frames(FACE_IMAGE)


@pytest.fixture
def people(emodb, face_jpgs):
    """Two talkers with faces: an angry and a happy EmoDB speaker."""
    return [
        FakeParticipant(16778240, "Ana Lopez", emodb("08a01Wa.wav", "08a05Wa.wav"), face_jpgs),
        FakeParticipant(16779264, "Ben +49 151 23456789", emodb("10a02Fa.wav", "10a04Fd.wav"), face_jpgs),
    ]


def meeting(participants: Sequence[FakeParticipant], **fields) -> FakeMeeting:
    return FakeMeeting(
        meeting_uuid=f"{uuid.uuid4().hex[:22]}==",
        rtms_stream_id=uuid.uuid4().hex,
        participants=list(participants),
        **fields,
    )


@pytest.fixture
async def fake_zoom():
    """`await fake_zoom(meeting, **FakeOptions fields)` -> a started FakeRtmsServer (closed after)."""
    servers: list[FakeRtmsServer] = []

    async def start(m: FakeMeeting, ssl_context=None, **options) -> FakeRtmsServer:
        server = FakeRtmsServer(
            CREDENTIALS.client_id,
            CREDENTIALS.client_secret,
            m,
            FakeOptions(**options),
            ssl_context=ssl_context,
        )
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


FAST_CLIENT = ClientOptions(reconnect_window_s=3.0, receive_timeout_s=10.0, backoff_s=(0.1, 0.2, 0.4))


@pytest.fixture
async def zoom_gateway(serve_app):  # noqa: F811
    """`await zoom_gateway(**ZoomOptions fields)` -> (RunningGateway, ZoomSource)."""
    from bot.zoom.source import ZoomSource

    async def start(client_options: ClientOptions = FAST_CLIENT, **options):
        made: list[ZoomSource] = []

        def build(ctx):
            made.append(
                ZoomSource(
                    ctx, CREDENTIALS, ZoomOptions(heartbeat_s=0.5, **options), client_options=client_options
                )
            )
            return made

        gateway = await serve_app(build)
        return gateway, made[0]

    return start
