"""The durable outbox: enqueue a webhook inside a business transaction, claim due rows, record results.

Everything here is synchronous SQLAlchemy; the async deliverer calls it from a worker thread.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import ParticipantRow, utcnow
from storage.outbox_models import CallAlertRow, WebhookMessageRow

log = logging.getLogger(__name__)

SUMMARY_EVENT = "call.summary"
ALERT_EVENT = "call.alert"


def new_msg_id() -> str:
    """A fresh `webhook-id`: unique per message, the same on every retry of it."""
    return "msg_" + uuid.uuid4().hex


def encode_envelope(event_type: str, data: Mapping[str, Any], timestamp: datetime) -> str:
    """The published envelope {type, timestamp, data} as compact UTF-8 JSON (the exact bytes sent)."""
    envelope = {"type": event_type, "timestamp": timestamp.isoformat().replace("+00:00", "Z"), "data": data}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def resolve_url(call_metadata: Mapping[str, Any] | None, default_url: str | None) -> str | None:
    """The endpoint for a call: its dispatch metadata's `webhook_url`, else the configured default."""
    url = (call_metadata or {}).get("webhook_url")
    return url if isinstance(url, str) and url else default_url


def enqueue(
    session: Session,
    *,
    event_type: str,
    data: Mapping[str, Any],
    url: str,
    call_id: str | None = None,
    delay_s: float = 0.0,
    now: datetime | None = None,
) -> WebhookMessageRow:
    """Add one message to the outbox in `session`'s transaction (it commits or rolls back with it)."""
    created = now or utcnow()
    row = WebhookMessageRow(
        msg_id=new_msg_id(),
        event_type=event_type,
        call_id=call_id,
        url=url,
        body=encode_envelope(event_type, data, created),
        status="pending",
        attempts=0,
        next_attempt_at=created + timedelta(seconds=delay_s),
        created_at=created,
    )
    session.add(row)
    return row


def summary_enqueuer(
    summary: Mapping[str, Any],
    *,
    call_id: str,
    call_metadata: Mapping[str, Any] | None,
    default_url: str | None,
    first_delay_s: float = 0.0,
) -> Callable[[Session], None]:
    """The `extra` callable for `storage.repository.finish_call`: enqueue the summary webhook in the
    transaction that finalises the call, so a finished call always has its message and vice versa.

    The webhook's `data` is the summary plus `alerts`: the live alerts raised during the call.
    """
    url = resolve_url(call_metadata, default_url)

    def write(session: Session) -> None:
        if url is None:
            log.info("call %s: no webhook URL configured; summary stored, not sent", call_id)
            return
        data = {**summary, "alerts": call_alerts(session, call_id)}
        enqueue(session, event_type=SUMMARY_EVENT, data=data, url=url, call_id=call_id, delay_s=first_delay_s)

    return write


def call_alerts(session: Session, call_id: str) -> list[dict[str, Any]]:
    """The alerts raised during a call, in the order they were detected, leaving out anyone who is
    (no longer) analysed: an opt-out also withdraws what the alerts said about them."""
    excluded = select(ParticipantRow.identity).where(
        ParticipantRow.call_id == call_id, ParticipantRow.analysed.is_(False)
    )
    query = select(CallAlertRow.payload).where(
        CallAlertRow.call_id == call_id, CallAlertRow.participant_identity.not_in(excluded)
    )
    return list(session.scalars(query.order_by(CallAlertRow.t_detected, CallAlertRow.id)))


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    id: int
    msg_id: str
    url: str
    body: str
    attempts: int  # attempts made before this one
    claim: str  # this claim's token: results are recorded only by the claim holder


