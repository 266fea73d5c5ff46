"""Live alert rules on fused timelines: fire once per episode, cooldown, roles; stored and sent."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from sqlalchemy import select

from bot.delivery import outbox
from bot.delivery.alerts import AlertEngine, LiveAlerts, ValenceDrop, build_rule, rules_from_env
from bot.delivery.deliverer import Deliverer
from emotion_models.affect import valence_arousal
from emotion_models.labels import LABEL_INDEX, LABELS
from storage.db import Database
from storage.outbox_models import CallAlertRow
from storage.records import FusedPoint
from storage.repository import create_call, finish_call, mark_not_analysed
from tests.delivery.receiver import Receiver
from tests.delivery.test_outbox import config

ANGRY_RULE = [{"type": "sustained", "label": "angry", "min_duration_s": 10, "cooldown_s": 60}]


def point(identity: str, t: float, label: str, p: float = 0.8) -> FusedPoint:
    probs = np.full(len(LABELS), (1 - p) / (len(LABELS) - 1))
    probs[LABEL_INDEX[label]] = p
    valence, arousal = valence_arousal(probs)
    return FusedPoint(identity, t, tuple(probs.tolist()), label, float(valence), float(arousal), ("face",))


def run(engine: AlertEngine, identity: str, labels: list[tuple[float, str]]) -> None:
    for t, label in labels:
        engine.on_point(point(identity, t, label))


def test_sustained_anger_fires_once_per_episode_with_cooldown() -> None:
    fired = []
    engine = AlertEngine(ANGRY_RULE, fired.append)
    run(engine, "bob", [(t * 0.5, "angry") for t in range(40)])  # 0..19.5 s angry
    assert len(fired) == 1
    assert (fired[0].rule, fired[0].identity, fired[0].episode.t_start, fired[0].t_detected) == (
        "angry_for_10s",
        "bob",
        0.0,
        10.0,
    )
    run(engine, "bob", [(20.0, "neutral")] + [(20.5 + t * 0.5, "angry") for t in range(30)])  # new episode
    assert len(fired) == 1  # within the 60 s cooldown
    run(engine, "bob", [(40.0, "happy")] + [(70.0 + t * 0.5, "angry") for t in range(22)])
    assert len(fired) == 2 and fired[1].episode.t_start == 70.0


def test_gaps_and_weak_probabilities_break_the_run() -> None:
    fired = []
    engine = AlertEngine(ANGRY_RULE, fired.append)
    run(engine, "ann", [(t, "angry") for t in range(6)] + [(t, "angry") for t in range(12, 18)])  # 6 s gap
    engine.on_point(point("ann", 18, "angry", p=0.3))  # top label, but unsure
    assert fired == []
    run(engine, "eve", [(t, "angry") for t in range(11)])  # per-participant state
    assert [a.identity for a in fired] == ["eve"]


def test_valence_drop_limited_to_customers() -> None:
    fired = []
    spec = {"type": "valence_drop", "drop": 0.5, "window_s": 30, "roles": ["customer"]}
    engine = AlertEngine([spec], fired.append)
    engine.set_role("cus", "Customer")
    engine.set_role("agent", "agent")
    for identity in ("cus", "agent"):
        run(engine, identity, [(0, "happy"), (5, "happy"), (10, "neutral"), (15, "sad")])
    assert [a.identity for a in fired] == ["cus"]
    assert fired[0].episode.value > 0.5 and "valence fell" in fired[0].episode.description
    slow = ValenceDrop(drop=0.5, window_s=5)
    assert [slow.update(point("x", t, lab)) for t, lab in [(0, "happy"), (10, "neutral"), (20, "sad")]] == [
        None
    ] * 3


def test_rule_config() -> None:
    assert [s["type"] for s in rules_from_env({})] == ["sustained", "valence_drop"]
    assert rules_from_env({"EMOTION_BOT_ALERT_RULES": "off"}) == []
    assert (
        rules_from_env({"EMOTION_BOT_ALERT_RULES": '[{"type":"sustained","label":"sad"}]'})[0]["label"]
        == "sad"
    )
    with pytest.raises(ValueError, match="unknown emotion label"):
        rules_from_env({"EMOTION_BOT_ALERT_RULES": '[{"type":"sustained","label":"grumpy"}]'})
    with pytest.raises(ValueError, match="unknown alert rule type"):
        build_rule({"type": "loud"})
    with pytest.raises(ValueError, match="bad options"):
        build_rule({"type": "valence_drop", "speed": 3})
    with pytest.raises(ValueError, match="not JSON"):
        rules_from_env({"EMOTION_BOT_ALERT_RULES": "[{"})


async def test_alert_is_stored_sent_during_the_call_and_listed_in_the_summary(
    db: Database, receiver: Receiver
) -> None:
    receiver.start()
    metadata = {"deal_id": "D-9", "webhook_url": receiver.url}
    call_id = create_call(db, room="support-1", source="simulated", metadata=metadata)
    deliverer = Deliverer(db, config())
    live = LiveAlerts(
        db, call_id=call_id, room="support-1", metadata=metadata, url=receiver.url, rule_specs=ANGRY_RULE
    )
    live.set_role("bob", "customer")
    for t in range(12):
        live.on_point(point("bob", float(t), "angry"))
    await live.drain()
    assert await deliverer.deliver_due() == {"delivered": 1}
    (alert,) = receiver.received
    assert alert.body["type"] == "call.alert"
    data = alert.body["data"]
    assert data["call_id"] == call_id and data["metadata"] == {"deal_id": "D-9"}  # no webhook_url echoed
    assert data["participant"] == {"identity": "bob", "role": "customer"}
    assert (data["rule"], data["start_s"], data["detected_s"]) == ("angry_for_10s", 0.0, 10.0)

    summary = {"version": "1.0", "call_id": call_id}
    extra = outbox.summary_enqueuer(summary, call_id=call_id, call_metadata=metadata, default_url=None)
    finish_call(db, call_id, status="finished", summary=summary, extra=extra)
    await asyncio.sleep(0)
    assert await deliverer.deliver_due() == {"delivered": 1}
    summary_body = receiver.received[1].body
    assert summary_body["type"] == "call.summary"
    assert [a["rule"] for a in summary_body["data"]["alerts"]] == ["angry_for_10s"]
    with db.session() as session:
        assert session.scalars(select(CallAlertRow.participant_identity)).all() == ["bob"]


async def test_opt_out_withdraws_alerts_from_summary_and_deletes_them(db: Database) -> None:
    call_id = create_call(db, room="r", source="simulated")
    live = LiveAlerts(db, call_id=call_id, room="r", metadata={}, url=None, rule_specs=ANGRY_RULE)
    for identity in ("bob", "amy"):
        for t in range(11):
            live.on_point(point(identity, float(t), "angry"))
    await live.drain()
    mark_not_analysed(db, call_id, "bob", "opted_out", delete_stored=False)
    with db.session() as session:
        assert [a["participant"]["identity"] for a in outbox.call_alerts(session, call_id)] == ["amy"]
        assert len(session.scalars(select(CallAlertRow)).all()) == 2  # kept: deletion was not asked for
    mark_not_analysed(db, call_id, "bob", "opted_out", delete_stored=True)
    with db.session() as session:
        assert session.scalars(select(CallAlertRow.participant_identity)).all() == ["amy"]
