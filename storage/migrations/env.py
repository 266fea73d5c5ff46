"""Alembic environment. `storage.db.Database` passes its own connection in `config.attributes`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from storage.models import Base

config = context.config


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds the table, so later migrations work there.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if context.is_offline_mode() or connection is None:
    raise SystemExit("run migrations with `emotion-bot db upgrade|downgrade` (storage.db.Database)")
run_migrations(connection)
