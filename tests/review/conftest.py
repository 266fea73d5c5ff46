from __future__ import annotations

import pytest

from storage.db import Database
from tests.delivery.databases import sqlite_database
from tests.review.seed import Seeded, seed
from tests.storage.db_fixtures import db, db_url, pg_url, sqlite_url

__all__ = ["db", "db_url", "pg_url", "sqlite_url"]  # fixtures re-exported for this folder


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> tuple[Database, Seeded]:
    db = sqlite_database(tmp_path_factory.mktemp("review"))
    return db, seed(db)