def claim_due(db: Database, *, worker_id: str, lease_s: float, limit: int) -> list[ClaimedMessage]:
    """Lease up to `limit` due pending messages to this sender.

    One conditional UPDATE per batch: a row is taken only if it is still pending and unleased at the
    moment of the write, so two senders racing for the same row cannot both win (SQLite serialises
    writers; PostgreSQL re-checks the WHERE clause on rows another transaction just updated).
    """
    now = utcnow()
    token = f"{worker_id[:40]}#{uuid.uuid4().hex[:12]}"
    unleased = or_(WebhookMessageRow.locked_until.is_(None), WebhookMessageRow.locked_until < now)
    with db.session() as session:
        due = session.scalars(
            select(WebhookMessageRow.id)
            .where(WebhookMessageRow.status == "pending", WebhookMessageRow.next_attempt_at <= now, unleased)
            .order_by(WebhookMessageRow.next_attempt_at, WebhookMessageRow.id)
            .limit(limit)
        ).all()
    if not due:
        return []
    with db.session() as session:
        session.execute(
            update(WebhookMessageRow)
            .where(WebhookMessageRow.id.in_(due), WebhookMessageRow.status == "pending", unleased)
            .values(locked_until=now + timedelta(seconds=lease_s), locked_by=token)
        )
    with db.session() as session:
        rows = session.scalars(select(WebhookMessageRow).where(WebhookMessageRow.locked_by == token)).all()
        return [ClaimedMessage(r.id, r.msg_id, r.url, r.body, r.attempts, token) for r in rows]


def record_delivered(db: Database, message: ClaimedMessage, status_code: int) -> None:
    with db.session() as session:
        session.execute(
            update(WebhookMessageRow)
            .where(WebhookMessageRow.id == message.id)
            .values(
                status="delivered",
                attempts=WebhookMessageRow.attempts + 1,
                delivered_at=utcnow(),
                last_status_code=status_code,
                last_error=None,
                locked_until=None,
                locked_by=None,
            )
        )


def record_failure(
    db: Database, message: ClaimedMessage, *, status_code: int | None, error: str, retry_in_s: float | None
) -> bool:
    """Count a failed attempt: schedule the next one in `retry_in_s`, or mark failed when None.

    Returns False if this sender's lease had expired and another sender took the message over.
    """
    now = utcnow()
    values: dict[str, Any] = {
        "attempts": WebhookMessageRow.attempts + 1,
        "last_status_code": status_code,
        "last_error": error[:2000],
        "locked_until": None,
        "locked_by": None,
    }
    if retry_in_s is None:
        values["status"] = "failed"
    else:
        values["next_attempt_at"] = now + timedelta(seconds=retry_in_s)
    with db.session() as session:
        result = session.execute(
            update(WebhookMessageRow)
            .where(WebhookMessageRow.id == message.id, WebhookMessageRow.locked_by == message.claim)
            .values(**values)
        )
        return bool(result.rowcount)


def list_messages(db: Database, *, status: str | None = None, limit: int = 100) -> list[WebhookMessageRow]:
    """Newest first, optionally only one status."""
    query = select(WebhookMessageRow).order_by(WebhookMessageRow.id.desc()).limit(limit)
    if status:
        query = query.where(WebhookMessageRow.status == status)
    with db.session() as session:
        return list(session.scalars(query).all())


def retry_message(db: Database, ref: str) -> WebhookMessageRow | None:
    """Queue a message (by row id or webhook-id) for immediate delivery with a fresh retry schedule.

    Delivered messages may be re-sent too (a receiver that lost data): same webhook-id, so a receiver
    that did keep it de-duplicates.
    """
    column = WebhookMessageRow.id if ref.isdigit() else WebhookMessageRow.msg_id
    key: int | str = int(ref) if ref.isdigit() else ref
    with db.session() as session:
        row = session.scalars(select(WebhookMessageRow).where(column == key)).one_or_none()
        if row is None:
            return None
        row.status = "pending"
        row.attempts = 0
        row.next_attempt_at = utcnow()
        row.locked_until = None
        row.locked_by = None
        row.delivered_at = None
        return row
