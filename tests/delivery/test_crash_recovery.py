"""The proof: receiver down, then failing with 500s, then back; the sender (a real `emotion-bot webhooks
deliver --loop` process) is SIGKILLed mid-request and restarted. Every summary arrives, each exactly
once after de-duplication on webhook-id, and every signature verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.outbox_models import WebhookMessageRow
from tests.delivery.conftest import SECRET
from tests.delivery.receiver import Receiver
from tests.delivery.test_outbox import finished_call

CALLS = 6
# Generous waits: starting a Python process takes seconds on a busy 2-core machine (~5 s in all when idle).
LOADED_MACHINE_S = 90


def start_sender(db_path: Path, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "EMOTION_BOT_DB": str(db_path),
        "EMOTION_BOT_WEBHOOK_SECRET": SECRET,
        "EMOTION_BOT_WEBHOOK_RETRY_SCHEDULE": ",".join(["0"] + ["0.3s"] * 40),
        "EMOTION_BOT_WEBHOOK_TIMEOUT": "1s",
        "EMOTION_BOT_WEBHOOK_LEASE": "1.5s",
        "EMOTION_BOT_WEBHOOK_POLL_INTERVAL": "0.1s",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "webhooks", "deliver", "--loop"],
            env=env,
            stdout=out,
            stderr=out,
        )


def statuses(db: Database) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(WebhookMessageRow.status)))


@pytest.mark.slow
def test_every_summary_arrives_exactly_once_across_outage_errors_and_sender_kill(tmp_path: Path) -> None:
    db_path = tmp_path / "calls.db"
    db = Database(str(db_path))
    db.upgrade()
    receiver = Receiver(SECRET)
    call_ids = {finished_call(db, receiver.url) for _ in range(CALLS)}
    log = tmp_path / "sender.log"
    sender = start_sender(db_path, log)
    try:
        # 1. receiver down: connection refused, every message keeps being retried
        deadline = time.monotonic() + LOADED_MACHINE_S
        while time.monotonic() < deadline:
            with db.session() as session:
                tries = list(session.scalars(select(WebhookMessageRow.attempts)))
            if min(tries) >= 2:
                break
            time.sleep(0.1)
        assert min(tries) >= 2, log.read_text()
        assert set(statuses(db)) == {"pending"}

        # 2. receiver up but failing
        receiver.reply = lambda n: (500, {}, 0.0)
        receiver.start()
        assert receiver.wait_for(lambda: len(receiver.unique()) == CALLS, LOADED_MACHINE_S), log.read_text()
        failing = len(receiver.received)

        # 3. receiver healthy but slow: kill the sender while a request is in flight
        receiver.reply = lambda n: (200, {}, 0.0) if n > failing else (200, {}, 3.0)
        assert receiver.wait_for(lambda: len(receiver.received) > failing, LOADED_MACHINE_S)
        sender.send_signal(signal.SIGKILL)
        sender.wait(5)
        in_flight = receiver.received[failing].msg_id
        with db.session() as session:
            row = session.scalars(
                select(WebhookMessageRow).where(WebhookMessageRow.msg_id == in_flight)
            ).one()
        assert row.status == "pending" and row.locked_until is not None  # leased by the dead sender

        # 4. restart: the killed sender's lease runs out and everything is delivered
        sender = start_sender(db_path, log)
        assert receiver.wait_for(lambda: set(statuses(db)) == {"delivered"}, LOADED_MACHINE_S), (
            log.read_text()
        )
    finally:
        sender.kill()
        sender.wait(5)
        receiver.stop()

    unique = receiver.unique()
    assert len(unique) == CALLS
    assert {item.body["data"]["call_id"] for item in unique.values()} == call_ids
    assert receiver.count(in_flight) >= 2  # the killed request was re-sent: at-least-once, same id
    assert not receiver.rejected
    with db.session() as session:
        ids = set(session.scalars(select(WebhookMessageRow.msg_id)))
    assert ids == set(unique)
