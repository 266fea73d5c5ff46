"""Upgrading a database that holds calls keeps every row: 0003 rebuilds `calls` on SQLite (batch
mode), and the ON DELETE CASCADE children of a call must survive that rebuild."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.db import Database
from storage.models import CallRow, ObservationRow, ParticipantRow
from storage.repository import create_call, upsert_participant


def counts(db: Database) -> tuple[int, int, int]:
    with db.session() as s:
        return tuple(  # type: ignore[return-value]
            s.scalar(select(func.count()).select_from(table))
            for table in (CallRow, ParticipantRow, ObservationRow)
        )


def test_upgrade_to_head_keeps_calls_participants_and_observations(db_url):
    db = Database(db_url)
    db.upgrade("0002")
    call_id = create_call(db, room="r", source="livekit", metadata={"deal_id": "1"})
    participant_id = upsert_participant(db, call_id, "ana", display_name="Ana", kind="standard")
    with db.session() as s:
        s.add(
            ObservationRow(
                call_id=call_id,
                participant_id=participant_id,
                modality="face",
                t_start=1.0,
                t_end=1.5,
                top_label="happy",
                confidence=0.7,
                p_angry=0.1,
                p_disgust=0.0,
                p_fear=0.0,
                p_happy=0.7,
                p_sad=0.1,
                p_surprise=0.0,
                p_neutral=0.1,
            )
        )
        s.commit()
    assert counts(db) == (1, 1, 1)
    db.upgrade()
    assert counts(db) == (1, 1, 1)
    create_call(db, room="CA123", source="twilio", metadata={})  # the new sources are accepted
    create_call(db, room="m", source="zoom", metadata={})
    db.dispose()
