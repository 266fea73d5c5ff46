"""Shared fixtures for the voice tests: the training-data folder and real clips from it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from emotion_models.voice.audio import load_audio

REPO = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """$EMOTION_BOT_DATA, else ../shared/data beside the repository (where CI mounts it)."""
    return Path(os.environ.get("EMOTION_BOT_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def emodb_dir() -> Path:
    folder = data_dir() / "emodb"
    if not folder.is_dir():
        pytest.skip(f"EmoDB not found at {folder} (set EMOTION_BOT_DATA to the training-data folder)")
    return folder


@pytest.fixture(scope="session")
def nemo_dir() -> Path:
    folder = data_dir() / "nemo"
    if not folder.is_dir():
        pytest.skip(f"nEMO not found at {folder} (set EMOTION_BOT_DATA to the training-data folder)")
    return folder


@pytest.fixture(scope="session")
def emodb_wave(emodb_dir: Path) -> np.ndarray:
    """A real EmoDB utterance (speaker 08, anger) at 16 kHz."""
    return load_audio(emodb_dir / "wav" / "08a01Wa.wav")


@pytest.fixture(scope="session")
def nemo_wave(nemo_dir: Path) -> np.ndarray:
    """A real nEMO utterance (Opus in Ogg) at 16 kHz."""
    return load_audio(nemo_dir / "EB0_anger_1.ogg")
