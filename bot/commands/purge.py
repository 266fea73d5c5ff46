"""`emotion-bot purge --older-than 90d [--keep-summaries]`: the retention limit, applied."""

from __future__ import annotations

import argparse
import json
import sys

from bot.commands.db import add_db_argument


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "purge",
        help="delete call data older than a cut-off (run it daily, e.g. from cron)",
        description="Deletes observations, fused timelines, alerts and sent webhooks of calls that started "
        "before the cut-off; whole calls unless --keep-summaries. Pending webhooks are kept.",
    )
    parser.add_argument("--older-than", required=True, help="age cut-off, e.g. 90d, 12h")
    parser.add_argument(
        "--keep-summaries", action="store_true", help="keep calls, participants and summaries"
    )
    parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    add_db_argument(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from bot.commands.db import open_database
    from bot.config import ConfigError
    from bot.delivery.schedule import parse_duration
    from bot.policy.retention import purge
    from storage.db import DatabaseUnavailable

    try:
        older_than = timedelta(seconds=parse_duration(args.older_than))
        db = open_database(args.db)
        db.check()
        counts = purge(db, older_than=older_than, keep_summaries=args.keep_summaries, dry_run=args.dry_run)
    except (ConfigError, ValueError, DatabaseUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"dry_run": args.dry_run, "keep_summaries": args.keep_summaries, **counts}))
    return 0
