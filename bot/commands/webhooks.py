"""`emotion-bot webhooks deliver|list|retry|secret`: the webhook outbox from the command line."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage.db import Database


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("webhooks", help="deliver, inspect and retry outgoing webhooks")
    actions = parser.add_subparsers(dest="action", required=True)

    deliver = actions.add_parser("deliver", help="send due webhooks once (or keep sending with --loop)")
    deliver.add_argument("--loop", action="store_true", help="keep running, polling the outbox")
    deliver.add_argument("--db", help="database path or URL (default: EMOTION_BOT_DB)")
    deliver.set_defaults(func=_deliver)

    listing = actions.add_parser("list", help="show outbox messages, newest first")
    listing.add_argument("--status", choices=("pending", "delivered", "failed"))
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument("--db", help="database path or URL (default: EMOTION_BOT_DB)")
    listing.set_defaults(func=_list)

    retry = actions.add_parser("retry", help="send a message again now, with a fresh retry schedule")
    retry.add_argument("id", help="outbox row id or webhook-id (msg_...)")
    retry.add_argument("--db", help="database path or URL (default: EMOTION_BOT_DB)")
    retry.set_defaults(func=_retry)

    secret = actions.add_parser("secret", help="print a new random whsec_ signing secret")
    secret.set_defaults(func=_secret)


def _database(url: str | None) -> Database:
    from storage.db import Database

    db = Database.from_config(url)
    db.check()
    return db


def _deliver(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from bot.delivery.config import DeliveryConfig
    from bot.delivery.deliverer import Deliverer

    deliverer = Deliverer(_database(args.db), DeliveryConfig.from_env())
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
    from bot.delivery.outbox import list_messages

    rows = list_messages(_database(args.db), status=args.status, limit=args.limit)
    if not args.json:
        print(
            f"{'id':>6}  {'status':<9} {'type':<13} {'tries':>5} {'last':>5}  {'next attempt':<20} webhook-id"
        )
    for row in rows:
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
        if args.json:
            print(json.dumps(record))
        else:
            next_at = row.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S") if row.status == "pending" else "-"
            print(
                f"{row.id:>6}  {row.status:<9} {row.event_type:<13} {row.attempts:>5} "
                f"{row.last_status_code or '-':>5}  {next_at:<20} {row.msg_id}"
            )
    return 0


def _retry(args: argparse.Namespace) -> int:
    from bot.delivery.outbox import retry_message

    row = retry_message(_database(args.db), args.id)
    if row is None:
        print(f"no webhook message {args.id!r}")
        return 1
    print(f"message {row.id} ({row.msg_id}) queued for delivery now")
    return 0


def _secret(args: argparse.Namespace) -> int:
    from bot.delivery.signing import generate_secret

    print(generate_secret())
    return 0
