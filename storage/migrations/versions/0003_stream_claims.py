"""Stream claims (one owning process per platform stream) and the streaming call sources.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

Written by hand and self-contained, like 0001/0002; it matches storage/claim_models.py and the
`calls.source` choices in storage/models.py ("zoom" and "twilio" added for `serve`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OLD_SOURCES = "source IN ('file', 'simulated', 'livekit')"
NEW_SOURCES = "source IN ('file', 'simulated', 'livekit', 'zoom', 'twilio')"
SOURCE_CHECK = "ck_calls_ck_calls_source"


def _timestamp(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _replace_source_check(condition: str) -> None:
    # Batch mode (SQLite) rebuilds the table with the new constraint; PostgreSQL alters in place.
    with op.batch_alter_table("calls") as batch:
        # 0001 ran its names through the naming convention once more, so the constraint in every
        # existing database is "ck_calls_ck_calls_source"; op.f() keeps that exact name both ways.
        batch.drop_constraint(op.f(SOURCE_CHECK), type_="check")
        batch.create_check_constraint(op.f(SOURCE_CHECK), condition)


def upgrade() -> None:
    _replace_source_check(NEW_SOURCES)
    op.create_table(
        "stream_claims",
        sa.Column("stream_id", sa.String(255), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(36), nullable=True),
        _timestamp("claimed_at"),
        _timestamp("heartbeat_at"),
        _timestamp("released_at", nullable=True),
        sa.Column("stop_reason", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("stream_id", name="pk_stream_claims"),
    )


def downgrade() -> None:
    op.drop_table("stream_claims")
    op.execute("DELETE FROM calls WHERE source IN ('zoom', 'twilio')")
    _replace_source_check(OLD_SOURCES)
