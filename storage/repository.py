"""Call and participant bookkeeping: small synchronous functions, each one transaction.

They block on database I/O, so async code calls them through `asyncio.to_thread`. Observations do
not go through here one by one: `storage.writer.ObservationWriter` batches them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import (
    CALL_SOURCES,
    CALL_STATUSES,
    PARTICIPANT_KINDS,
    CallRow,
    FusedPointRow,
    ObservationRow,
    ParticipantRow,
    SummaryRow,
    utcnow,
)


class CallNotFound(LookupError):
    """No call with that id in this database."""


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


def create_call(
    db: Database,
    *,
    room: str,
    source: str,
    metadata: Mapping[str, Any] | None = None,
    started_at: datetime | None = None,
    call_id: str | None = None,
) -> str:
    """Insert an `active` call and return its id (a new UUID unless `call_id` is given)."""
    _check_choice("source", source, CALL_SOURCES)
    call_id = call_id or str(uuid.uuid4())
    with db.session() as session:
        session.add(
            CallRow(
                id=call_id,
                room=room,
                source=source,
                status="active",
                started_at=started_at or utcnow(),
                metadata_=dict(metadata or {}),
            )
        )
    return call_id


def get_call(session: Session, call_id: str) -> CallRow:
    call = session.get(CallRow, call_id)
    if call is None:
        raise CallNotFound(f"no call {call_id!r} in this database")
    return call


def _find_participant(session: Session, call_id: str, identity: str) -> ParticipantRow | None:
    return session.scalars(
        select(ParticipantRow).where(ParticipantRow.call_id == call_id, ParticipantRow.identity == identity)
    ).one_or_none()


def get_or_create_participant(
    session: Session, call_id: str, identity: str, joined_at: datetime | None = None
) -> ParticipantRow:
    """The participant's row, creating a bare one (standard, no name) if it does not exist yet."""
    row = _find_participant(session, call_id, identity)
    if row is None:
        row = ParticipantRow(call_id=call_id, identity=identity, first_joined_at=joined_at or utcnow())
        session.add(row)
        session.flush()
    return row


def upsert_participant(
    db: Database,
    call_id: str,
    identity: str,
    *,
    display_name: str | None = None,
    kind: str = "standard",
    role: str | None = None,
    phone_number: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    joined_at: datetime | None = None,
) -> int:
    """Insert or update a participant; the same identity in the same call is the same row.

    A rejoin keeps the row (and its timeline) and clears `last_left_at`. Fields passed as None keep
    their stored value. `phone_number` is stored as given: mask it before calling unless the
    deployment opted in to full numbers (EMOTION_BOT_STORE_PHONE_NUMBERS).
    """
    _check_choice("kind", kind, PARTICIPANT_KINDS)
    fields = {"display_name": display_name, "role": role, "phone_number": phone_number}

    def attempt() -> int:
        with db.session() as session:
            get_call(session, call_id)
            row = get_or_create_participant(session, call_id, identity, joined_at)
            row.kind = kind
            row.last_left_at = None
            for name, value in fields.items():
                if value is not None:
                    setattr(row, name, value)
            if attributes is not None:
                row.attributes = dict(attributes)
            return row.id

    try:
        return attempt()
    except IntegrityError:
        # Another thread inserted the same identity between our select and insert: now we update it.
        return attempt()


def mark_participant_left(db: Database, call_id: str, identity: str, at: datetime | None = None) -> None:
    with db.session() as session:
        row = _find_participant(session, call_id, identity)
        if row is not None:
            row.last_left_at = at or utcnow()


def mark_not_analysed(db: Database, call_id: str, identity: str, reason: str, delete_stored: bool) -> None:
    """Exclude a participant (opt-out, policy, no consent); optionally delete what was stored.

    The writer checks this flag on every flush, so observations still in flight are not stored.
    """
    with db.session() as session:
        get_call(session, call_id)
        row = get_or_create_participant(session, call_id, identity)
        row.analysed = False
        row.not_analysed_reason = reason
        if delete_stored:
            for table in (ObservationRow, FusedPointRow):
                session.execute(delete(table).where(table.participant_id == row.id))
            # Live alerts about them are stored data about them too (delivery part's table).
            from storage.outbox_models import CallAlertRow

            session.execute(
                delete(CallAlertRow).where(
                    CallAlertRow.call_id == call_id, CallAlertRow.participant_identity == identity
                )
            )


def finish_call(
    db: Database,
    call_id: str,
    *,
    status: str,
    ended_at: datetime | None = None,
    summary: Mapping[str, Any],
    extra: Callable[[Session], None] | None = None,
) -> None:
    """Close a call and store its summary in one transaction.

    `extra(session)` runs inside that same transaction, so e.g. a webhook outbox row is committed
    together with the summary or not at all.
    """
    _check_choice("status", status, CALL_STATUSES[1:])
    with db.session() as session:
        call = get_call(session, call_id)
        call.status = status
        call.ended_at = ended_at or utcnow()
        version = str(summary.get("version", ""))
        session.add(SummaryRow(call_id=call_id, version=version, payload=dict(summary)))
        if extra is not None:
            session.flush()
            extra(session)


def find_unfinished_calls(db: Database) -> list[str]:
    """Ids of calls still `active`: the bot died mid-call. Oldest first."""
    with db.session() as session:
        return list(
            session.scalars(select(CallRow.id).where(CallRow.status == "active").order_by(CallRow.started_at))
        )


def latest_summary(db: Database, call_id: str) -> dict[str, Any] | None:
    """The most recently stored summary payload of a call, or None if it has none yet."""
    with db.session() as session:
        get_call(session, call_id)
        query = select(SummaryRow.payload).where(SummaryRow.call_id == call_id)
        return session.scalars(query.order_by(SummaryRow.id.desc()).limit(1)).first()
