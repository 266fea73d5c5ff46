"""A `serve` killed mid-call (SIGKILL: no drain, no summary) leaves the Twilio call active; the next
`serve` start finalises it with a partial summary and queues its webhook (the shared recovery)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.twilio.client import StreamIds, stream_call
from bot.twilio.source import ROUTE
from storage.db import Database
from storage.repository import latest_summary
from tests.twilio.conftest import AUTH_TOKEN
from tests.twilio.test_stream import ANGRY, HAPPY

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(db: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "EMOTION_BOT_DB": str(db), "TWILIO_AUTH_TOKEN": AUTH_TOKEN}
    env.pop("EMOTION_BOT_WEBHOOK_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--source", "twilio", "--port", str(port)],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def _healthy(port: int, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "serve exited"
            try:
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise AssertionError("serve did not start")


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_a_killed_serve_leaves_a_call_that_the_next_start_finalises_partial(tmp_path, emodb_speech):
    db_path, log = tmp_path / "calls.db", tmp_path / "serve.log"
    database = Database(str(db_path))
    database.upgrade()
    _widen_sources_until_storage_has_twilio(db_path)
    port = _free_port()
    first = _serve(db_path, port, log)
    try:
        await _healthy(port, first)
        ids = StreamIds()
        speech = emodb_speech(*ANGRY, *ANGRY)
        call = asyncio.create_task(
            stream_call(
                f"ws://127.0.0.1:{port}{ROUTE}",
                AUTH_TOKEN,
                {"inbound": speech, "outbound": emodb_speech(*HAPPY, *HAPPY)},
                params={"deal_id": "4711", "webhook_url": "https://crm.example/hook"},
                ids=ids,
            )
        )
        deadline = time.monotonic() + 30
        while not _rows(db_path, "select 1 from observations limit 1"):  # analysis is being stored
            assert time.monotonic() < deadline, (log.read_text()[-3000:], call)
            await asyncio.sleep(0.2)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        await asyncio.gather(call, return_exceptions=True)
    finally:
        if first.poll() is None:
            first.kill()
    [(call_id, status)] = _rows(db_path, "select id, status from calls")
    assert status == "active"
    # Recovery only takes over a call nobody wrote to for 2 minutes (another serve may own it):
    # let those minutes pass in the database rather than in the test.
    with sqlite3.connect(db_path) as conn:
        conn.execute("update calls set started_at = datetime(started_at, '-10 minutes')")
        conn.execute("update observations set created_at = datetime(created_at, '-10 minutes')")
    second = _serve(db_path, port, log)
    try:
        await _healthy(port, second)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(60)
    summary = latest_summary(database, call_id)
    assert summary is not None and summary["status"] == "partial", log.read_text()[-3000:]
    assert summary["source"] == "twilio"
    assert summary["metadata"]["twilio"]["call_sid"] == ids.call_sid
    assert {p["identity"] for p in summary["participants"]} == {"caller", "agent"}
    assert _rows(db_path, f"select count(*) from webhook_outbox where call_id = '{call_id}'") == [(1,)]
    database.dispose()


def _widen_sources_until_storage_has_twilio(db_path: Path) -> None:
    """STOPGAP, as in conftest.database: the serve subprocess writes source "twilio"."""
    from storage import models

    if "twilio" in models.CALL_SOURCES:
        return
    if not os.environ.get("PYTHONPATH", "").endswith("tw_shim"):
        pytest.skip("storage does not accept source 'twilio' yet (needs the lead's migration)")
