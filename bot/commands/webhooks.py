"""`emotion-bot webhooks deliver|list|retry|secret`: the webhook outbox from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from bot.commands.db import add_db_argument


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("webhooks", help="deliver, inspect and retry outgoing webhooks")
    actions = parser.add_subparsers(dest="action", required=True)

    deliver = actions.add_parser("deliver", help="send due webhooks once (or keep sending with --loop)")
    deliver.add_argument("--loop", action="store_true", help="keep running, polling the outbox")
    add_db_argument(deliver)
    deliver.set_defaults(func=_guarded(_deliver))

    listing = actions.add_parser("list", help="show outbox messages, newest first")
    listing.add_argument("--status", choices=("pending", "delivered", "failed"))
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    add_db_argument(listing)
    listing.set_defaults(func=_guarded(_list))

    retry = actions.add_parser("retry", help="send a message again now, with a fresh retry schedule")
    retry.add_argument("id", help="outbox row id or webhook-id (msg_...)")
    add_db_argument(retry)
    retry.set_defaults(func=_guarded(_retry))

    secret = actions.add_parser("secret", help="print a new random whsec_ signing secret")
    secret.set_defaults(func=_secret)


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Configuration and database problems end the command with a one-line error, not a traceback."""

    def guarded(args: argparse.Namespace) -> int:
        from bot.config import ConfigError
        from storage.db import DatabaseUnavailable

        try:
            return run(args)
        except (ConfigError, ValueError, DatabaseUnavailable) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return guarded


def _deliver(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from bot.commands.db import open_database
    from bot.delivery.config import DeliveryConfig
    from bot.delivery.deliverer import Deliverer

    config = DeliveryConfig.from_env()
    db = open_database(args.db)
    db.check()
    deliverer = Deliverer(db, config)
    if not args.loop:
        counts = asyncio.run(deliverer.deliver_due())
        print(json.dumps(dict(counts)))
        return 0

    async def loop() -> None:
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await deliverer.run(stop)

    asyncio.run(loop())
    return 0


def _list(args: argparse.Namespace) -> int:
    from bot.commands.db import open_database
    from bot.delivery.outbox import list_messages

    db = open_database(args.db)
    db.check()
    rows = list_messages(db, status=args.status, limit=args.limit)
    if not args.json:
        print(
            f"{'id':>6}  {'status':<9} {'type':<13} {'tries':>5} {'last':>5}  {'next attempt':<20} webhook-id"
        )
    for row in rows:
        if args.json:
            record = {
                "id": row.id,
                "msg_id": row.msg_id,
                "type": row.event_type,
                "call_id": row.call_id,
                "status": row.status,
                "attempts": row.attempts,
                "last_status_code": row.last_status_code,
                "last_error": row.last_error,
                "next_attempt_at": row.next_attempt_at.isoformat(),
                "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
                "url": row.url,
            }
            print(json.dumps(record))
            continue
        next_at = row.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S") if row.status == "pending" else "-"
        print(
            f"{row.id:>6}  {row.status:<9} {row.event_type:<13} {row.attempts:>5} "
            f"{row.last_status_code or '-':>5}  {next_at:<20} {row.msg_id}"
        )
    return 0


def _retry(args: argparse.Namespace) -> int:
    from bot.commands.db import open_database
    from bot.delivery.outbox import retry_message

    db = open_database(args.db)
    db.check()
    row = retry_message(db, args.id)
    if row is None:
        print(f"error: no webhook message {args.id!r}", file=sys.stderr)
        return 1
    print(f"message {row.id} ({row.msg_id}) queued for delivery now")
    return 0


def _secret(args: argparse.Namespace) -> int:
    from bot.delivery.signing import generate_secret

    print(generate_secret())
    return 0
