"""SQLAlchemy models: the one declarative `Base` every table (and every later migration) hangs off.

Types are chosen to behave the same on SQLite and PostgreSQL: enumerations are short strings with
named CHECK constraints (no native PG enums, which make later migrations painful), JSON becomes
JSONB on PostgreSQL, and timestamps are stored in UTC and always read back timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from emotion_models.labels import LABELS

CALL_SOURCES: tuple[str, ...] = ("file", "simulated", "livekit", "zoom", "twilio")
CALL_STATUSES: tuple[str, ...] = ("active", "finished", "partial")
PARTICIPANT_KINDS: tuple[str, ...] = ("standard", "sip")
MODALITIES: tuple[str, ...] = ("face", "voice")
# Column names of the 7 probabilities, in LABELS order (p_angry .. p_neutral).
PROBABILITY_COLUMNS: tuple[str, ...] = tuple(f"p_{label}" for label in LABELS)

# Deterministic constraint names, so migrations (and batch mode on SQLite) can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back timezone-aware (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY, not a BIGINT one.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


class CallRow(Base):
    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    room: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    # Dispatch metadata echoed in the summary: external ids (deal/ticket), host identity, webhook URL.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint(_in("source", CALL_SOURCES), name="source"),
        CheckConstraint(_in("status", CALL_STATUSES), name="status"),
        Index(None, "status"),
        Index(None, "started_at"),
    )


class ParticipantRow(Base):
    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    identity: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16), default="standard")
    role: Mapped[str | None] = mapped_column(String(64))
    # Whatever the caller passes: masked unless EMOTION_BOT_STORE_PHONE_NUMBERS is on.
    phone_number: Mapped[str | None] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    first_joined_at: Mapped[datetime]
    last_left_at: Mapped[datetime | None]
    analysed: Mapped[bool] = mapped_column(Boolean, default=True)
    not_analysed_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("call_id", "identity"),
        CheckConstraint(_in("kind", PARTICIPANT_KINDS), name="kind"),
    )


class ProbabilityColumns:
    """The 7 per-label probability columns, one real column each so BI tools can query them."""

    p_angry: Mapped[float] = mapped_column(Float)
    p_disgust: Mapped[float] = mapped_column(Float)
    p_fear: Mapped[float] = mapped_column(Float)
    p_happy: Mapped[float] = mapped_column(Float)
    p_sad: Mapped[float] = mapped_column(Float)
    p_surprise: Mapped[float] = mapped_column(Float)
    p_neutral: Mapped[float] = mapped_column(Float)


class ObservationRow(ProbabilityColumns, Base):
    __tablename__ = "observations"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    modality: Mapped[str] = mapped_column(String(8))
    t_start: Mapped[float] = mapped_column(Float)  # seconds since call start (media time)
    t_end: Mapped[float] = mapped_column(Float)
    top_label: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)
    face_size: Mapped[float | None] = mapped_column(Float)
    speech_level_db: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint(_in("modality", MODALITIES), name="modality"),
        Index(None, "call_id"),
        Index(None, "participant_id", "t_start"),
    )


class FusedPointRow(ProbabilityColumns, Base):
    __tablename__ = "fused_points"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    t: Mapped[float] = mapped_column(Float)
    valence: Mapped[float] = mapped_column(Float)
    arousal: Mapped[float] = mapped_column(Float)
    top_label: Mapped[str] = mapped_column(String(16))
    sources: Mapped[str] = mapped_column(String(16), default="")  # "face", "voice" or "face+voice"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index(None, "call_id"),
        Index(None, "participant_id", "t"),
    )


class SummaryRow(Base):
    __tablename__ = "summaries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(16))  # the payload's schema version, e.g. "1.0"
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index(None, "call_id"),)


if tuple(ProbabilityColumns.__annotations__) != PROBABILITY_COLUMNS:
    raise RuntimeError("ProbabilityColumns must follow emotion_models.labels.LABELS order")
