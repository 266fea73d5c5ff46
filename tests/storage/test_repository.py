"""Call and participant bookkeeping on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from storage import repository
from storage.models import CallRow, ParticipantRow, SummaryRow

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def test_call_round_trip_keeps_metadata_and_utc_times(db):
    call_id = repository.create_call(
        db, room="r1", source="livekit", metadata={"deal_id": "D-1", "nested": {"a": [1, 2]}}, started_at=T0
    )
    with db.session() as session:
        call = repository.get_call(session, call_id)
        assert (call.room, call.source, call.status) == ("r1", "livekit", "active")
        assert call.metadata_ == {"deal_id": "D-1", "nested": {"a": [1, 2]}}
        assert call.started_at == T0 and call.started_at.tzinfo is not None
        assert call.created_at.tzinfo is not None


def test_bad_choices_are_refused(db):
    with pytest.raises(ValueError, match="source must be one of"):
        repository.create_call(db, room="r", source="skype")
    call_id = repository.create_call(db, room="r", source="file")
    with pytest.raises(ValueError, match="kind must be one of"):
        repository.upsert_participant(db, call_id, "x", kind="agent")
    with pytest.raises(repository.CallNotFound):
        repository.upsert_participant(db, "no-such-call", "x")


def test_rejoin_continues_the_same_participant_row(db):
    call_id = repository.create_call(db, room="r", source="livekit", started_at=T0)
    first = repository.upsert_participant(
        db, call_id, "alice", display_name="Alice", role="host", phone_number=None, attributes={"a": "1"}
    )
    repository.mark_participant_left(db, call_id, "alice", T0 + timedelta(seconds=30))
    again = repository.upsert_participant(db, call_id, "alice", display_name=None, kind="standard")
    assert again == first
    with db.session() as session:
        rows = list(session.scalars(select(ParticipantRow).where(ParticipantRow.call_id == call_id)))
    assert len(rows) == 1
    row = rows[0]
    assert row.last_left_at is None  # back in the room
    assert (row.display_name, row.role, row.attributes) == ("Alice", "host", {"a": "1"})  # None kept values


def test_phone_number_is_stored_as_given(db):
    call_id = repository.create_call(db, room="r", source="livekit")
    repository.upsert_participant(db, call_id, "sip_1", kind="sip", phone_number="+48******789")
    with db.session() as session:
        assert session.scalar(select(ParticipantRow.phone_number)) == "+48******789"


def test_finish_call_runs_extra_in_the_same_transaction(db):
    call_id = repository.create_call(db, room="r", source="simulated", started_at=T0)

    def failing_extra(session) -> None:
        raise RuntimeError("outbox insert failed")

    with pytest.raises(RuntimeError):
        repository.finish_call(
            db, call_id, status="finished", summary={"version": "1.0"}, extra=failing_extra
        )
    with db.session() as session:  # nothing of it happened
        assert repository.get_call(session, call_id).status == "active"
        assert session.scalar(select(func.count()).select_from(SummaryRow)) == 0

    seen = []
    repository.finish_call(
        db,
        call_id,
        status="partial",
        ended_at=T0 + timedelta(minutes=5),
        summary={"version": "1.0", "n": 1},
        extra=lambda session: seen.append(session.scalar(select(func.count()).select_from(SummaryRow))),
    )
    assert seen == [1]  # the summary row is visible to extra (flushed, same transaction)
    with db.session() as session:
        call = session.get(CallRow, call_id)
        assert (call.status, call.ended_at) == ("partial", T0 + timedelta(minutes=5))
    assert repository.latest_summary(db, call_id) == {"version": "1.0", "n": 1}
    with pytest.raises(ValueError, match="status"):
        repository.finish_call(db, call_id, status="active", summary={})


def test_find_unfinished_calls_lists_active_calls_oldest_first(db):
    newer = repository.create_call(db, room="b", source="livekit", started_at=T0 + timedelta(hours=1))
    older = repository.create_call(db, room="a", source="livekit", started_at=T0)
    done = repository.create_call(db, room="c", source="livekit", started_at=T0)
    repository.finish_call(db, done, status="finished", summary={"version": "1.0"})
    assert repository.find_unfinished_calls(db) == [older, newer]
    assert repository.latest_summary(db, older) is None
