"""A call's stored timeline as flat rows (CSV, long format) or nested JSON, for analysts and BI tools.

One row per face observation, voice observation and fused point; the `kind` column says which.
Valence/arousal are given for every row (observation rows use the same circumplex mapping as the
fused timeline), so a chart can compare the modalities directly. Participants who were excluded
(opt-out, policy) never appear in an export, whatever rows are left.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import IO, Any

import numpy as np

from emotion_models.affect import valence_arousal
from emotion_models.labels import LABELS
from storage.db import Database
from storage.models import PROBABILITY_COLUMNS
from storage.records import FusedPoint, Observation
from storage.repository import latest_summary
from storage.timeline import CallTimeline, load_call_timeline

EXPORT_VERSION = "1.0"
TIMELINE_KINDS = ("face", "voice", "fused")
POINT_COLUMNS = (
    "kind",
    "t_start",
    "t_end",
    "top_label",
    "confidence",
    *PROBABILITY_COLUMNS,
    "valence",
    "arousal",
    "face_size",
    "speech_level_db",
    "sources",
)
CSV_COLUMNS = ("call_id", "participant_identity", "participant_name", "participant_kind", *POINT_COLUMNS)
_DIGITS = 5


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), _DIGITS)


def _probabilities(values: tuple[float, ...]) -> dict[str, float | None]:
    return {column: _round(p) for column, p in zip(PROBABILITY_COLUMNS, values, strict=True)}


def observation_point(obs: Observation) -> dict[str, Any]:
    valence, arousal = valence_arousal(np.asarray(obs.probabilities))
    return {
        "kind": obs.modality,
        "t_start": _round(obs.t_start),
        "t_end": _round(obs.t_end),
        "top_label": obs.top_label,
        "confidence": _round(obs.confidence),
        **_probabilities(obs.probabilities),
        "valence": _round(valence),
        "arousal": _round(arousal),
        "face_size": _round(obs.face_size),
        "speech_level_db": _round(obs.speech_level_db),
        "sources": obs.modality,
    }


def fused_point(point: FusedPoint) -> dict[str, Any]:
    return {
        "kind": "fused",
        "t_start": _round(point.t),
        "t_end": _round(point.t),
        "top_label": point.top_label,
        "confidence": _round(max(point.probabilities)),
        **_probabilities(point.probabilities),
        "valence": _round(point.valence),
        "arousal": _round(point.arousal),
        "face_size": None,
        "speech_level_db": None,
        "sources": "+".join(point.sources),
    }


def participant_points(timeline: CallTimeline, identity: str) -> list[dict[str, Any]]:
    """One participant's rows in time order (face, voice, fused at the same instant in that order)."""
    points = [observation_point(o) for o in timeline.observations.get(identity, [])]
    points += [fused_point(p) for p in timeline.fused.get(identity, [])]
    return sorted(points, key=lambda row: (row["t_start"], TIMELINE_KINDS.index(row["kind"])))


def csv_rows(timeline: CallTimeline) -> Iterator[dict[str, Any]]:
    for participant in timeline.participants:
        if not participant.analysed:
            continue
        for point in participant_points(timeline, participant.identity):
            yield {
                "call_id": timeline.call.id,
                "participant_identity": participant.identity,
                "participant_name": participant.display_name,
                "participant_kind": participant.kind,
                **point,
            }


def export_csv_rows(db: Database, call_id: str) -> list[dict[str, Any]]:
    """Every CSV row of a call (CSV_COLUMNS keys). Raises storage.repository.CallNotFound."""
    return list(csv_rows(load_call_timeline(db, call_id)))


def write_csv(rows: Iterable[dict[str, Any]], out: IO[str]) -> None:
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def export_json(db: Database, call_id: str) -> dict[str, Any]:
    """The call, each analysed participant's face/voice/fused timeline, and the stored summary."""
    timeline = load_call_timeline(db, call_id)
    call = timeline.call
    participants = []
    for participant in timeline.participants:
        points = participant_points(timeline, participant.identity) if participant.analysed else []
        participants.append(
            {
                "identity": participant.identity,
                "display_name": participant.display_name,
                "kind": participant.kind,
                "role": participant.role,
                "analysed": participant.analysed,
                "not_analysed_reason": participant.not_analysed_reason,
                **{
                    kind: [{k: v for k, v in p.items() if k != "kind"} for p in points if p["kind"] == kind]
                    for kind in TIMELINE_KINDS
                },
            }
        )
    return {
        "version": EXPORT_VERSION,
        "call_id": call.id,
        "room": call.room,
        "source": call.source,
        "status": call.status,
        "started_at": call.started_at.isoformat(),
        "ended_at": None if call.ended_at is None else call.ended_at.isoformat(),
        "metadata": call.metadata_,
        "labels": list(LABELS),
        "participants": participants,
        "summary": latest_summary(db, call_id),
    }
