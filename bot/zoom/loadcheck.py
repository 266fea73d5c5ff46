"""Load check of the Zoom path: `python -m bot.zoom.loadcheck --participants 10 --seconds 120 --json`.

One in-process `serve` with the Zoom source, the fake RTMS server streaming N participants (each
speaker's audio separately, as AUDIO_MULTI_STREAMS does, everybody talking; the active speaker's
video at 2 fps, the speaker changing every 3 s). Prints JSON: frame-to-database p95/max, drops
(frames, audio), what was skipped, the `rtms_started` -> first stored observation latency, and the
process RSS sampled over the run (flat = bounded queues). Speech: EmoDB files from --data (the
shared data dir) when given, else the shipped demo speech; faces: the shipped demo portrait.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bot.pipeline.demo_media import FACE_IMAGE, speech_pcm
from bot.zoom.fake import FakeParticipant
from bot.zoom.fake_media import audio_pcm, image_frames
from bot.zoom.simulate import FIRST_USER_ID, simulate_meeting


def participants(count: int, seconds: float, data_dir: Path | None) -> list[FakeParticipant]:
    frames = image_frames(FACE_IMAGE)
    wavs = sorted((data_dir / "emodb" / "wav").glob("*.wav"))[: count * 4] if data_dir else []
    people = []
    for i in range(count):
        if wavs:
            audio = np.concatenate([audio_pcm(p) for p in wavs[i::count][:4]])
        else:
            audio = speech_pcm(min(seconds, 60.0), offset_s=3.1 * i)
        people.append(FakeParticipant(FIRST_USER_ID + 1024 * i, f"Participant {i + 1}", audio, frames))
    return people


async def first_observation_latency(database: Any, started: float, box: dict[str, float]) -> None:
    from sqlalchemy import select

    from storage.models import ObservationRow

    def any_stored() -> bool:
        with database.session() as s:
            return s.scalar(select(ObservationRow.id).limit(1)) is not None

    while not await asyncio.to_thread(any_stored):
        await asyncio.sleep(0.05)
    box["rtms_started_to_first_observation_s"] = round(time.monotonic() - started, 3)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from bot.livekit.simulate import _RssMonitor
    from bot.livekit.worker import load_process_models
    from storage.db import Database

    folder = Path(tempfile.mkdtemp(prefix="zoom-loadcheck-"))
    database = Database(str(folder / "calls.db"))
    database.upgrade()
    models = load_process_models()
    rss = _RssMonitor()
    latency: dict[str, float] = {}
    watchers: list[asyncio.Task[None]] = []

    def on_started(source: Any, fake: Any) -> None:
        watchers.append(asyncio.create_task(first_observation_latency(database, time.monotonic(), latency)))

    rss.start()
    try:
        result = await simulate_meeting(
            participants(args.participants, args.seconds, args.data),
            models=models,
            database=database,
            duration_s=args.seconds,
            on_started=on_started,
        )
    finally:
        memory = await rss.stop()
        for task in watchers:
            task.cancel()
        models.close()
        database.dispose()
    session = result.stats["session"]
    people = session.get("participants", {})
    return {
        "participants": args.participants,
        "seconds": args.seconds,
        "p95_frame_to_db_s": session.get("p95_frame_to_db_s"),
        "max_frame_to_db_s": session.get("max_frame_to_db_s"),
        **latency,
        "frames_in": session.get("frames_in"),
        "frames_sampled": session.get("frames_sampled"),
        "frames_dropped": session.get("frames_dropped"),
        "audio_dropped_s": session.get("audio_dropped_s"),
        "observations": session.get("observations"),
        "voice_segments_per_participant": {k: v.get("segments") for k, v in people.items()},
        "input": result.stats["input"],
        "sent_by_fake": result.stats["sent_by_fake"],
        "rss_mb": memory,
        "rss_samples_mb": [round(s) for s in rss.samples],
        "summary_status": result.summary["status"] if result.summary else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--participants", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--data", type=Path, help="the shared data dir (EmoDB speech); default: demo speech")
    parser.add_argument(
        "--json", action="store_true", help="print JSON only (the default prints it indented)"
    )
    args = parser.parse_args()
    report = asyncio.run(run(args))
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
