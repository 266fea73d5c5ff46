"""`emotion-bot demo`: the main job end to end on media the project ships, stored in SQLite.

Writes a short call recording from bot/assets/demo (a public-domain NASA portrait drifting across
the frame, speech synthesised with espeak-ng), analyses it exactly as `analyze` would (face +
voice, batched inference, smoothing, storage, summary) and prints the summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

DEMO_SECONDS = 30.0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="analyse a generated demo call end to end and print its summary")
    parser.add_argument("--db", help="SQLite path or URL (default: demo.db in the data dir)")
    parser.add_argument("--seconds", type=float, default=DEMO_SECONDS, help="length of the demo call")
    parser.add_argument("--keep", metavar="PATH", help="also keep the generated recording at PATH (.mp4)")
    parser.add_argument("--json", action="store_true", help="print the summary JSON as the last line")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bot.config import default_data_dir
    from bot.pipeline.config import PipelineConfig
    from bot.pipeline.demo_media import write_recording
    from bot.pipeline.models import load_models
    from bot.pipeline.recording import analyse_recording
    from bot.pipeline.sources.file import probe
    from bot.summary import format_summary_text
    from storage.db import Database

    db_url = args.db or str(default_data_dir(os.environ) / "demo.db")
    database = Database(db_url)
    database.upgrade()
    with tempfile.TemporaryDirectory(prefix="emotion-demo-") as folder:
        video = Path(args.keep) if args.keep else Path(folder) / "demo-call.mp4"
        print(f"writing a {args.seconds:g} s demo call to {video} ...", file=sys.stderr)
        write_recording(video, duration_s=args.seconds)
        models = load_models()
        try:
            result = asyncio.run(
                analyse_recording(
                    probe(video),
                    models=models,
                    database=database,
                    participant="Eileen (demo)",
                    config=PipelineConfig(adaptive=False),
                )
            )
        finally:
            models.close()
            database.dispose()
    print(format_summary_text(result.summary))
    for note in result.notes:
        print(f"note: {note}")
    print(f"stored in {database.display_url} as call {result.summary['call_id']}")
    if args.json:
        print(json.dumps(result.summary, ensure_ascii=False, separators=(",", ":")))
    return 0 if result.observations else 1
