"""The Twilio load check end to end at a small size: a real serve process, real streams, its report."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.timeout(300)
def test_load_check_reports_latency_drops_cpu_and_engine_batching() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.twilio.loadcheck", "--calls", "3", "--seconds", "8", "--ramp-s", "1",
         "--turn-s", "3", "--sample-s", "1", "--json"],
        capture_output=True, text=True, timeout=280, check=True,
    )  # fmt: skip
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["streams_ok"] == 3 and not report["stream_failures"]
    assert report["summaries"] == {"finished": 3}
    observations = report["voice_observations"]
    assert observations["participants"] == 6 and observations["with_observations"] == 6  # caller + agent
    assert report["segment_to_db_s"]["n"] == observations["total"] > 0
    assert report["dropped"]["audio_dropped_s"] == 0.0
    assert report["cpu"]["per_call_percent_of_one_core"] > 0
    engine = report["engine"]
    # every participant's audio went through the batched VAD; one pass served several streams
    assert engine["vad_batches"] > 0 and engine["largest_vad_batch"] >= 2
    assert engine["voice_segments"] == observations["total"]
