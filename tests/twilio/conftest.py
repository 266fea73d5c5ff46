"""Real EmoDB speech (read-only shared data, located by EMOTION_BOT_SHARED_DATA, else ../shared/data
beside the checkout) turned into what a phone line carries: 8 kHz int16, later mu-law encoded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from bot.twilio.client import load_phone_audio
from tests.gateway.conftest import serve_app  # noqa: F401  (the real gateway, in-process)


def emodb_dir() -> Path:
    root = os.environ.get("EMOTION_BOT_SHARED_DATA")
    base = Path(root) if root else Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return base / "emodb" / "wav"


@pytest.fixture(scope="session")
def emodb_speech():
    """`speech(*names)` -> the named EmoDB files one after another, at 8 kHz int16."""
    folder = emodb_dir()
    if not folder.is_dir():
        pytest.skip(f"EmoDB not found at {folder} (set EMOTION_BOT_SHARED_DATA)")

    def speech(*names: str) -> np.ndarray:
        return np.concatenate([load_phone_audio(folder / name) for name in names])

    return speech


AUTH_TOKEN = "test-auth-token-0123456789abcdef"


@pytest.fixture
async def twilio_gateway(serve_app, monkeypatch):  # noqa: F811
    """`await twilio_gateway(**stream_options)` -> (RunningGateway, TwilioSource)."""
    from bot.twilio.source import TwilioSource
    from bot.twilio.stream import StreamOptions

    async def start(public_url: str | None = None, **options: float):
        made: list[TwilioSource] = []

        def build(ctx):
            made.append(TwilioSource(ctx, AUTH_TOKEN, stream_options=StreamOptions(**options)))
            return made

        gateway = await serve_app(build, public_url=public_url)
        return gateway, made[0]

    return start
