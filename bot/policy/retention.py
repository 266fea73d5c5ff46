"""Retention: delete what was derived from calls older than a cut-off.

With `keep_summaries` the per-call summaries (and the call and participant rows they describe) stay,
while the detailed timelines (observations, fused points), live alerts and sent webhook bodies go.
Without it, whole calls go. Webhooks still pending are kept (they are being delivered) unless
their whole call is deleted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import CallRow, FusedPointRow, ObservationRow, ParticipantRow, SummaryRow, utcnow
from storage.outbox_models import CallAlertRow, WebhookMessageRow

TIMELINE_TABLES = (ObservationRow, FusedPointRow, CallAlertRow)


def purge(
    db: Database,
    *,
    older_than: timedelta,
    keep_summaries: bool = False,
    dry_run: bool = False,
    now: datetime | None = None,
) -> dict[str, int | str]:
    """Delete data of calls that started before now - older_than. Returns counts per table.

    One transaction: either everything for the cut-off goes, or (on an error) nothing does.
    """
    if older_than <= timedelta(0):
        raise ValueError("--older-than must be positive")
    cutoff = (now or utcnow()) - older_than
    old_calls = select(CallRow.id).where(CallRow.started_at < cutoff)
    old_webhooks = (
        WebhookMessageRow.status != "pending",
        (WebhookMessageRow.call_id.in_(old_calls)) | (WebhookMessageRow.call_id.is_(None)),
        WebhookMessageRow.created_at < cutoff,
    )
    targets = [*TIMELINE_TABLES] if keep_summaries else [*TIMELINE_TABLES, SummaryRow, ParticipantRow]
    counts: dict[str, int | str] = {"cutoff": cutoff.isoformat()}
    with db.session() as session:
        for table in targets:
            counts[table.__tablename__] = _count(session, table, table.call_id.in_(old_calls))
        counts["webhook_outbox"] = _count(session, WebhookMessageRow, *old_webhooks)
        if not keep_summaries:
            counts["calls"] = _count(session, CallRow, CallRow.started_at < cutoff)
        if dry_run:
            return counts
        # Children first: the result must not depend on SQLite's foreign-key pragma.
        session.execute(delete(WebhookMessageRow).where(*old_webhooks))
        for table in targets:
            session.execute(delete(table).where(table.call_id.in_(old_calls)))
        if not keep_summaries:
            session.execute(delete(CallRow).where(CallRow.started_at < cutoff))
    return counts


def _count(session: Session, table: type, *conditions: object) -> int:
    return int(session.scalar(select(func.count()).select_from(table).where(*conditions)) or 0)
