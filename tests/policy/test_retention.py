"""`purge` on a seeded database: the right rows of the right calls go, the rest stays."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot.cli import main
from bot.delivery.outbox import enqueue
from bot.policy.retention import purge
from storage.db import Database
from storage.models import CallRow, FusedPointRow, ParticipantRow, SummaryRow
from storage.outbox_models import CallAlertRow, WebhookMessageRow
from tests.delivery.databases import sqlite_database
from tests.review.seed import DAY0, Seeded, seed

NOW = DAY0 + timedelta(days=2, hours=12)  # cut-off with 1d: DAY0 + 1.5 days


@pytest.fixture
def seeded(tmp_path) -> tuple[Database, Seeded]:
    db = sqlite_database(tmp_path)
    s = seed(db)
    with db.session() as session:  # one sent and one still pending webhook for the oldest call
        for status in ("delivered", "pending"):
            row = enqueue(
                session, event_type="call.summary", data={}, url="http://127.0.0.1:9/", call_id=s.calls[0]
            )
            row.status = status
        session.flush()
        session.execute(update(WebhookMessageRow).values(created_at=DAY0))
    return db, s


def count(db: Database, table: type, call_id: str | None = None) -> int:
    query = select(func.count()).select_from(table)
    if call_id is not None:
        query = query.where(table.call_id == call_id)
    with db.session() as session:
        return int(session.scalar(query) or 0)


def test_purge_keeping_summaries_deletes_timelines_only(seeded: tuple[Database, Seeded]) -> None:
    db, s = seeded
    old, recent = [s.calls[0], s.calls[1], s.other_host_call], [s.calls[2], s.active_call]
    recent_points = {c: count(db, FusedPointRow, c) for c in recent}
    counts = purge(db, older_than=timedelta(days=1), keep_summaries=True, now=NOW)
    assert counts["fused_points"] == 60 + 120 + 60 and counts["webhook_outbox"] == 1
    for call_id in old:
        assert count(db, FusedPointRow, call_id) == 0
        assert count(db, SummaryRow, call_id) == 1 and count(db, ParticipantRow, call_id) >= 2
    assert {c: count(db, FusedPointRow, c) for c in recent} == recent_points
    assert count(db, CallAlertRow) == 1  # the alert belongs to a recent call
    with db.session() as session:  # the delivered webhook body went, the pending one stays
        assert list(session.scalars(select(WebhookMessageRow.status))) == ["pending"]


def test_purge_without_summaries_deletes_whole_calls(seeded: tuple[Database, Seeded]) -> None:
    db, s = seeded
    counts = purge(db, older_than=timedelta(days=1), now=NOW)
    assert counts["calls"] == 3 and counts["summaries"] == 3
    with db.session() as session:
        assert set(session.scalars(select(CallRow.id))) == {s.calls[2], s.active_call}
    assert count(db, SummaryRow) == 1  # the active call has none yet
    assert count(db, ParticipantRow, s.calls[0]) == 0


def test_dry_run_and_cli(seeded: tuple[Database, Seeded], capsys) -> None:
    db, _ = seeded
    before = count(db, FusedPointRow)
    assert purge(db, older_than=timedelta(days=1), dry_run=True, now=NOW)["calls"] == 3
    assert count(db, FusedPointRow) == before
    path = str(db.url.database)
    assert main(["purge", "--older-than", "9999d", "--keep-summaries", "--db", path]) == 0
    assert (
        json.loads(capsys.readouterr().out.strip().splitlines()[-1])["fused_points"] == 0
    )  # nothing that old
    assert main(["purge", "--older-than", "1d", "--db", path]) == 0  # the seed is from Oct 2026: all old
    assert count(db, CallRow) == 0 and count(db, FusedPointRow) == 0
    assert main(["purge", "--older-than", "soon", "--db", path]) == 2
    with pytest.raises(ValueError, match="positive"):
        purge(db, older_than=timedelta(0))
