"""`emotion-bot demo`: the main job end to end on media the project ships, stored in SQLite.

A simulated LiveKit room with two participants made from bot/assets/demo: a camera participant (a
public-domain NASA portrait drifting across the frame, with speech synthesised by espeak-ng) and a
phone caller (the same speech, audio only, SIP kind). Both are published through real local LiveKit
tracks into the same room handling the worker uses; the call is analysed, stored and summarised.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

DEMO_SECONDS = 30.0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="run a simulated demo call end to end and print its summary")
    parser.add_argument("--db", help="SQLite path or URL (default: demo.db in the data dir)")
    parser.add_argument("--seconds", type=float, default=DEMO_SECONDS, help="length of the demo call")
    parser.add_argument("--json", action="store_true", help="print the summary JSON as the last line")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bot.config import default_data_dir
    from bot.livekit.demo import simulate_demo_call
    from bot.livekit.worker import load_process_models
    from bot.summary import format_summary_text
    from storage.db import Database

    db_url = args.db or str(default_data_dir(os.environ) / "demo.db")
    database = Database(db_url)
    database.upgrade()
    print(
        f"simulating a {args.seconds:g} s call (camera participant + phone caller) in real time ...",
        file=sys.stderr,
    )
    models = load_process_models()
    try:
        result = asyncio.run(simulate_demo_call(models, database, seconds=args.seconds))
    finally:
        models.close()
        database.dispose()
    summary = result.outcome.summary
    print(format_summary_text(summary))
    print(f"stored in {database.display_url} as call {summary['call_id']}")
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, separators=(",", ":")))
    analysed = any(sum(p["observation_counts"].values()) for p in summary["participants"])
    return 0 if analysed else 1
