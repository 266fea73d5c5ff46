"""Read a stored call back: the call, its participants and each one's time-ordered timeline.

Rows come back as the same `Observation` / `FusedPoint` records the pipeline handed in, so the
summary and export code work on one plain shape whatever the database.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from storage.db import Database
from storage.models import PROBABILITY_COLUMNS, CallRow, FusedPointRow, ObservationRow, ParticipantRow
from storage.records import FusedPoint, Observation
from storage.repository import get_call


@dataclass(frozen=True, slots=True)
class CallTimeline:
    call: CallRow  # detached, fully loaded
    participants: list[ParticipantRow]  # in join order
    observations: dict[str, list[Observation]]  # participant identity -> by t_start
    fused: dict[str, list[FusedPoint]]  # participant identity -> by t


def _probabilities(row: object) -> tuple[float, ...]:
    return tuple(float(getattr(row, column)) for column in PROBABILITY_COLUMNS)


def load_call_timeline(db: Database, call_id: str) -> CallTimeline:
    """Everything stored about one call. Raises storage.repository.CallNotFound."""
    observations: dict[str, list[Observation]] = defaultdict(list)
    fused: dict[str, list[FusedPoint]] = defaultdict(list)
    with db.session() as session:
        call = get_call(session, call_id)
        participants = list(
            session.scalars(
                select(ParticipantRow)
                .where(ParticipantRow.call_id == call_id)
                .order_by(ParticipantRow.first_joined_at, ParticipantRow.id)
            )
        )
        identities = {p.id: p.identity for p in participants}
        obs_rows = session.execute(
            select(ObservationRow).where(ObservationRow.call_id == call_id).order_by(ObservationRow.t_start)
        ).scalars()
        for row in obs_rows:
            observations[identities[row.participant_id]].append(
                Observation(
                    participant_identity=identities[row.participant_id],
                    modality=row.modality,  # type: ignore[arg-type]
                    t_start=row.t_start,
                    t_end=row.t_end,
                    probabilities=_probabilities(row),
                    top_label=row.top_label,
                    confidence=row.confidence,
                    face_size=row.face_size,
                    speech_level_db=row.speech_level_db,
                )
            )
        fused_rows = session.execute(
            select(FusedPointRow).where(FusedPointRow.call_id == call_id).order_by(FusedPointRow.t)
        ).scalars()
        for row in fused_rows:
            fused[identities[row.participant_id]].append(
                FusedPoint(
                    participant_identity=identities[row.participant_id],
                    t=row.t,
                    probabilities=_probabilities(row),
                    top_label=row.top_label,
                    valence=row.valence,
                    arousal=row.arousal,
                    sources=tuple(row.sources.split("+")) if row.sources else (),  # type: ignore[arg-type]
                )
            )
    return CallTimeline(
        call=call, participants=participants, observations=dict(observations), fused=dict(fused)
    )
