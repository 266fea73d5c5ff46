"""Fixtures every part's tests share: the real shipped models (loaded once per test session, as a
worker process does) and a freshly migrated SQLite database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.livekit.worker import load_process_models
from bot.pipeline.models import Models
from storage.db import Database


@pytest.fixture(scope="session")
def models() -> Iterator[Models]:
    loaded = load_process_models()
    yield loaded
    loaded.close()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(str(tmp_path / "calls.db"))
    db.upgrade()
    yield db
    db.dispose()
