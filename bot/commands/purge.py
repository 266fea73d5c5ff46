"""`emotion-bot purge --older-than 90d [--keep-summaries]`: the retention limit, applied."""

from __future__ import annotations

import argparse
import json


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
    parser.add_argument("--db", help="database path or URL (default: EMOTION_BOT_DB)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from bot.delivery.schedule import parse_duration
    from bot.policy.retention import purge
    from storage.db import Database

    try:
        older_than = timedelta(seconds=parse_duration(args.older_than))
    except ValueError as exc:
        print(f"--older-than: {exc}")
        return 2
    db = Database.from_config(args.db)
    db.check()
    try:
        counts = purge(db, older_than=older_than, keep_summaries=args.keep_summaries, dry_run=args.dry_run)
    except ValueError as exc:
        print(exc)
        return 2
    print(json.dumps({"dry_run": args.dry_run, "keep_summaries": args.keep_summaries, **counts}))
    return 0
