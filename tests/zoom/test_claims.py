"""Stream claims on real SQLite and PostgreSQL: one owner per stream, also when processes race."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from storage import claims
from storage.db import Database
from tests.storage.db_fixtures import db, db_url, pg_url, sqlite_url  # noqa: F401


def test_one_owner_until_stale_or_released(db):  # noqa: F811
    assert claims.claim_stream(db, "s1", source="zoom", owner="a", stale_after_s=60)
    assert not claims.claim_stream(db, "s1", source="zoom", owner="b", stale_after_s=60)
    assert claims.renew_claim(db, "s1", "a").owned
    assert claims.request_stop(db, "s1", 6)
    state = claims.renew_claim(db, "s1", "a")
    assert state.stop_requested and state.stop_reason == 6
    claims.release_claim(db, "s1", "a")
    assert not claims.claim_stream(db, "s1", source="zoom", owner="b", stale_after_s=60)  # just ended
    assert claims.claim_stream(db, "s1", source="zoom", owner="b", stale_after_s=0)  # a restarted stream
    assert not claims.renew_claim(db, "s1", "a").owned  # a's claim is gone: it must disconnect
    assert not claims.request_stop(db, "unknown", 6)


def _race(url: str, owner: str, start_at: float, results) -> None:
    database = Database(url)
    while time.time() < start_at:
        time.sleep(0.001)
    results.put((owner, claims.claim_stream(database, "raced", source="zoom", owner=owner, stale_after_s=60)))
    database.dispose()


@pytest.mark.postgres
def test_processes_racing_on_postgresql_get_one_owner(pg_url):  # noqa: F811
    database = Database(pg_url)
    database.upgrade()
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    start_at = time.time() + 3.0
    procs = [ctx.Process(target=_race, args=(pg_url, f"p{i}", start_at, results)) for i in range(4)]
    for proc in procs:
        proc.start()
    outcomes = dict(results.get(timeout=60) for _ in procs)
    for proc in procs:
        proc.join(30)
    assert sum(outcomes.values()) == 1, outcomes
    winner = next(owner for owner, won in outcomes.items() if won)
    assert claims.get_claim(database, "raced").owner == winner
    database.dispose()


def test_upgrade_to_0003_keeps_existing_calls(db_url):  # noqa: F811
    """0003 rebuilds `calls` on SQLite (a new CHECK): participants must survive the rebuild."""
    from storage.repository import create_call, upsert_participant

    database = Database(db_url)
    database.upgrade("0002")
    call_id = create_call(database, room="r", source="livekit")
    upsert_participant(database, call_id, "p1", display_name="P", kind="standard")
    database.upgrade()
    with database.session() as s:
        from storage.repository import get_call

        assert get_call(s, call_id).source == "livekit"
    zoom_call = create_call(database, room="zoom:x", source="zoom")
    from sqlalchemy import func, select

    from storage.models import ParticipantRow

    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(ParticipantRow)) == 1
    assert zoom_call
    database.dispose()
