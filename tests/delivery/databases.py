"""Migrated test databases: a SQLite file, or a throw-away PostgreSQL database (skipped if no server)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from storage.db import Database

PG_URL = os.environ.get("EMOTION_BOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def sqlite_database(directory: Path) -> Database:
    db = Database(str(directory / "emotion_bot.db"))
    db.upgrade()
    return db


@contextlib.contextmanager
def postgres_database() -> Iterator[Database]:
    """A fresh database on the test server (so parallel test runs of other parts never collide)."""
    admin_url = make_url(PG_URL)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"emotion_bot_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL at {admin_url.render_as_string()} unreachable: {str(exc).splitlines()[0]}")
    db = Database(admin_url.set(database=name).render_as_string(hide_password=False))
    try:
        db.upgrade()
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
