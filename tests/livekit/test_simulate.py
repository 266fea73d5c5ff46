"""`simulate`: files through real local tracks into the worker's room handling, end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.calls.recovery import finalise_crashed_calls
from bot.livekit.room import RoomOptions
from bot.livekit.simulate import ParticipantSpecError, SimulatedParticipant, simulate_call
from bot.pipeline.config import PipelineConfig
from bot.pipeline.demo_media import write_recording
from storage.db import Database
from storage.models import CallRow
from storage.outbox_models import WebhookMessageRow
from storage.repository import latest_summary
from tests.delivery.conftest import SECRET
from tests.delivery.receiver import Receiver


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    broken = folder / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    return {
        "video": write_recording(folder / "call.mp4", duration_s=2.0, width=320, height=240),
        "phone": write_recording(folder / "phone.ogg", duration_s=2.0, video=False),
        "broken": broken,
    }


def test_participant_spec_parsing():
    assert SimulatedParticipant.parse("a=x.mp4") == SimulatedParticipant("a", Path("x.mp4"), sip=False)
    assert SimulatedParticipant.parse("c=dir/p.ogg:sip") == SimulatedParticipant(
        "c", Path("dir/p.ogg"), sip=True
    )
    for bad in ("novalue", "=x.mp4", "a="):
        with pytest.raises(ParticipantSpecError):
            SimulatedParticipant.parse(bad)


async def test_simulated_call_analyses_everyone_but_the_unreadable_file(models, database, media):
    participants = [
        SimulatedParticipant("anna", media["video"]),
        SimulatedParticipant("ben", media["video"]),
        SimulatedParticipant("caller", media["video"], sip=True),  # has video; a phone sends none
        SimulatedParticipant("broken", media["broken"]),
    ]
    result = await simulate_call(
        participants,
        models=models,
        database=database,
        duration_s=3.0,  # longer than the files: they loop
        config=PipelineConfig(),
        options=RoomOptions(empty_grace_s=0.0, no_show_timeout_s=10),
        metadata={"deal_id": "D-1"},
    )
    stats = result.stats
    assert set(stats["participants"]) == {"anna", "ben", "caller"}
    assert "broken" in stats["errors"]
    for identity in ("anna", "ben"):
        entry = stats["participants"][identity]
        assert entry["face_observations"] > 0 and entry["published"]["loops"] >= 1
    caller = stats["participants"]["caller"]
    assert (
        caller["kind"] == "sip" and caller["face_observations"] == 0 and caller["video_reader"]["frames"] == 0
    )
    assert caller["voice_observations"] > 0
    assert stats["end_reason"] == "last_participant_left"
    assert stats["p95_frame_to_db_s"] is not None  # the target (< 1 s) is checked by the load run, not here
    assert result.outcome.summary["metadata"] == {"deal_id": "D-1"}


def run_cli(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "simulate", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_simulate_command_posts_the_summary_once_with_json_stats(tmp_path, media):
    receiver = Receiver(SECRET).start()
    try:
        result = run_cli(
            [
                "--participant", f"host={media['video']}",
                "--participant", f"caller={media['phone']}:sip",
                "--db", str(tmp_path / "sim.db"),
                "--webhook", receiver.url,
                "--metadata", json.dumps({"ticket_id": "T-7", "host_identity": "host"}),
                "--json",
            ],
            {"EMOTION_BOT_WEBHOOK_SECRET": SECRET},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        output = json.loads(result.stdout.strip().splitlines()[-1])
        assert output["webhook"]["delivered"] is True and output["webhook"]["messages"] == 1
        assert len(receiver.received) == 1
        body = receiver.received[0].body
        assert body["data"]["call_id"] == output["stats"]["call_id"]
        assert body["data"]["metadata"] == {"ticket_id": "T-7", "host_identity": "host"}
        roles = {p["identity"]: p["role"] for p in output["summary"]["participants"]}
        assert roles == {"host": "host", "caller": "caller"}
        assert output["stats"]["rss"]["end_mb"] > 0
    finally:
        receiver.stop()


@pytest.mark.slow
def test_simulate_with_the_webhook_down_keeps_the_summary_in_the_outbox(tmp_path, media):
    db_path = tmp_path / "sim.db"
    result = run_cli(
        [
            "--participant",
            f"p={media['phone']}",
            "--db",
            str(db_path),
            "--webhook",
            "http://127.0.0.1:9/down",
        ],
        {"EMOTION_BOT_WEBHOOK_SECRET": SECRET},
    )
    assert result.returncode == 6, result.stderr[-2000:]
    assert "NOT delivered" in result.stdout
    database = Database(str(db_path))
    with database.session() as s:
        message = s.scalars(select(WebhookMessageRow)).one()
        assert message.status == "pending" and message.attempts == 1  # retried later by the outbox
        call_id = s.scalars(select(CallRow.id)).one()
    assert latest_summary(database, call_id) is not None


@pytest.mark.slow
def test_a_killed_bot_leaves_an_active_call_that_the_next_start_finalises(tmp_path, media):
    db_path = tmp_path / "crash.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "simulate", "--participant", f"p={media['video']}",
         "--db", str(db_path), "--duration", "60"],
        env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    database = Database(str(db_path))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if db_path.exists() and _observations(database) > 2:
                break
        assert _observations(database) > 2
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    with database.session() as s:
        call_id, status = s.execute(select(CallRow.id, CallRow.status)).one()
    assert status == "active"  # nothing ran after the kill
    assert finalise_crashed_calls(database, default_webhook_url=None, stale_after_s=0) == [call_id]
    summary = latest_summary(database, call_id)
    assert summary["status"] == "partial" and summary["participants"][0]["observation_counts"]["face"] > 0


def _observations(database: Database) -> int:
    from sqlalchemy import func

    from storage.models import ObservationRow

    try:
        with database.session() as s:
            return s.scalar(select(func.count()).select_from(ObservationRow)) or 0
    except Exception:  # the schema is still being created by the child
        return 0


async def test_demo_call_has_a_camera_participant_and_a_phone_caller(models, database):
    from bot.livekit.demo import simulate_demo_call

    result = await simulate_demo_call(models, database, seconds=3.0)
    participants = {p["identity"]: p for p in result.outcome.summary["participants"]}
    assert participants["eileen"]["display_name"] == "Eileen (demo)"
    assert participants["eileen"]["observation_counts"]["face"] > 0
    assert (
        participants["caller"]["kind"] == "sip" and participants["caller"]["observation_counts"]["face"] == 0
    )
    assert (
        participants["caller"]["phone_number"].startswith("+44")
        and "*" in participants["caller"]["phone_number"]
    )
