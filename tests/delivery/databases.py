"""A migrated SQLite database in a directory, for module-scoped fixtures and subprocess tests.

Per-test databases (SQLite and PostgreSQL) come from tests.storage.db_fixtures.
"""

from __future__ import annotations

from pathlib import Path

from storage.db import Database


def sqlite_database(directory: Path) -> Database:
    db = Database(str(directory / "emotion_bot.db"))
    db.upgrade()
    return db
