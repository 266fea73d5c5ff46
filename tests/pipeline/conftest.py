"""Fixtures for the pipeline tests: real generated media (models and SQLite come from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.pipeline.demo_media import write_recording


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def call_mp4(media_dir: Path) -> Path:
    """8 s of the drifting portrait with speech: video + audio, H.264 + AAC."""
    return write_recording(media_dir / "call.mp4", duration_s=8.0)


@pytest.fixture(scope="session")
def speech_wav(media_dir: Path) -> Path:
    return write_recording(media_dir / "speech.wav", duration_s=6.0, video=False)


@pytest.fixture(scope="session")
def silent_video_mp4(media_dir: Path) -> Path:
    """Video only, and no face in it."""
    return write_recording(media_dir / "empty.mp4", duration_s=3.0, audio=False, with_face=False)
