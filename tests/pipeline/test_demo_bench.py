"""`emotion-bot demo` end to end, and the bench's simulated live feed (short runs)."""

from __future__ import annotations

import json

import pytest

from bot.cli import main
from bot.pipeline.benchmark import simulated_call, voice_throughput
from storage.models import CallRow, ObservationRow

from .test_analyze import rows


@pytest.mark.slow  # a real-time simulated call with the models loaded in the command itself
def test_demo_runs_end_to_end_on_shipped_media(tmp_path, capsys):
    db = tmp_path / "demo.db"
    code = main(["demo", "--seconds", "6", "--db", str(db), "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    summary = json.loads(out[-1])
    people = {p["identity"]: p for p in summary["participants"]}
    assert people["eileen"]["display_name"] == "Eileen (demo)"
    camera, phone = people["eileen"]["observation_counts"], people["caller"]["observation_counts"]
    assert camera["face"] >= 5 and camera["voice"] >= 1
    assert people["caller"]["kind"] == "sip" and phone["face"] == 0 and phone["voice"] >= 1
    assert any(line.startswith("stored in ") for line in out)
    assert rows(db, CallRow, status="finished") == 1
    assert rows(db, ObservationRow) == camera["face"] + camera["voice"] + phone["voice"]


@pytest.mark.slow  # a 3 s real-time feed
async def test_simulated_live_feed_reaches_the_database(models, database):
    result = await simulated_call(models, database, participants=3, seconds=3.0)
    stats = result.stats
    assert set(stats["participants"]) == {"p000", "p001", "p002"}
    assert all(abs(p["frames_sampled"] - 6) <= 1 for p in stats["participants"].values())
    assert stats["faces"] >= 15 and stats["p95_frame_to_db_s"] is not None
    assert all(p["audio_in_s"] > 2.9 for p in stats["participants"].values())
    assert rows(database.url.database, ObservationRow) == stats["observations"]


def test_voice_throughput_is_measured(models):
    voice = voice_throughput(models, audio_s=8.0)
    assert voice["segments"] >= 1 and 0 < voice["real_time_factor"] < 10
