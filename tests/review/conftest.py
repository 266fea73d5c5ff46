from __future__ import annotations

import pytest

from storage.db import Database
from tests.delivery.databases import sqlite_database
from tests.review.seed import Seeded, seed


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> tuple[Database, Seeded]:
    db = sqlite_database(tmp_path_factory.mktemp("review"))
    return db, seed(db)
