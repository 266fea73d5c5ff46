"""Tables of the delivery part (on the shared declarative Base): the webhook outbox and live alerts.

A row is inserted in the same transaction that finalises a call (or records an alert), so a message
exists if and only if its event happened. Senders claim due rows with a short lease (`locked_until`)
so several sender processes never send the same message at the same time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
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


class CallAlertRow(Base):
    """An alert raised during a call (e.g. a participant angry for 10 s). Sent as a `call.alert` webhook
    and listed again in the call's summary webhook and reports. Derived data: purged with observations."""

    __tablename__ = "call_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    participant_identity: Mapped[str] = mapped_column(String(255))
    rule: Mapped[str] = mapped_column(String(64))
    t_start: Mapped[float] = mapped_column(Float)  # seconds since call start: the episode began
    t_detected: Mapped[float] = mapped_column(Float)  # the rule's condition was met
    payload: Mapped[dict[str, Any]]  # the webhook `data` of the alert
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index(None, "call_id"),)
