"""A synthetic 60-second call with known answers, stored through the real writer.

alice (video, host): fused timeline every 0.5 s: happy for 0-20 s, angry 20-30 s except one neutral
second at 24-25 s (a small gap the episode must bridge, peak 0.9 at 27 s), neutral 30-60 s with a
1.5 s sad blip at 45 s (too short to be an episode). Face samples at 2 fps for 0-40 s, then no face.
Voice: 3 segments of 4 s. Valence therefore falls over the call.
bob (phone): voice only, 5 sad segments of 2 s, no fused points.
carol: opted out, her stored rows deleted.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import numpy as np

from emotion_models.affect import valence_arousal
from emotion_models.labels import LABELS
from storage import repository
from storage.db import Database
from storage.records import FusedPoint, Observation
from storage.writer import ObservationWriter

STARTED_AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
METADATA = {"deal_id": "D-42", "host_identity": "alice"}


def probs(label: str, p: float) -> tuple[float, ...]:
    rest = (1.0 - p) / (len(LABELS) - 1)
    return tuple(p if name == label else rest for name in LABELS)


def alice_fused_label(t: float) -> tuple[str, float]:
    if t < 20:
        return "happy", 0.7
    if t < 30:
        if 24 <= t < 25:
            return "neutral", 0.6
        return "angry", 0.9 if t == 27.0 else 0.7
    if 45 <= t < 46.5:
        return "sad", 0.7
    return "neutral", 0.8


def fused(identity: str, t: float, label: str, p: float) -> FusedPoint:
    vector = probs(label, p)
    valence, arousal = valence_arousal(np.array(vector))
    return FusedPoint(identity, t, vector, label, float(valence), float(arousal), ("face", "voice"))


def observation(
    identity: str, modality: str, t0: float, t1: float, label: str, p: float, **extra: float
) -> Observation:
    return Observation(identity, modality, t0, t1, probs(label, p), label, p, **extra)  # type: ignore[arg-type]


def alice_items() -> list[Observation | FusedPoint]:
    items: list[Observation | FusedPoint] = []
    for i in range(120):
        t = i * 0.5
        label, p = alice_fused_label(t)
        items.append(fused("alice", t, label, p))
        if t < 40:
            items.append(observation("alice", "face", t, t, label, p, face_size=120.0))
    for start in (2.0, 21.0, 50.0):
        items.append(observation("alice", "voice", start, start + 4.0, "neutral", 0.5, speech_level_db=-20.0))
    return items


def bob_items() -> list[Observation]:
    return [
        observation("bob", "voice", 10.0 + 8 * i, 12.0 + 8 * i, "sad", 0.6, speech_level_db=-25.0)
        for i in range(5)
    ]


async def _write(db: Database, call_id: str, items: list[Observation | FusedPoint]) -> dict:
    writer = ObservationWriter(db, call_id, flush_interval_s=0.1)
    writer.start()
    for item in items:
        if isinstance(item, Observation):
            writer.submit_observation(item)
        else:
            writer.submit_fused(item)
    await writer.aclose()
    return writer.stats


def populate_call(db: Database) -> str:
    """Store the synthetic call (still `active`) and return its id."""
    call_id = repository.create_call(
        db, room="sales-room", source="simulated", metadata=METADATA, started_at=STARTED_AT
    )
    repository.upsert_participant(
        db, call_id, "alice", display_name="Alice", kind="standard", role="host", joined_at=STARTED_AT
    )
    repository.upsert_participant(
        db,
        call_id,
        "bob",
        display_name="Bob (phone)",
        kind="sip",
        role="customer",
        phone_number="+48*****789",
        attributes={"sip.callStatus": "active"},
        joined_at=STARTED_AT + timedelta(seconds=5),
    )
    repository.upsert_participant(db, call_id, "carol", display_name="Carol", joined_at=STARTED_AT)
    stats = asyncio.run(
        _write(db, call_id, [*alice_items(), *bob_items(), observation("carol", "face", 1, 1, "happy", 0.9)])
    )
    assert stats["pending"] == 0 and stats["dropped"] == 0, stats
    repository.mark_not_analysed(db, call_id, "carol", "opted out in chat", delete_stored=True)
    repository.mark_participant_left(db, call_id, "bob", STARTED_AT + timedelta(seconds=55))
    return call_id


ENDED_AT = STARTED_AT + timedelta(seconds=60)
