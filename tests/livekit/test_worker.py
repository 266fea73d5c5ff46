"""The worker: its job entrypoint on a FakeRoom (the SDK's fake job context), admission while the
database is down, the CLI's start-up checks, and crash recovery."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from livekit.agents.testing import fake_job_context
from livekit.protocol import agent
from livekit.protocol import models as lk_models
from sqlalchemy import select

from bot.calls.recovery import finalise_crashed_calls
from bot.cli import main
from bot.livekit import worker
from bot.livekit.fake_room import FakeRoom
from bot.livekit.worker import GRACE_ENV, entrypoint, on_request
from storage.db import Database
from storage.models import CallRow, utcnow
from storage.outbox_models import WebhookMessageRow
from storage.repository import create_call, latest_summary
from tests.livekit.conftest import wait_until

LIVEKIT_ENV = {
    "LIVEKIT_URL": "ws://127.0.0.1:7880",
    "LIVEKIT_API_KEY": "devkey",
    "LIVEKIT_API_SECRET": "a-test-secret-that-is-32-bytes-long",
}


def call_row(database: Database, call_id: str | None = None) -> CallRow:
    with database.session() as s:
        query = select(CallRow) if call_id is None else select(CallRow).where(CallRow.id == call_id)
        return s.scalars(query).one()


async def test_job_entrypoint_analyses_the_room_and_records_invalid_metadata(
    models, database, monkeypatch, live
):
    monkeypatch.setenv(GRACE_ENV, "0.2")
    monkeypatch.delenv("EMOTION_BOT_WEBHOOK_URL", raising=False)
    room = FakeRoom("dispatched-room")
    with fake_job_context(room=room, job_metadata='{"deal_id": "D-1", "webhook_url": "not a url"}') as ctx:
        ctx.proc.userdata.update(models=models, database=database)
        job = asyncio.create_task(entrypoint(ctx))
        await wait_until(lambda: _has_call(database) or job.done(), what="call row")
        customer = live(room, "customer-1").join()
        await asyncio.sleep(2.0)
        await customer.leave()
        await asyncio.wait_for(job, 30)
        # The SDK runs shutdown callbacks after the entrypoint asked for shutdown: harmless now.
        await asyncio.gather(*(callback("room closed") for callback in ctx._shutdown_callbacks))
    call = call_row(database)
    assert call.status == "finished" and call.room == "dispatched-room" and call.source == "livekit"
    assert call.metadata_["invalid"] is True and "webhook_url" in call.metadata_["error"]
    summary = latest_summary(database, call.id)
    assert summary is not None and summary["call_id"] == call.id
    await customer.close()


def _has_call(database: Database) -> bool:
    with database.session() as s:
        return s.scalar(select(CallRow.id)) is not None


def _job_request() -> tuple[object, list[str]]:
    from livekit.agents import JobRequest

    outcomes: list[str] = []

    async def on_reject(_terminate: bool) -> None:
        outcomes.append("rejected")

    async def on_accept(_args: object) -> None:
        outcomes.append("accepted")

    job = agent.Job(id="AJ_test", room=lk_models.Room(name="r"), type=agent.JobType.JT_ROOM)
    return JobRequest(job=job, on_reject=on_reject, on_accept=on_accept), outcomes


async def test_jobs_are_rejected_while_the_database_is_unreachable(database, monkeypatch):
    request, outcomes = _job_request()
    monkeypatch.setattr(worker._Admission, "database", Database("postgresql://nobody@127.0.0.1:1/none"))
    await on_request(request)
    assert outcomes == ["rejected"]
    request, outcomes = _job_request()
    monkeypatch.setattr(worker._Admission, "database", database)
    await on_request(request)
    assert outcomes == ["accepted"]


def test_worker_refuses_to_start_without_a_database(monkeypatch, capsys):
    for key, value in LIVEKIT_ENV.items():
        monkeypatch.setenv(key, value)
    code = main(["worker", "start", "--db", "postgresql://nobody@127.0.0.1:1/none"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unreachable" in err and "no job accepted" in err


def test_worker_refuses_to_start_without_livekit_credentials(monkeypatch, capsys, tmp_path):
    for key in LIVEKIT_ENV:
        monkeypatch.delenv(key, raising=False)
    assert main(["worker", "start", "--db", str(tmp_path / "x.db")]) == 2
    assert "LIVEKIT_API_KEY" in capsys.readouterr().err


def test_invite_refuses_malformed_metadata_before_contacting_the_server(monkeypatch, capsys):
    for key, value in LIVEKIT_ENV.items():
        monkeypatch.setenv(key, value)
    assert main(["invite", "--room", "r", "--metadata", '{"deal_id": 1,}']) == 2
    assert "metadata is not JSON" in capsys.readouterr().err


def test_token_command_prints_a_jwt(monkeypatch, capsys):
    for key, value in LIVEKIT_ENV.items():
        monkeypatch.setenv(key, value)
    assert main(["token", "--room", "r", "--identity", "caller", "--sip", "+4930123456"]) == 0
    token = capsys.readouterr().out.strip()
    import jwt

    claims = jwt.decode(token, LIVEKIT_ENV["LIVEKIT_API_SECRET"], algorithms=["HS256"], issuer="devkey")
    assert claims["kind"] == "sip" and claims["video"]["room"] == "r"


def test_crashed_calls_are_finalised_partial_and_their_webhook_queued(database):
    crashed = create_call(
        database,
        room="r1",
        source="livekit",
        metadata={"deal_id": "D-9", "webhook_url": "http://127.0.0.1:9/h"},
        started_at=utcnow() - timedelta(minutes=10),
    )
    still_running = create_call(database, room="r2", source="livekit")  # another worker's live call
    assert finalise_crashed_calls(database, default_webhook_url=None) == [crashed]
    assert call_row(database, crashed).status == "partial"
    assert call_row(database, still_running).status == "active"
    summary = latest_summary(database, crashed)
    assert summary["status"] == "partial"
    with database.session() as s:
        messages = s.scalars(select(WebhookMessageRow).where(WebhookMessageRow.call_id == crashed)).all()
    assert len(messages) == 1 and messages[0].url == "http://127.0.0.1:9/h"
    assert json.loads(messages[0].body)["data"]["call_id"] == crashed
    # The next start finds nothing more to do for it.
    assert finalise_crashed_calls(database, default_webhook_url=None) == []


@pytest.mark.parametrize("stale_after_s", [0.0])
def test_recovery_takes_over_any_active_call_once_stale(database, stale_after_s):
    call_id = create_call(database, room="r", source="simulated")
    assert finalise_crashed_calls(database, default_webhook_url=None, stale_after_s=stale_after_s) == [
        call_id
    ]
