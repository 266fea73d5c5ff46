"""The batched writer on real databases: batching, flush on close, outages, overflow, opt-outs."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from emotion_models.labels import LABELS
from storage import repository
from storage.db import Database
from storage.models import FusedPointRow, ObservationRow
from storage.records import FusedPoint, Observation
from storage.writer import ObservationWriter
from tests.storage.tcp_proxy import TcpProxy

UNIFORM = tuple([1.0 / len(LABELS)] * len(LABELS))


def obs(t: float, identity: str = "alice", modality: str = "face") -> Observation:
    return Observation(
        identity,
        modality,
        t,
        t + 0.1,
        UNIFORM,
        "neutral",
        1 / 7,
        face_size=90.0,
        captured_at=time.monotonic(),
    )


def point(t: float, identity: str = "alice") -> FusedPoint:
    return FusedPoint(identity, t, UNIFORM, "neutral", 0.0, 0.0, ("face",))


def count(db: Database, table: type) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(table))


def stored_times(db: Database) -> list[float]:
    with db.session() as session:
        return sorted(session.scalars(select(ObservationRow.t_start)))


async def wait_for(predicate, timeout: float = 20.0) -> None:  # generous: CI machines get busy
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def new_call(db: Database, *identities: str) -> str:
    call_id = repository.create_call(db, room="r", source="simulated")
    for identity in identities:
        repository.upsert_participant(db, call_id, identity)
    return call_id


async def test_batches_and_writes_while_running(db):
    call_id = new_call(db, "alice")
    seen: list[Observation] = []
    writer = ObservationWriter(db, call_id, flush_interval_s=0.2, on_written=seen.extend)
    writer.start()
    for i in range(300):
        writer.submit_observation(obs(i * 0.1))
        writer.submit_fused(point(i * 0.1))
    await wait_for(lambda: writer.stats["written"] == 600)
    # In the database before close: a crash now would lose nothing.
    assert count(db, ObservationRow) == 300 and count(db, FusedPointRow) == 300
    assert 1 <= writer.stats["flushes"] <= 3  # batched, not one transaction per item
    assert len(seen) == 300 and all(isinstance(o, Observation) for o in seen)
    assert writer.stats["last_flush_latency_s"] > 0
    await writer.aclose()
    assert writer.stats["pending"] == 0 and writer.stats["dropped"] == 0


async def test_close_flushes_what_is_left(db):
    call_id = new_call(db, "alice")
    writer = ObservationWriter(db, call_id, flush_interval_s=1.0)
    writer.start()
    for i in range(50):
        writer.submit_observation(obs(float(i), modality="voice"))
    await writer.aclose()  # well before the first tick
    assert count(db, ObservationRow) == 50
    assert writer.stats["written_observations"] == 50
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit_observation(obs(99.0))


async def test_bad_items_are_refused_without_blocking_good_ones(db):
    call_id = new_call(db, "alice")
    writer = ObservationWriter(db, call_id, flush_interval_s=0.1)
    writer.start()
    writer.submit_observation(Observation("alice", "face", 0, 0, (0.5, 0.5), "happy", 0.5))  # 2 probabilities
    writer.submit_observation(Observation("alice", "face", 0, 0, (float("nan"),) * 7, "happy", 0.5))
    writer.submit_observation(Observation("alice", "smell", 0, 0, UNIFORM, "happy", 0.5))  # type: ignore[arg-type]
    writer.submit_observation(
        Observation("alice", "voice", 0, 1, UNIFORM, "neutral", 0.2, speech_level_db=float("-inf"))
    )
    await writer.aclose()
    assert writer.stats["rejected"] == 3
    assert count(db, ObservationRow) == 1
    with db.session() as session:
        assert session.scalar(select(ObservationRow.speech_level_db)) is None  # -inf (silence) stored as NULL


async def test_unknown_participant_is_created_and_opted_out_one_is_not_stored(db):
    call_id = new_call(db, "alice")
    writer = ObservationWriter(db, call_id, flush_interval_s=0.1)
    writer.start()
    writer.submit_observation(obs(1.0, identity="bob"))
    await wait_for(lambda: writer.stats["written"] == 1)
    repository.mark_not_analysed(db, call_id, "alice", "opted out", delete_stored=True)
    writer.submit_observation(obs(2.0, identity="alice"))
    writer.submit_fused(point(2.0, identity="alice"))
    await writer.aclose()
    assert writer.stats["skipped_not_analysed"] == 2
    assert stored_times(db) == [1.0]  # only bob's


async def test_opt_out_delete_waits_for_a_flush_in_flight(db):
    """A flush that read alice as analysed must not commit her rows after the opt-out's delete."""
    call_id = new_call(db, "alice")
    writer = ObservationWriter(db, call_id, flush_interval_s=0.1)
    write = writer._write

    def slow_write(batch):  # holds the batch "in flight" on the DB thread for a while
        time.sleep(0.5)
        return write(batch)

    writer._write = slow_write
    writer.submit_observation(obs(1.0))
    flushing = asyncio.create_task(writer.flush())
    await asyncio.sleep(0.1)  # the flush has taken the batch and is writing it
    await writer.run_exclusive(repository.mark_not_analysed, db, call_id, "alice", "opted out", True)
    assert flushing.done()  # the delete ran after the flush committed, so it removed that row
    await writer.aclose()
    assert count(db, ObservationRow) == 0


