"""Webhook outbox (one row per webhook message, leased by senders) and live call alerts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Written by hand and self-contained, like 0001; it matches storage/outbox_models.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _timestamp(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "webhook_outbox",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("msg_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("call_id", sa.String(36), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _timestamp("next_attempt_at"),
        _timestamp("locked_until", nullable=True),
        sa.Column("locked_by", sa.String(64), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("delivered_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_outbox"),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name="fk_webhook_outbox_call_id_calls", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("msg_id", name="uq_webhook_outbox_msg_id"),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="ck_webhook_outbox_status"),
        sa.CheckConstraint(
            "event_type IN ('call.summary', 'call.alert')", name="ck_webhook_outbox_event_type"
        ),
    )
    op.create_index(
        "ix_webhook_outbox_status_next_attempt_at", "webhook_outbox", ["status", "next_attempt_at"]
    )
    op.create_index("ix_webhook_outbox_call_id", "webhook_outbox", ["call_id"])

    op.create_table(
        "call_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(36), nullable=False),
        sa.Column("participant_identity", sa.String(255), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("t_start", sa.Float(), nullable=False),
        sa.Column("t_detected", sa.Float(), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_call_alerts"),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name="fk_call_alerts_call_id_calls", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_call_alerts_call_id", "call_alerts", ["call_id"])


def downgrade() -> None:
    op.drop_table("call_alerts")
    op.drop_table("webhook_outbox")
