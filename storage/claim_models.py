"""Which process owns a platform's media stream (e.g. a Zoom RTMS stream id).

Zoom allows one connection per stream and retries its webhook; several `serve` processes behind one
load balancer may all receive it. The primary key makes the database the arbiter: exactly one
process holds a live claim, renewing `heartbeat_at`; a claim not renewed for a while belongs to a
dead process and may be taken over.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, utcnow


class StreamClaimRow(Base):
    __tablename__ = "stream_claims"

    stream_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(64))  # host:pid:random of the claiming process
    call_id: Mapped[str | None] = mapped_column(String(36))  # no FK: a purged call keeps its claim history
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None]
    # Set by any process that receives the platform's stop for this stream; the owner's heartbeat sees it.
    stop_reason: Mapped[int | None] = mapped_column(Integer)
