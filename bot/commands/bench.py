"""`emotion-bot bench`: face frames/s, voice real-time factor, participants sustained at 2 fps on
2 cores with p95 frame-to-database latency; `--memory`: RSS growth over a long 10-participant feed."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

TARGET_PARTICIPANTS = 25
TARGET_P95_S = 1.0
DEFAULT_MEMORY_MINUTES = 3.0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="measure throughput, capacity, latency (or memory) on this machine")
    parser.add_argument("--json", action="store_true", help="print only the final JSON line")
    parser.add_argument("--cores", type=int, default=2, help="pin the process to this many cores (default 2)")
    parser.add_argument("--trial-seconds", type=float, default=15.0, help="length of each capacity trial")
    parser.add_argument(
        "--start", type=int, default=TARGET_PARTICIPANTS, help="first participant count tried"
    )
    parser.add_argument("--step", type=int, default=5, help="participant step between trials")
    parser.add_argument("--max-participants", type=int, default=80)
    parser.add_argument("--memory", action="store_true", help="memory-flatness mode instead")
    parser.add_argument(
        "--minutes",
        type=float,
        default=DEFAULT_MEMORY_MINUTES,
        help=f"memory mode: minutes fed (default {DEFAULT_MEMORY_MINUTES:g}: shortened; target per 10)",
    )
    parser.set_defaults(func=run)


def _pin_cores(cores: int) -> list[int]:
    available = sorted(os.sched_getaffinity(0))
    chosen = available[:cores]
    if len(chosen) < len(available):
        os.sched_setaffinity(0, chosen)
    return chosen


def run(args: argparse.Namespace) -> int:
    from bot.pipeline import benchmark
    from bot.pipeline.models import load_models

    def say(message: Any) -> None:
        if not args.json:
            print(message if isinstance(message, str) else json.dumps(message), flush=True)
        else:
            print(message if isinstance(message, str) else json.dumps(message), file=sys.stderr, flush=True)

    cores = _pin_cores(args.cores)
    models = load_models()
    machine = {
        "cpus_total": os.cpu_count(),
        "cores_used": len(cores),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "rss_mb_models_loaded": round(benchmark.rss_mb(), 1),
    }
    try:
        if args.memory:
            say(f"memory mode: 10 participants for {args.minutes:g} min (target: <= 50 MB growth per 10 min)")
            memory = benchmark.memory_flatness(models, minutes=args.minutes)
            result: dict[str, Any] = {"machine": machine, "memory": memory}
            result["memory"]["note"] = (
                "shortened run" if args.minutes < 10 else "full 10-minute run"
            ) + "; growth is measured after the first minute (warm-up) and scaled to 10 minutes"
            result["meets_targets"] = memory["growth_mb_per_10_min"] <= memory["target_mb_per_10_min"]
        else:
            say("face path ...")
            face = benchmark.face_throughput(models)
            say(face)
            say("voice path ...")
            voice = benchmark.voice_throughput(models)
            say(voice)
            say(f"participants at 2 fps on {len(cores)} cores ({args.trial_seconds:g} s trials) ...")
            capacity = benchmark.participant_capacity(
                models,
                trial_s=args.trial_seconds,
                start=args.start,
                step=args.step,
                max_participants=args.max_participants,
                max_p95_s=TARGET_P95_S,
                log=say,
            )
            best = [t for t in capacity["trials"] if t["participants"] == capacity["sustained_participants"]]
            result = {
                "machine": machine,
                "face": face,
                "voice": voice,
                "capacity": capacity,
                "targets": {"participants_at_2fps": TARGET_PARTICIPANTS, "p95_frame_to_db_s": TARGET_P95_S},
                "meets_targets": capacity["sustained_participants"] >= TARGET_PARTICIPANTS
                and bool(best)
                and best[0]["p95_frame_to_db_s"] < TARGET_P95_S,
            }
        result["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        models.close()
    print(json.dumps(result))
    return 0