def test_flush_interval_is_at_most_one_second(db):
    with pytest.raises(ValueError, match="flush_interval_s"):
        ObservationWriter(db, "x", flush_interval_s=2.0)


async def test_sqlite_locked_mid_call_retains_then_writes_and_counts_overflow(tmp_path):
    """Another process holds the write lock (the SQLite form of an outage) longer than busy_timeout."""
    path = tmp_path / "calls.db"
    db = Database(str(path), busy_timeout_s=0.05)
    db.upgrade()
    call_id = new_call(db, "alice")
    writer = ObservationWriter(db, call_id, flush_interval_s=0.1, max_buffer=50)
    writer.start()

    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock
    try:
        for i in range(30):
            writer.submit_observation(obs(float(i)))
        # (polled: between ticks a batch may be out on the DB thread, not in the buffer)
        await wait_for(lambda: writer.stats["failed_flushes"] >= 2 and writer.stats["pending"] == 30)
        assert writer.stats["written"] == 0
        for i in range(30, 70):
            writer.submit_observation(obs(float(i)))
        await wait_for(lambda: writer.stats["pending"] == 50)
        assert writer.stats["dropped"] == 20
        assert "locked" in writer.stats["last_error"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await wait_for(lambda: writer.stats["written"] == 50)
    await writer.aclose()
    assert stored_times(db) == [float(i) for i in range(20, 70)]  # the oldest 20 were dropped
    assert writer.stats["dropped"] == 20
    db.dispose()


@pytest.mark.postgres
async def test_postgres_outage_mid_call_retains_then_writes(pg_url):
    Database(pg_url).upgrade()
    url = make_url(pg_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    db = Database(url.set(port=proxy.port).render_as_string(hide_password=False), connect_timeout_s=2)
    try:
        call_id = new_call(db, "alice")
        writer = ObservationWriter(db, call_id, flush_interval_s=0.1, max_buffer=1000)
        writer.start()
        writer.submit_observation(obs(0.0))
        await wait_for(lambda: writer.stats["written"] == 1)

        proxy.stop()  # the server vanishes: open connections die, new ones are refused
        for i in range(1, 101):
            writer.submit_observation(obs(float(i)))
        await wait_for(
            lambda: writer.stats["failed_flushes"] >= 2 and writer.stats["pending"] == 100, timeout=30
        )

        proxy.start()
        await wait_for(lambda: writer.stats["written"] == 101, timeout=30)
        await writer.aclose()
        assert stored_times(db) == [float(i) for i in range(101)]
        assert writer.stats["dropped"] == 0
    finally:
        proxy.stop()
        db.dispose()


async def test_close_gives_up_after_its_timeout_and_counts_the_loss(tmp_path):
    path = tmp_path / "calls.db"
    db = Database(str(path), busy_timeout_s=0.05)
    db.upgrade()
    call_id = new_call(db, "alice")
    writer = ObservationWriter(db, call_id, flush_interval_s=0.1, close_timeout_s=0.3)
    writer.start()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        for i in range(5):
            writer.submit_observation(obs(float(i)))
        await writer.aclose()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert writer.stats["dropped"] == 5 and writer.stats["pending"] == 0
    db.dispose()


async def test_close_during_a_flush_waits_for_it(db):
    """A flush in progress when aclose() cancels the loop still completes and is counted."""
    call_id = new_call(db, "alice")
    writer = ObservationWriter(db, call_id, flush_interval_s=0.05, batch_size=50_000)
    writer.start()
    for i in range(10_000):
        writer.submit_observation(obs(i * 0.01))
    await wait_for(lambda: writer.stats["pending"] == 0)  # one batch out on the DB thread
    await writer.aclose()
    assert writer.stats["written"] == 10_000
    assert count(db, ObservationRow) == 10_000
