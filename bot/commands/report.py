"""`emotion-bot report --host ID | --call ID`: reviews across a host's calls, or of one call."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bot.commands.db import add_db_argument

if TYPE_CHECKING:
    from storage.db import Database


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "report",
        help="review a host's calls (--host) or one call (--call) as HTML/CSV",
        description="Offline single-file HTML (inline SVG plots) and CSV reports from the database.",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--host", help="host identity (dispatch metadata host_identity, or a host role)")
    target.add_argument("--call", help="one call id")
    parser.add_argument("--since", type=parse_date, help="first day included (YYYY-MM-DD, UTC)")
    parser.add_argument("--until", type=parse_until, help="last day included (YYYY-MM-DD, UTC)")
    parser.add_argument("--html", help="write the HTML report to this file")
    parser.add_argument("--csv", help="write one row per call and participant to this file (--host only)")
    add_db_argument(parser)
    parser.set_defaults(func=_run)


def parse_date(text: str) -> datetime:
    """YYYY-MM-DD (or a full ISO timestamp) -> an aware UTC datetime."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_until(text: str) -> datetime:
    """The exclusive end of the range: a plain date includes that whole day."""
    value = parse_date(text)
    return value + timedelta(days=1) if len(text.strip()) == 10 else value


def _run(args: argparse.Namespace) -> int:
    from bot.commands.db import open_database
    from bot.config import ConfigError
    from storage.db import DatabaseUnavailable
    from storage.repository import CallNotFound

    if args.call and args.csv:
        print(
            "error: --csv is for --host reports; `emotion-bot export` writes one call's timeline",
            file=sys.stderr,
        )
        return 2
    try:
        db = open_database(args.db)
        db.check()
        return _call_report(db, args) if args.call else _host_report(db, args)
    except CallNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ConfigError, ValueError, DatabaseUnavailable, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _call_report(db: Database, args: argparse.Namespace) -> int:
    from bot.review.data import review_call
    from bot.review.html import render_call_report

    call = review_call(db, args.call)
    if args.html:
        Path(args.html).write_text(render_call_report(call), encoding="utf-8")
        print(f"wrote {args.html}")
    print(f"call {call.call_id}: {len(call.participants)} participant(s), {len(call.alerts)} alert(s)")
    return 0


def _host_report(db: Database, args: argparse.Namespace) -> int:
    from bot.review.data import review_host
    from bot.review.html import render_host_report
    from bot.review.table import write_host_csv

    review = review_host(db, args.host, since=args.since, until=args.until)
    if args.html:
        Path(args.html).write_text(render_host_report(review), encoding="utf-8")
        print(f"wrote {args.html}")
    if args.csv:
        with Path(args.csv).open("w", newline="", encoding="utf-8") as out:
            rows = write_host_csv(review, out)
        print(f"wrote {args.csv} ({rows} rows)")
    print(f"host {review.host}: {len(review.calls)} call(s)")
    for call in review.calls:
        valence = call.others_valence()
        print(
            f"  {call.started_at:%Y-%m-%d %H:%M}  {call.call_id}  others' valence "
            f"{'-' if valence is None else f'{valence:+.2f}'}  alerts {len(call.alerts)}"
        )
    return 0
