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


OBSERVATION_COLUMNS = (
    ObservationRow.participant_id,
    ObservationRow.modality,
    ObservationRow.t_start,
    ObservationRow.t_end,
    ObservationRow.top_label,
    ObservationRow.confidence,
    ObservationRow.face_size,
    ObservationRow.speech_level_db,
    *(getattr(ObservationRow, column) for column in PROBABILITY_COLUMNS),
)
FUSED_COLUMNS = (
    FusedPointRow.participant_id,
    FusedPointRow.t,
    FusedPointRow.top_label,
    FusedPointRow.valence,
    FusedPointRow.arousal,
    FusedPointRow.sources,
    *(getattr(FusedPointRow, column) for column in PROBABILITY_COLUMNS),
)


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
        # Plain column tuples, not ORM objects: an hour-long call has tens of thousands of rows.
        query = select(*OBSERVATION_COLUMNS).where(ObservationRow.call_id == call_id)
        for pid, modality, t_start, t_end, top, confidence, face_size, level, *probs in session.execute(
            query.order_by(ObservationRow.t_start)
        ):
            identity = identities[pid]
            observations[identity].append(
                Observation(
                    identity, modality, t_start, t_end, tuple(probs), top, confidence, face_size, level
                )
            )
        query = select(*FUSED_COLUMNS).where(FusedPointRow.call_id == call_id)
        for pid, t, top, valence, arousal, sources, *probs in session.execute(
            query.order_by(FusedPointRow.t)
        ):
            identity = identities[pid]
            fused[identity].append(
                FusedPoint(
                    identity,
                    t,
                    tuple(probs),
                    top,
                    valence,
                    arousal,
                    tuple(sources.split("+")) if sources else (),
                )
            )
    return CallTimeline(
        call=call, participants=participants, observations=dict(observations), fused=dict(fused)
    )
