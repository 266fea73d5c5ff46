"""`emotion-bot export --call ID [--format csv|json] [--out FILE] [--db URL]`: a call's timeline."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from bot.commands.db import add_db_argument


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export",
        help="export a call's per-participant timeline (face, voice, fused with valence/arousal)",
        description="CSV is long format: one row per observation or fused point, `kind` = face|voice|fused. "
        "JSON nests the same points per participant and adds the stored summary.",
    )
    parser.add_argument("--call", required=True, metavar="ID", help="call id (see the summary or `report`)")
    parser.add_argument("--format", choices=("csv", "json"), help="default: from --out's suffix, else csv")
    parser.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    add_db_argument(parser)
    parser.set_defaults(func=_run)


def output_format(requested: str | None, out: str | None) -> str:
    if requested:
        return requested
    return "json" if out and Path(out).suffix.lower() == ".json" else "csv"


def _run(args: argparse.Namespace) -> int:
    from bot.commands.db import open_database
    from bot.config import ConfigError
    from storage.db import DatabaseUnavailable
    from storage.export import export_csv_rows, export_json, write_csv
    from storage.repository import CallNotFound

    fmt = output_format(args.format, args.out)
    try:
        db = open_database(args.db)
        db.check()
        # Read everything first: a wrong call id must not leave a truncated --out file behind.
        if fmt == "csv":
            rows = export_csv_rows(db, args.call)
            described = f"{len(rows)} rows"
        else:
            payload = export_json(db, args.call)
            described = f"{len(payload['participants'])} participants"
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(open(args.out, "w", newline="")) if args.out else sys.stdout
            if fmt == "csv":
                write_csv(rows, out)
            else:
                json.dump(payload, out, indent=2)
                out.write("\n")
    except (ConfigError, ValueError, DatabaseUnavailable, CallNotFound, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        print(f"wrote {described} of call {args.call} to {args.out}", file=sys.stderr)
    return 0
