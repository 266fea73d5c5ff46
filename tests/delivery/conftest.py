from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage.db import Database
from tests.delivery.databases import postgres_database, sqlite_database
from tests.delivery.receiver import Receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def db(tmp_path) -> Database:
    return sqlite_database(tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_db(request, tmp_path) -> Iterator[Database]:
    if request.param == "sqlite":
        yield sqlite_database(tmp_path)
    else:
        with postgres_database() as pg:
            yield pg


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver(SECRET)
    yield rx
    rx.stop()
