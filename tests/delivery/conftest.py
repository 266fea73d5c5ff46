from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage.db import Database
from tests.delivery.receiver import Receiver
from tests.storage.db_fixtures import db_url, pg_url, sqlite_url

__all__ = ["db_url", "pg_url", "sqlite_url"]  # fixtures re-exported for this folder

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _migrated(url: str) -> Iterator[Database]:
    database = Database(url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def db(sqlite_url) -> Iterator[Database]:
    """SQLite only: behaviour that does not depend on the database."""
    yield from _migrated(sqlite_url)


@pytest.fixture
def any_db(db_url) -> Iterator[Database]:
    """SQLite and PostgreSQL: leasing, claiming and concurrency."""
    yield from _migrated(db_url)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver(SECRET)
    yield rx
    rx.stop()
