"""The webhook outbox table (on the shared declarative Base): one row per webhook message.

A row is inserted in the same transaction that finalises a call (or records an alert), so a message
exists if and only if its event happened. Senders claim due rows with a short lease (`locked_until`)
so several sender processes never send the same message at the same time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigIntPK, utcnow

OUTBOX_STATUSES: tuple[str, ...] = ("pending", "delivered", "failed")
EVENT_TYPES: tuple[str, ...] = ("call.summary", "call.alert")


class WebhookMessageRow(Base):
    __tablename__ = "webhook_outbox"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    msg_id: Mapped[str] = mapped_column(String(64), unique=True)  # the stable `webhook-id` header
    event_type: Mapped[str] = mapped_column(String(32))
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    # The exact bytes sent (UTF-8 JSON): every retry signs and sends the identical body.
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(64))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(repr(s) for s in OUTBOX_STATUSES) + ")",
            name="status",
        ),
        CheckConstraint(
            "event_type IN (" + ", ".join(repr(s) for s in EVENT_TYPES) + ")",
            name="event_type",
        ),
        # The sender's query: due pending rows in order.
        Index(None, "status", "next_attempt_at"),
        Index(None, "call_id"),
    )
