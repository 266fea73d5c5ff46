"""A seeded database of real rows: one teacher's calls over three days plus a call of someone else.

Everything goes through the real storage code (create_call, upsert_participant, ObservationWriter,
mark_not_analysed) and the real summary builder (finalize_call), like the pipeline does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from bot.delivery.alerts import Alert, Episode, alert_payload, store_alert
from bot.summary import finalize_call
from emotion_models.affect import valence_arousal
from emotion_models.labels import LABEL_INDEX, LABELS
from storage.db import Database
from storage.records import FusedPoint, Observation
from storage.repository import create_call, mark_not_analysed, upsert_participant
from storage.writer import ObservationWriter

HOST = "teacher-anna"
DAY0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


def probs(label: str, p: float = 0.8) -> tuple[float, ...]:
    values = np.full(len(LABELS), (1 - p) / (len(LABELS) - 1))
    values[LABEL_INDEX[label]] = p
    return tuple(values.tolist())


def fused(identity: str, t: float, label: str) -> FusedPoint:
    pr = probs(label)
    valence, arousal = valence_arousal(np.array(pr))
    return FusedPoint(identity, t, pr, label, float(valence), float(arousal), ("face", "voice"))


@dataclass(frozen=True)
class Seeded:
    calls: list[str]  # the host's calls, oldest first
    other_host_call: str
    active_call: str  # the host's call that never finished (no stored summary)


async def _write(
    db: Database, call_id: str, points: list[FusedPoint], observations: list[Observation]
) -> None:
    writer = ObservationWriter(db, call_id, flush_interval_s=0.05)
    writer.start()
    for point in points:
        writer.submit_fused(point)
    for obs in observations:
        writer.submit_observation(obs)
    await writer.aclose()


def _call(
    db: Database,
    *,
    started: datetime,
    host: str,
    others: dict[str, Callable[[float], str]],
    deal_id: str,
    seconds: int = 60,
    finish: bool = True,
) -> str:
    call_id = create_call(
        db,
        room=f"class-{deal_id}",
        source="livekit",
        metadata={"host_identity": host, "deal_id": deal_id},
        started_at=started,
    )
    upsert_participant(
        db,
        call_id,
        host,
        display_name="Anna Teacher" if host == HOST else "Bert",
        role="host",
        joined_at=started,
    )
    points = []
    for identity, label_at in others.items():
        upsert_participant(
            db, call_id, identity, display_name=identity.title(), role="student", joined_at=started
        )
        points += [fused(identity, float(t), label_at(t)) for t in range(seconds)]
    asyncio.run(_write(db, call_id, points, []))
    if finish:
        finalize_call(db, call_id, ended_at=started + timedelta(seconds=seconds))
    return call_id


def seed(db: Database) -> Seeded:
    calm = _call(
        db, started=DAY0, host=HOST, others={"sam": lambda t: "happy" if t < 40 else "neutral"}, deal_id="D-1"
    )
    mixed = _call(
        db,
        started=DAY0 + timedelta(days=1),
        host=HOST,
        others={"sam": lambda t: "neutral", "kim": lambda t: "sad" if 10 <= t < 30 else "neutral"},
        deal_id="D-2",
    )
    # The worst call: kim is angry from 20 s to 45 s; an alert was raised; lee opted out mid-call.
    worst_start = DAY0 + timedelta(days=2)
    worst = create_call(
        db,
        room="class-D-3",
        source="livekit",
        metadata={"host_identity": HOST, "deal_id": "D-3"},
        started_at=worst_start,
    )
    upsert_participant(db, worst, HOST, display_name="Anna Teacher", role="host", joined_at=worst_start)
    for identity in ("kim", "lee"):
        upsert_participant(
            db, worst, identity, display_name=identity.title(), role="student", joined_at=worst_start
        )
    points = [fused("kim", float(t), "angry" if 20 <= t < 45 else "neutral") for t in range(60)]
    points += [fused("lee", float(t), "happy") for t in range(30)]
    asyncio.run(_write(db, worst, points, []))
    mark_not_analysed(db, worst, "lee", "opted_out", delete_stored=True)
    alert = Alert("angry_for_10s", "kim", Episode(20.0, 10.0, "angry for 10 s"), 30.0)
    payload = alert_payload(
        alert, call_id=worst, room="class-D-3", metadata={"deal_id": "D-3"}, role="student"
    )
    with db.session() as session:
        store_alert(session, payload, url=None)
    finalize_call(db, worst, ended_at=worst_start + timedelta(seconds=60))

    other = _call(
        db,
        started=DAY0 + timedelta(days=1, hours=2),
        host="bert",
        others={"zed": lambda t: "sad"},
        deal_id="D-9",
    )
    active = _call(
        db,
        started=DAY0 + timedelta(days=3),
        host=HOST,
        others={"sam": lambda t: "happy"},
        deal_id="D-4",
        finish=False,
    )
    return Seeded(calls=[calm, mixed, worst, active], other_host_call=other, active_call=active)
