"""The database handle: one engine per process, sessions, migrations and a reachability check.

`Database("calls.db")` (a plain path) means SQLite; anything with `://` is a SQLAlchemy URL.
`postgresql://` and `postgres://` get the psycopg 3 driver, the only PostgreSQL driver we ship.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
# Alembic announces each of its plugins at INFO on every command: noise in our CLI output.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached, or its schema is not the one this code needs."""


class SchemaNotCurrent(DatabaseUnavailable):
    """Reachable, but migrations are missing: run `emotion-bot db upgrade`."""


def normalise_url(url: str) -> URL:
    """A path or URL -> a SQLAlchemy URL with a driver we ship. Raises ValueError on nonsense."""
    if "://" not in url:
        if not url.strip():
            raise ValueError("empty database path")
        return URL.create("sqlite", database=str(Path(url).expanduser().resolve()))
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"not a database URL: {url!r} ({exc})") from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {parsed.get_backend_name()!r}: use SQLite or PostgreSQL")
    return parsed


class Database:
    """Engine + session factory for one database. Safe to share between threads."""

    def __init__(self, url: str, *, busy_timeout_s: float = 5.0, connect_timeout_s: int = 5) -> None:
        self.url = normalise_url(url)
        self.dialect = self.url.get_backend_name()
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if self.dialect == "sqlite":
            database = self.url.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                try:
                    Path(database).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise DatabaseUnavailable(
                        f"cannot create the folder for SQLite file {database}: {exc}"
                    ) from exc
            kwargs["connect_args"] = {"timeout": busy_timeout_s, "check_same_thread": False}
        else:
            kwargs["connect_args"] = {"connect_timeout": connect_timeout_s}
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            self._configure_sqlite(busy_timeout_s)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def _configure_sqlite(self, busy_timeout_s: float) -> None:
        @event.listens_for(self.engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL: readers (export, BI tools) never block the writer, and a crash keeps committed rows.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    @classmethod
    def from_config(cls, url: str | None = None) -> Database:
        """The database named by `url`, else by EMOTION_BOT_DB (see bot.config)."""
        if url is None:
            from bot.config import load_config

            url = load_config().db_url
        return cls(url)

    @property
    def display_url(self) -> str:
        """The URL with any password hidden, for messages and logs."""
        return self.url.render_as_string(hide_password=True)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on an exception."""
        with self._sessions() as session, session.begin():
            yield session

    def check(self) -> None:
        """Raise DatabaseUnavailable (clear message) unless the DB answers and is fully migrated."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            current = self.current_revision()
        except SQLAlchemyError as exc:
            raise DatabaseUnavailable(
                f"database {self.display_url} is unreachable: {_first_line(exc)}"
            ) from exc
        head = self.head_revision()
        if current != head:
            raise SchemaNotCurrent(
                f"database {self.display_url} is at migration {current or 'none'}, this code needs {head}: "
                f"run `emotion-bot db upgrade --db {self.display_url}`"
            )

    # -- migrations ---------------------------------------------------------------------------

    def _alembic_config(self) -> Any:
        from alembic.config import Config

        config = Config()
        # Resolved from the package, so `db upgrade` works from any working directory.
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        return config

    def _run_alembic(self, command_name: str, *args: Any) -> None:
        from alembic import command

        config = self._alembic_config()
        with self.engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                # SQLite migrations rebuild tables (batch mode: copy, drop, rename). With foreign keys
                # on, dropping `calls` would cascade-delete every participant and observation. The
                # pragma only takes effect outside a transaction, hence before begin().
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()  # ends SQLAlchemy's autobegun transaction (no BEGIN was sent)
            try:
                with connection.begin():
                    config.attributes["connection"] = connection
                    getattr(command, command_name)(config, *args)
                    if sqlite:
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise RuntimeError(f"migration left {len(broken)} dangling reference(s)")
            finally:
                if sqlite:
                    connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                    connection.commit()

    def upgrade(self, revision: str = "head") -> None:
        """Apply migrations up to `revision` (alembic upgrade)."""
        self._run_alembic("upgrade", revision)

    def downgrade(self, revision: str) -> None:
        """Revert migrations down to `revision` ("base" removes every table)."""
        self._run_alembic("downgrade", revision)

    def current_revision(self) -> str | None:
        """The applied migration (None for an empty database). Read directly: quiet and cheap."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def head_revision(self) -> str | None:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def dispose(self) -> None:
        self.engine.dispose()


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
