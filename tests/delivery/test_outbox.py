"""The outbox row is written with the call's final transaction, delivered by a real HTTP POST, and
retried, failed or leased exactly as documented. Real SQLite (and PostgreSQL when reachable)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.delivery import outbox
from bot.delivery.config import DeliveryConfig
from bot.delivery.deliverer import Deliverer
from storage.db import Database
from storage.models import SummaryRow, utcnow
from storage.outbox_models import WebhookMessageRow
from storage.repository import create_call, finish_call
from tests.delivery.conftest import SECRET
from tests.delivery.receiver import Receiver, free_port

FAST = (0, 0.05, 0.05, 0.05)


def config(**overrides: object) -> DeliveryConfig:
    values: dict = {"secrets": (SECRET,), "schedule": FAST, "timeout_s": 1.0, "lease_s": 3.0}
    values.update(overrides)
    return DeliveryConfig(**values)


def finished_call(db: Database, url: str | None, summary: dict | None = None) -> str:
    call_id = create_call(db, room="room-1", source="simulated", metadata={"deal_id": "D-7"})
    body = summary or {"version": "1.0", "call_id": call_id}
    finish_call(
        db,
        call_id,
        status="finished",
        summary=body,
        extra=outbox.summary_enqueuer(
            body, call_id=call_id, call_metadata={"deal_id": "D-7"}, default_url=url
        ),
    )
    return call_id


def rows(db: Database) -> list[WebhookMessageRow]:
    with db.session() as session:
        return list(session.scalars(select(WebhookMessageRow).order_by(WebhookMessageRow.id)))


def test_summary_and_outbox_row_commit_together_or_not_at_all(db: Database) -> None:
    call_id = finished_call(db, "http://127.0.0.1:9/x")
    (row,) = rows(db)
    assert (row.call_id, row.event_type, row.status, row.attempts) == (call_id, "call.summary", "pending", 0)
    envelope = json.loads(row.body)
    assert envelope["type"] == "call.summary" and envelope["data"]["call_id"] == call_id
    assert envelope["timestamp"].endswith("Z")

    other = create_call(db, room="room-2", source="simulated")

    def broken(session: object) -> None:
        outbox.enqueue(session, event_type="call.summary", data={}, url="http://127.0.0.1:9/x", call_id=other)
        raise RuntimeError("crash inside the finalising transaction")

    with pytest.raises(RuntimeError):
        finish_call(db, other, status="finished", summary={"version": "1.0"}, extra=broken)
    assert len(rows(db)) == 1
    with db.session() as session:
        assert session.scalars(select(SummaryRow).where(SummaryRow.call_id == other)).first() is None


def test_metadata_webhook_url_wins_and_no_url_means_no_row(db: Database) -> None:
    assert (
        outbox.resolve_url({"webhook_url": "https://a.example/h"}, "https://default/h")
        == "https://a.example/h"
    )
    assert outbox.resolve_url({}, "https://default/h") == "https://default/h"
    finished_call(db, None)
    assert rows(db) == []


async def test_delivered_once_with_verifiable_signature(any_db: Database, receiver: Receiver) -> None:
    receiver.start()
    call_id = finished_call(any_db, receiver.url)
    counts = await Deliverer(any_db, config()).deliver_due()
    assert counts == {"delivered": 1}
    (got,) = receiver.received
    assert got.body["data"]["call_id"] == call_id and not receiver.rejected
    (row,) = rows(any_db)
    assert (row.status, row.attempts, row.last_status_code, row.msg_id) == ("delivered", 1, 200, got.msg_id)
    assert await Deliverer(any_db, config()).deliver_due() == {}  # nothing is sent twice


async def test_5xx_and_refused_connections_retry_with_the_same_webhook_id(
    db: Database, receiver: Receiver
) -> None:
    receiver.reply = lambda n: (503, {}, 0.0) if n < 2 else (200, {}, 0.0)
    finished_call(db, receiver.url)
    deliverer = Deliverer(db, config())
    assert await deliverer.deliver_due() == {"retry": 1}  # receiver down: connection refused
    assert "ConnectError" in (rows(db)[0].last_error or "")
    receiver.start()
    for _ in range(20):
        await asyncio.sleep(0.06)
        await deliverer.deliver_due()
        if rows(db)[0].status == "delivered":
            break
    (row,) = rows(db)
    assert (row.status, row.attempts) == ("delivered", 4)
    assert [r.msg_id for r in receiver.received] == [row.msg_id] * 3
    timestamps = [int(r.headers["webhook-timestamp"]) for r in receiver.received]
    assert timestamps == sorted(timestamps)


async def test_4xx_is_permanent_and_spent_schedule_fails(db: Database, receiver: Receiver) -> None:
    receiver.start()
    receiver.reply = lambda n: (410, {}, 0.0)
    finished_call(db, receiver.url)
    assert await Deliverer(db, config()).deliver_due() == {"permanent_failure": 1}
    assert (rows(db)[0].status, rows(db)[0].attempts, rows(db)[0].last_status_code) == ("failed", 1, 410)

    receiver.reply = lambda n: (500, {}, 0.0)
    outbox.retry_message(db, rows(db)[0].msg_id)  # the CLI's `webhooks retry`: fresh schedule
    deliverer = Deliverer(db, config(schedule=(0, 0.01, 0.01)))
    for _ in range(10):
        await deliverer.deliver_due()
        await asyncio.sleep(0.02)
    row = rows(db)[0]
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 3, 500)


async def test_retry_after_postpones_the_next_attempt(db: Database, receiver: Receiver) -> None:
    receiver.start()
    receiver.reply = lambda n: (429, {"Retry-After": "120"}, 0.0)
    finished_call(db, receiver.url)
    before = utcnow()
    assert await Deliverer(db, config()).deliver_due() == {"retry": 1}
    wait = rows(db)[0].next_attempt_at - before
    assert timedelta(seconds=119) < wait < timedelta(seconds=125)
    assert await Deliverer(db, config()).deliver_due() == {}  # not due yet


async def test_timeout_is_retried(db: Database, receiver: Receiver) -> None:
    receiver.start()
    receiver.reply = lambda n: (200, {}, 1.0 if n == 0 else 0.0)
    finished_call(db, receiver.url)
    deliverer = Deliverer(db, config(timeout_s=0.3, lease_s=2.0))
    assert await deliverer.deliver_due() == {"retry": 1}
    assert "Timeout" in (rows(db)[0].last_error or "")
    await asyncio.sleep(0.1)
    assert await deliverer.deliver_due() == {"delivered": 1}


def test_a_leased_row_is_not_claimed_twice_until_the_lease_ends(any_db: Database) -> None:
    for _ in range(3):
        finished_call(any_db, "http://127.0.0.1:9/x")
    first = outbox.claim_due(any_db, worker_id="a", lease_s=30, limit=2)
    second = outbox.claim_due(any_db, worker_id="b", lease_s=30, limit=10)
    assert len(first) == 2 and len(second) == 1
    assert {m.id for m in first}.isdisjoint({m.id for m in second})
    assert outbox.claim_due(any_db, worker_id="c", lease_s=30, limit=10) == []
    with any_db.session() as session:  # sender "a" died: its lease runs out
        session.execute(update(WebhookMessageRow).values(locked_until=utcnow() - timedelta(seconds=1)))
    taken_over = outbox.claim_due(any_db, worker_id="c", lease_s=30, limit=10)
    assert len(taken_over) == 3
    # a's late result is not recorded over c's claim
    assert not outbox.record_failure(any_db, first[0], status_code=500, error="late", retry_in_s=1)


async def test_concurrent_senders_send_each_message_once(any_db: Database, receiver: Receiver) -> None:
    receiver.start()
    receiver.reply = lambda n: (200, {}, 0.02)
    ids = {finished_call(any_db, receiver.url) for _ in range(30)}
    senders = [
        Deliverer(any_db, config(batch_size=4, worker_id=f"w{i}", poll_interval_s=0.05)) for i in range(3)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.run(stop)) for s in senders]
    assert await asyncio.to_thread(receiver.wait_for, lambda: len(receiver.received) >= 30, 20)
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*tasks)
    assert len(receiver.received) == 30  # no message was sent twice
    assert {r.body["data"]["call_id"] for r in receiver.received} == ids
    assert {r.status for r in rows(any_db)} == {"delivered"}


def test_unusable_url_fails_permanently(db: Database) -> None:
    finished_call(db, f"ftp://127.0.0.1:{free_port()}/x")
    assert asyncio.run(Deliverer(db, config()).deliver_due()) == {"permanent_failure": 1}
