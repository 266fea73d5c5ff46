"""Claiming a stream for one process (see storage/claim_models.py). Each function is one transaction,
synchronous (async callers use `asyncio.to_thread`), and safe to race across processes: the claim is
an INSERT that only one can win, the takeover a conditional UPDATE that only one can match."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from storage.claim_models import StreamClaimRow
from storage.db import Database
from storage.models import utcnow


@dataclass(frozen=True, slots=True)
class ClaimState:
    owned: bool  # False: another process took the stream over (ours was considered dead)
    stop_reason: int | None  # the platform's stop, recorded by whichever process received it
    stop_requested: bool


def claim_stream(db: Database, stream_id: str, *, source: str, owner: str, stale_after_s: float) -> bool:
    """True if `owner` now holds the stream: nobody had it, or its claim went stale (a crashed or
    stopped owner). A released claim counts as stale only after `stale_after_s` too, so a late retry
    of the start webhook does not reopen a stream that just ended."""
    now = utcnow()
    try:
        with db.session() as session:
            session.add(
                StreamClaimRow(
                    stream_id=stream_id, source=source, owner=owner, claimed_at=now, heartbeat_at=now
                )
            )
        return True
    except IntegrityError:
        pass
    with db.session() as session:
        taken = session.execute(
            update(StreamClaimRow)
            .where(
                StreamClaimRow.stream_id == stream_id,
                StreamClaimRow.heartbeat_at < now - timedelta(seconds=stale_after_s),
            )
            .values(
                owner=owner,
                call_id=None,
                claimed_at=now,
                heartbeat_at=now,
                released_at=None,
                stop_reason=None,
            )
        )
        return taken.rowcount == 1


def attach_call(db: Database, stream_id: str, owner: str, call_id: str) -> None:
    with db.session() as session:
        session.execute(
            update(StreamClaimRow)
            .where(StreamClaimRow.stream_id == stream_id, StreamClaimRow.owner == owner)
            .values(call_id=call_id)
        )


def renew_claim(db: Database, stream_id: str, owner: str) -> ClaimState:
    """Renew `owner`'s claim and report whether it still holds it and whether a stop was recorded."""
    with db.session() as session:
        renewed = session.execute(
            update(StreamClaimRow)
            .where(
                StreamClaimRow.stream_id == stream_id,
                StreamClaimRow.owner == owner,
                StreamClaimRow.released_at.is_(None),
            )
            .values(heartbeat_at=utcnow())
        )
        row = session.get(StreamClaimRow, stream_id)
        reason = row.stop_reason if row is not None else None
        stopped = row is not None and (row.stop_reason is not None or row.released_at is not None)
        return ClaimState(owned=renewed.rowcount == 1, stop_reason=reason, stop_requested=stopped)


def request_stop(db: Database, stream_id: str, stop_reason: int | None) -> bool:
    """Record the platform's stop for whichever process owns the stream; False if nobody claimed it."""
    with db.session() as session:
        result = session.execute(
            update(StreamClaimRow)
            .where(StreamClaimRow.stream_id == stream_id, StreamClaimRow.released_at.is_(None))
            .values(stop_reason=stop_reason if stop_reason is not None else 0)
        )
        return result.rowcount == 1


def release_claim(db: Database, stream_id: str, owner: str) -> None:
    """The stream is over for `owner` (its call finished). `heartbeat_at` restarts the stale clock."""
    now = utcnow()
    with db.session() as session:
        session.execute(
            update(StreamClaimRow)
            .where(StreamClaimRow.stream_id == stream_id, StreamClaimRow.owner == owner)
            .values(released_at=now, heartbeat_at=now)
        )


def get_claim(db: Database, stream_id: str) -> StreamClaimRow | None:
    with db.session() as session:
        row = session.get(StreamClaimRow, stream_id)
        if row is not None:
            session.expunge(row)
        return row
