"""Storage benchmark: `python -m storage.bench [--db URL] [--minutes 60] [--participants 3]`.

Prints one JSON line:
- `bulk`: a whole synthetic call (per participant 2 face samples/s, 2 fused points/s, speech half
  the time) pushed through the writer as fast as it takes it: items/s and flush latencies;
- `paced`: `--paced-s` seconds fed in real time: frame-to-database latency (Observation.captured_at
  to commit), the number a live call sees;
- `summary_s` / `export_csv_s`: building the summary and the CSV export of the bulk call.
Without --db it uses a fresh SQLite file in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from emotion_models.affect import valence_arousal
from emotion_models.labels import LABELS
from storage import repository
from storage.db import Database
from storage.export import export_csv_rows, write_csv
from storage.records import FusedPoint, Observation
from storage.writer import ObservationWriter


def _probabilities(rng: random.Random) -> tuple[float, ...]:
    raw = [rng.random() ** 3 for _ in LABELS]
    total = sum(raw)
    return tuple(v / total for v in raw)


def half_second(identity: str, t: float, rng: random.Random) -> list[Observation | FusedPoint]:
    """One participant at media time t: a face sample, a fused point, and every 2 s a 1 s speech segment."""
    now = time.monotonic()
    p = _probabilities(rng)
    top = LABELS[int(np.argmax(p))]
    valence, arousal = valence_arousal(np.array(p))
    items: list[Observation | FusedPoint] = [
        Observation(identity, "face", t, t, p, top, max(p), face_size=96.0, captured_at=now),
        FusedPoint(identity, t, p, top, float(valence), float(arousal), ("face", "voice")),
    ]
    if t % 2 == 0:
        items.append(
            Observation(identity, "voice", t, t + 1.0, p, top, max(p), speech_level_db=-22.0, captured_at=now)
        )
    return items


def _submit(writer: ObservationWriter, items: list[Observation | FusedPoint]) -> None:
    for item in items:
        if isinstance(item, Observation):
            writer.submit_observation(item)
        else:
            writer.submit_fused(item)


def _new_call(db: Database, participants: int) -> tuple[str, list[str]]:
    call_id = repository.create_call(db, room="bench", source="simulated")
    identities = [f"p{i}" for i in range(participants)]
    for identity in identities:
        repository.upsert_participant(db, call_id, identity)
    return call_id, identities


async def bulk(db: Database, minutes: float, participants: int) -> tuple[str, dict[str, Any]]:
    call_id, identities = _new_call(db, participants)
    rng = random.Random(0)
    writer = ObservationWriter(db, call_id)
    writer.start()
    started = time.perf_counter()
    submitted = 0
    for step in range(int(minutes * 120)):
        for identity in identities:
            items = half_second(identity, step / 2, rng)
            _submit(writer, items)
            submitted += len(items)
        if step % 20 == 0:
            await asyncio.sleep(0)  # let the writer task run, as the pipeline would
    await writer.aclose()
    elapsed = time.perf_counter() - started
    stats = writer.stats
    return call_id, {
        "items": submitted,
        "written": stats["written"],
        "dropped": stats["dropped"],
        "seconds": round(elapsed, 3),
        "items_per_s": round(stats["written"] / elapsed, 1),
        "flushes": stats["flushes"],
        "max_flush_latency_s": round(stats["max_flush_latency_s"], 4),
    }


async def paced(db: Database, seconds: float, participants: int) -> dict[str, Any]:
    call_id, identities = _new_call(db, participants)
    rng = random.Random(1)
    delays: list[float] = []

    def on_written(observations: list[Observation]) -> None:
        now = time.monotonic()
        delays.extend(now - o.captured_at for o in observations)

    writer = ObservationWriter(db, call_id, on_written=on_written)
    writer.start()
    for step in range(int(seconds * 2)):
        for identity in identities:
            _submit(writer, half_second(identity, step / 2, rng))
        await asyncio.sleep(0.5)
    await writer.aclose()
    arr = np.array(delays)
    return {
        "observations": int(arr.size),
        "frame_to_db_p50_s": round(float(np.percentile(arr, 50)), 3) if arr.size else None,
        "frame_to_db_p95_s": round(float(np.percentile(arr, 95)), 3) if arr.size else None,
        "frame_to_db_max_s": round(float(arr.max()), 3) if arr.size else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storage.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL or SQLite path (default: a temporary SQLite file)")
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the bulk call")
    parser.add_argument("--participants", type=int, default=3)
    parser.add_argument("--paced-s", type=float, default=10.0, help="seconds of real-time feeding")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(args.db or str(Path(tmp) / "bench.db"))
        db.upgrade()
        call_id, bulk_result = asyncio.run(bulk(db, args.minutes, args.participants))
        paced_result = asyncio.run(paced(db, args.paced_s, args.participants))

        from bot.summary import build_summary

        started = time.perf_counter()
        build_summary(db, call_id)
        summary_s = time.perf_counter() - started
        started = time.perf_counter()
        write_csv(export_csv_rows(db, call_id), io.StringIO())
        export_s = time.perf_counter() - started
        print(
            json.dumps(
                {
                    "db": db.dialect,
                    "minutes": args.minutes,
                    "participants": args.participants,
                    "bulk": bulk_result,
                    "paced": paced_result,
                    "summary_s": round(summary_s, 3),
                    "export_csv_s": round(export_s, 3),
                }
            )
        )
        db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
