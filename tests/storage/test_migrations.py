"""Migrations up and down on SQLite and PostgreSQL, and that they build exactly the models' schema."""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import socket
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect

import storage
from bot.cli import main
from storage.db import Database, DatabaseUnavailable, SchemaNotCurrent
from storage.models import Base

STORAGE_TABLES = ("calls", "participants", "observations", "fused_points", "summaries")


def all_model_metadata() -> MetaData:
    """Base.metadata with every storage.*models module imported (later migrations add tables there)."""
    for module in pkgutil.iter_modules(storage.__path__):
        if module.name.endswith("models"):
            importlib.import_module(f"storage.{module.name}")
    return Base.metadata


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield port


def schema_diff(db: Database, metadata: MetaData) -> list:
    with db.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)


def table_names(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(inspect(conn).get_table_names()) - {"alembic_version"}


def test_head_matches_models_and_downgrade_removes_everything(db_url):
    db = Database(db_url)
    with pytest.raises(SchemaNotCurrent, match="emotion-bot db upgrade"):
        db.check()
    db.upgrade()
    assert db.current_revision() == db.head_revision()
    db.check()
    assert schema_diff(db, all_model_metadata()) == []
    db.downgrade("base")
    assert db.current_revision() is None
    assert table_names(db) == set()
    db.upgrade()  # and back up again on the same database
    assert set(STORAGE_TABLES) <= table_names(db)
    db.dispose()


def test_migration_0001_builds_the_storage_tables(db_url):
    db = Database(db_url)
    db.upgrade("0001")
    assert table_names(db) == set(STORAGE_TABLES)
    own = MetaData(naming_convention=Base.metadata.naming_convention)
    for name in STORAGE_TABLES:
        Base.metadata.tables[name].to_metadata(own)
    assert schema_diff(db, own) == []
    with pytest.raises(SchemaNotCurrent) if db.head_revision() != "0001" else contextlib.nullcontext():
        db.check()
    db.downgrade("base")
    assert table_names(db) == set()
    db.dispose()


def test_unreachable_postgres_gives_a_clear_error():
    with closed_port() as port:
        db = Database(f"postgresql://postgres@127.0.0.1:{port}/test", connect_timeout_s=2)
        with pytest.raises(DatabaseUnavailable, match=rf"127\.0\.0\.1:{port}.*unreachable"):
            db.check()


def test_sqlite_path_that_cannot_exist_gives_a_clear_error(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(DatabaseUnavailable, match="cannot create the folder"):
        Database(str(tmp_path / "a-file" / "calls.db"))


def test_db_command_from_another_directory(tmp_path, monkeypatch, capsys):
    """script_location comes from the package, so the cwd does not matter."""
    monkeypatch.chdir(tmp_path)
    path = str(tmp_path / "sub" / "bot.db")
    assert main(["db", "current", "--db", path]) == 0
    assert "none" in capsys.readouterr().out
    assert main(["db", "upgrade", "--db", path]) == 0
    assert main(["db", "current", "--db", path]) == 0
    head = Database(path).head_revision()
    assert f"current: {head}" in capsys.readouterr().out
    assert main(["db", "downgrade", "base", "--db", path]) == 0
    assert "base (no tables)" in capsys.readouterr().out


def test_db_command_reports_bad_url_and_unreachable_server(capsys, monkeypatch):
    assert main(["db", "upgrade", "--db", "mysql://u@127.0.0.1/x"]) == 2
    assert "unsupported database 'mysql'" in capsys.readouterr().err
    with closed_port() as port:
        assert main(["db", "upgrade", "--db", f"postgresql://postgres@127.0.0.1:{port}/test"]) == 2
    assert f"127.0.0.1:{port}" in capsys.readouterr().err
    monkeypatch.setenv("EMOTION_BOT_DB", "mysql://x/y")
    assert main(["db", "current"]) == 2
    assert "EMOTION_BOT_DB" in capsys.readouterr().err
