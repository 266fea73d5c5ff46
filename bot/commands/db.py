"""`emotion-bot db upgrade|downgrade REV|current [--db URL]`: manage the database schema (Alembic)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # storage is imported lazily to keep `emotion-bot --help` fast
    from storage.db import Database


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", metavar="URL", help="SQLite path or SQLAlchemy URL (default: EMOTION_BOT_DB, see README)"
    )


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("db", help="create, migrate or inspect the database schema")
    actions = parser.add_subparsers(dest="db_action", required=True)

    upgrade = actions.add_parser("upgrade", help="apply migrations (default: up to the newest)")
    upgrade.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    downgrade = actions.add_parser(
        "downgrade", help="revert migrations down to REV ('base' drops every table)"
    )
    downgrade.add_argument("revision", metavar="REV")
    current = actions.add_parser("current", help="print the revision the database is at, and the newest one")
    for action in (upgrade, downgrade, current):
        add_db_argument(action)
        action.set_defaults(func=_run)


def open_database(url: str | None) -> Database:
    """The database named by --db or the environment; raises ValueError/ConfigError on a bad value."""
    from storage.db import Database

    return Database.from_config(url)


def _run(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from bot.config import ConfigError
    from storage.db import DatabaseUnavailable

    try:
        db = open_database(args.db)
        if args.db_action == "current":
            print(f"current: {db.current_revision() or 'none (empty database)'}")
            print(f"head:    {db.head_revision()}")
        elif args.db_action == "upgrade":
            db.upgrade(args.revision)
            print(f"{db.display_url}: at {db.current_revision()}")
        else:
            db.downgrade(args.revision)
            print(f"{db.display_url}: at {db.current_revision() or 'base (no tables)'}")
    except (ConfigError, ValueError, DatabaseUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        print(f"error: database {args.db or '(from EMOTION_BOT_DB)'}: {exc.orig or exc}", file=sys.stderr)
        return 2
    return 0
