"""Against a real LiveKit server (`livekit-server --dev`): the worker, a dispatch, a camera+microphone
participant and a phone-kind participant, through to the stored summary.

Runs only when LIVEKIT_URL (and LIVEKIT_API_KEY / LIVEKIT_API_SECRET) are set, e.g.
    LIVEKIT_URL=ws://127.0.0.1:7880 LIVEKIT_API_KEY=devkey LIVEKIT_API_SECRET=secret \\
        .venv/bin/pytest -q -m livekit_server tests/livekit/test_livekit_server.py
The SDK's WebRTC stack ignores the loopback interface: the machine needs a non-loopback address.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from livekit import rtc
from sqlalchemy import select

from bot.livekit.credentials import LiveKitCredentials
from bot.livekit.dispatch import create_dispatch
from bot.livekit.metadata import parse_metadata
from bot.livekit.publisher import FilePublisher
from bot.livekit.tokens import mint_join_token
from bot.pipeline.demo_media import write_recording
from storage.db import Database
from storage.models import CallRow, ParticipantRow
from storage.repository import latest_summary

pytestmark = [
    pytest.mark.livekit_server,
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("LIVEKIT_URL"),
        reason="needs a real LiveKit server: set LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET "
        "(e.g. `livekit-server --dev`: ws://127.0.0.1:7880, devkey, secret)",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def join_and_publish(
    credentials, room: str, identity: str, path: Path, *, sip: str | None, seconds: float
):
    """A client: connect with a join token, publish the file's tracks, stay `seconds`, leave."""
    token = mint_join_token(credentials, room=room, identity=identity, sip_phone_number=sip)
    lk_room = rtc.Room()
    await lk_room.connect(credentials.url, token)
    publisher = FilePublisher(path, video=sip is None, audio=True, duration_s=seconds)
    for track, source in publisher.tracks(identity):
        await lk_room.local_participant.publish_track(track, rtc.TrackPublishOptions(source=source))
    try:
        await publisher.run()
    finally:
        await lk_room.disconnect()
        await publisher.aclose()


async def wait_for_status(database: Database, room: str, statuses: set[str], timeout: float) -> CallRow:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with database.session() as s:
            call = s.scalars(select(CallRow).where(CallRow.room == room)).first()
        if call is not None and call.status in statuses:
            return call
        await asyncio.sleep(0.5)
    raise AssertionError(f"no call in room {room} reached {statuses} within {timeout} s")


async def test_dispatched_worker_analyses_a_real_room_until_everyone_left(tmp_path):
    credentials = LiveKitCredentials.from_env()
    db_path = tmp_path / "live.db"
    database = Database(str(db_path))
    database.upgrade()
    video = write_recording(tmp_path / "call.mp4", duration_s=4.0, width=320, height=240)
    phone = write_recording(tmp_path / "phone.ogg", duration_s=4.0, video=False)
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "worker", "start", "--db", str(db_path),
         "--port", str(free_port()), "--grace", "2"],
        env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    room = f"it-{uuid.uuid4().hex[:8]}"
    try:
        await asyncio.sleep(8)  # registration (~5 s) and prewarmed job processes
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
        metadata = parse_metadata(json.dumps({"deal_id": "IT-1", "host_identity": "host-1"}))
        await create_dispatch(credentials, room=room, metadata=metadata)
        await asyncio.gather(
            join_and_publish(credentials, room, "host-1", video, sip=None, seconds=10),
            join_and_publish(credentials, room, "caller-1", phone, sip="+4915112345689", seconds=10),
        )
        call = await wait_for_status(database, room, {"finished", "partial"}, timeout=60)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        log.close()
    assert call.status == "finished" and call.source == "livekit"
    assert call.metadata_ == {"deal_id": "IT-1", "host_identity": "host-1"}
    with database.session() as s:
        rows = {
            p.identity: p for p in s.scalars(select(ParticipantRow).where(ParticipantRow.call_id == call.id))
        }
    assert set(rows) == {"host-1", "caller-1"}  # the bot itself and nobody else
    assert rows["host-1"].role == "host" and rows["caller-1"].kind == "sip"
    assert rows["caller-1"].phone_number == "+4915*******89"
    summary = latest_summary(database, call.id)
    counts = {p["identity"]: p["observation_counts"] for p in summary["participants"]}
    assert counts["host-1"]["face"] > 0
    assert counts["caller-1"]["face"] == 0 and counts["caller-1"]["voice"] > 0
