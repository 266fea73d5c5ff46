"""Policy decisions applied to a running call: the real CallSession and RoomAnalysis (real models,
real livekit rtc tracks in a FakeRoom, real SQLite). The LiveKit part's own tests cover the chat
opt-out and consent mode; these cover the attribute opt-out, keeping data when configured, and the
EU rule, and check what the summary says."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select

from bot.delivery.alerts import LiveAlerts
from bot.livekit.room import RoomOptions
from bot.policy.config import AnalysisPolicy
from emotion_models.labels import LABELS
from storage.models import ObservationRow, ParticipantRow
from storage.outbox_models import CallAlertRow
from tests.livekit.conftest import LiveParticipant, wait_until
from tests.livekit.test_room_lifecycle import face_count, start_call

__all__ = ["start_call"]  # a fixture this module uses

pytestmark = pytest.mark.slow
WAIT_S = 90  # real models on a shared 2-core machine: seconds when idle, much longer under load


def observations_of(db, call_id: str, identity: str) -> int:
    with db.session() as s:
        pid = s.scalar(
            select(ParticipantRow.id).where(
                ParticipantRow.call_id == call_id, ParticipantRow.identity == identity
            )
        )
        return int(s.scalar(select(func.count()).where(ObservationRow.participant_id == pid)) or 0)


async def opt_out_by_attribute(
    start_call, models, database, monkeypatch, *, delete: bool
) -> tuple[dict, int, int]:
    # One "whatever label, any length" alert rule per label, so both participants fire alerts.
    rules = [
        {"type": "sustained", "label": label, "min_duration_s": 0, "min_probability": 0} for label in LABELS
    ]
    monkeypatch.setenv("EMOTION_BOT_ALERT_RULES", json.dumps(rules))
    options = RoomOptions(
        empty_grace_s=0.2, no_show_timeout_s=30, policy=AnalysisPolicy(delete_on_opt_out=delete)
    )
    room, session, _call, task = await start_call(models, database, options)
    alerts = LiveAlerts.attach(session, database, default_url=None)  # the worker's hook, as in production
    mia = LiveParticipant(room, "mia", name="Mia").join()
    noah = LiveParticipant(room, "noah").join()
    await wait_until(
        lambda: face_count(session, "mia") >= 2 and face_count(session, "noah") >= 1,
        what="both",
        timeout=WAIT_S,
    )
    await asyncio.sleep(1.0)  # some of mia's observations reach the database
    stored_before = observations_of(database, session.call_id, "mia")
    mia.participant.attributes["emotion.opt_out"] = "true"
    room.emit("participant_attributes_changed", {"emotion.opt_out": "true"}, mia.participant)
    await wait_until(lambda: "mia" in session.stats["excluded"], what="mia excluded", timeout=WAIT_S)
    mia_faces = face_count(session, "mia")
    noah_faces = face_count(session, "noah")
    await wait_until(
        lambda: face_count(session, "noah") > noah_faces + 1, what="noah still analysed", timeout=WAIT_S
    )
    assert face_count(session, "mia") == mia_faces  # nothing more of mia is analysed
    for p in (mia, noah):
        await p.leave()
    outcome = await asyncio.wait_for(task, WAIT_S)
    await alerts.drain()
    for p in (mia, noah):
        await p.close()
    with database.session() as s:  # one "whatever label, any length" rule per label: each fired once
        fired = set(
            s.scalars(
                select(CallAlertRow.participant_identity).where(CallAlertRow.call_id == session.call_id)
            )
        )
    # Both fired during the call; deleting an opted-out participant's data deletes their alerts too.
    assert fired == ({"noah"} if delete else {"mia", "noah"})
    return outcome.summary, stored_before, observations_of(database, session.call_id, "mia")


async def test_opt_out_attribute_mid_call_stops_analysis_and_deletes(
    start_call, models, database, monkeypatch
) -> None:
    summary, stored_before, stored_after = await opt_out_by_attribute(
        start_call, models, database, monkeypatch, delete=True
    )
    assert stored_before > 0 and stored_after == 0
    assert summary["not_analysed"] == [{"identity": "mia", "display_name": "Mia", "reason": "opted_out"}]
    mia = next(p for p in summary["participants"] if p["identity"] == "mia")
    assert mia["analysed"] is False and mia["emotion_shares"]["fused"] is None
    noah = next(p for p in summary["participants"] if p["identity"] == "noah")
    assert noah["analysed"] is True and noah["observation_counts"]["face"] > 0


async def test_opt_out_without_deletion_keeps_what_was_stored_but_reports_nothing(
    start_call, models, database, monkeypatch
) -> None:
    summary, stored_before, stored_after = await opt_out_by_attribute(
        start_call, models, database, monkeypatch, delete=False
    )
    assert stored_after >= stored_before > 0  # kept (e.g. for a legal hold) ...
    mia = next(p for p in summary["participants"] if p["identity"] == "mia")
    assert mia["analysed"] is False and mia["observation_counts"]["face"] == 0  # ... but never reported


async def test_eu_never_analyses_staff_even_with_consent(start_call, models, database) -> None:
    policy = AnalysisPolicy(mode="consent", jurisdiction="eu")
    options = RoomOptions(empty_grace_s=0.2, no_show_timeout_s=30, policy=policy)
    room, session, _call, task = await start_call(models, database, options)
    agent = LiveParticipant(
        room, "olga", attributes={"emotion.role": "agent", "emotion.consent": "true"}
    ).join()
    customer = LiveParticipant(
        room, "pete", attributes={"role": "customer", "emotion.consent": "true"}
    ).join()
    await wait_until(lambda: face_count(session, "pete") >= 2, what="customer analysed", timeout=WAIT_S)
    assert face_count(session, "olga") == 0
    for p in (agent, customer):
        await p.leave()
    outcome = await asyncio.wait_for(task, WAIT_S)
    for p in (agent, customer):
        await p.close()
    reasons = {item["identity"]: item["reason"] for item in outcome.summary["not_analysed"]}
    assert reasons == {"olga": "eu_ai_act_protected_role:agent"}
    assert observations_of(database, session.call_id, "olga") == 0
