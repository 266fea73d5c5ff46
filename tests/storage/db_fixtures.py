"""Real databases for tests: a SQLite file in tmp_path and a throwaway schema on the test PostgreSQL.

Import the fixtures into a conftest.py. PostgreSQL comes from EMOTION_BOT_TEST_PG_URL (default: the
local trust-auth server); tests needing it are skipped, with the reason, when it does not answer.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from storage.db import Database

PG_URL = os.environ.get("EMOTION_BOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_admin_engine():
    engine = create_engine(PG_URL, connect_args={"connect_timeout": 3}, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        engine.dispose()
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} (set EMOTION_BOT_TEST_PG_URL): {exc.orig}")
    return engine


def pg_schema_url(schema: str) -> str:
    """PG_URL with every connection's search_path set to `schema`."""
    separator = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{separator}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL to an empty, private schema on the test PostgreSQL, dropped afterwards."""
    admin = _pg_admin_engine()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield pg_schema_url(schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return str(tmp_path / "data" / "calls.db")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request) -> str:
    """The same test on SQLite and on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def db(db_url) -> Iterator[Database]:
    """A migrated database (SQLite file or PostgreSQL schema)."""
    database = Database(db_url)
    database.upgrade()
    yield database
    database.dispose()
