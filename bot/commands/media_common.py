"""What the media commands (`analyze`, `simulate`) share: exit codes, the database they write to and
the --webhook they deliver to, both checked before any media is touched."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.delivery.config import DeliveryConfig
    from storage.db import Database

EXIT_OK = 0
EXIT_NOTHING_FOUND = 1
EXIT_USAGE = 2
EXIT_UNREADABLE = 3
EXIT_DATABASE = 4
EXIT_MODELS = 5
EXIT_WEBHOOK = 6
EXIT_FAILED = 7

Fail = Callable[[int, str], int]  # prints the message for its command, returns the exit code


def open_ready_database(url: str | None, fail: Fail) -> Database | int:
    """The database for --db (or the environment), migrated if it is a local SQLite file and checked;
    an exit code (after `fail` printed why) when it cannot be used."""
    from storage.db import Database, DatabaseUnavailable

    try:
        database = Database.from_config(url)
    except ValueError as exc:
        return fail(EXIT_USAGE, f"database: {exc}")
    try:
        if database.dialect == "sqlite":
            database.upgrade()  # a local file: create or migrate the schema on first use
        database.check()
    except DatabaseUnavailable as exc:
        return fail(EXIT_DATABASE, str(exc))
    except Exception as exc:  # a SQLite path in a read-only place, a locked file...
        return fail(EXIT_DATABASE, f"database {database.display_url}: {exc}")
    return database


def webhook_delivery(url: str | None) -> DeliveryConfig | None:
    """DeliveryConfig for --webhook (None without one); ValueError for a URL that is not http(s)."""
    if url is None:
        return None
    from urllib.parse import urlsplit

    from bot.delivery.config import DeliveryConfig
    from bot.delivery.signing import active_secrets

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--webhook {url!r}: expected an http(s):// URL")
    return DeliveryConfig(secrets=tuple(active_secrets()), default_url=url)
