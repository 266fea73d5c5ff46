"""What is really sent validates against the published schema (and the summary part against the
summary schema); the published example does too."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select

from bot.delivery.alerts import LiveAlerts
from bot.delivery.outbox import summary_enqueuer
from bot.summary import finalize_call
from storage.db import Database
from storage.outbox_models import WebhookMessageRow
from storage.repository import create_call, upsert_participant
from storage.writer import ObservationWriter
from tests.delivery.databases import sqlite_database
from tests.delivery.test_alerts import ANGRY_RULE, point

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SCHEMA = json.loads((ROOT / "bot/schemas/webhook.schema.json").read_text())
SUMMARY_SCHEMA = json.loads((ROOT / "bot/schemas/summary.schema.json").read_text())
URL = "https://crm.example/hooks/emotion"


def sent_envelopes(db: Database) -> dict[str, dict]:
    call_id = create_call(
        db, room="support-7", source="livekit", metadata={"deal_id": "D-42", "host_identity": "agent-1"}
    )
    upsert_participant(db, call_id, "agent-1", display_name="Ann Agent", role="host")
    upsert_participant(db, call_id, "cust-9", display_name="Carl", role="customer")
    upsert_participant(db, call_id, "sip_+49", kind="sip", role="caller", phone_number="+491********78")

    async def during_call() -> None:
        live = LiveAlerts(
            db,
            call_id=call_id,
            room="support-7",
            metadata={"deal_id": "D-42"},
            url=URL,
            rule_specs=ANGRY_RULE,
        )
        live.set_role("cust-9", "customer")
        writer = ObservationWriter(db, call_id, flush_interval_s=0.05)
        writer.start()
        for t in range(30):
            p = point("cust-9", float(t), "angry" if 5 <= t < 20 else "neutral")
            writer.submit_fused(p)
            live.on_point(p)
        await writer.aclose()
        await live.drain()

    asyncio.run(during_call())
    finalize_call(
        db,
        call_id,
        extra=lambda session, summary: summary_enqueuer(
            summary, call_id=call_id, call_metadata={"deal_id": "D-42"}, default_url=URL
        )(session),
    )
    with db.session() as session:
        rows = session.scalars(select(WebhookMessageRow).order_by(WebhookMessageRow.id)).all()
        return {row.event_type: json.loads(row.body) for row in rows}


@pytest.fixture(scope="module")
def envelopes(tmp_path_factory) -> dict[str, dict]:
    return sent_envelopes(sqlite_database(tmp_path_factory.mktemp("schema")))


def test_schemas_are_valid_json_schema() -> None:
    Draft202012Validator.check_schema(WEBHOOK_SCHEMA)


def test_sent_summary_validates_and_has_what_a_crm_maps(envelopes: dict[str, dict]) -> None:
    summary = envelopes["call.summary"]
    Draft202012Validator(WEBHOOK_SCHEMA).validate(summary)
    data = summary["data"]
    Draft202012Validator(SUMMARY_SCHEMA).validate({k: v for k, v in data.items() if k != "alerts"})
    assert data["metadata"]["deal_id"] == "D-42" and data["started_at"] and data["ended_at"]
    customer = next(p for p in data["participants"] if p["identity"] == "cust-9")
    assert customer["role"] == "customer" and customer["emotion_shares"]["fused"]["angry"] > 0.4
    assert customer["valence"]["mean"] < 0 and customer["negative_episodes"][0]["label"] == "angry"
    assert [a["rule"] for a in data["alerts"]] == ["angry_for_10s"]


def test_sent_alert_validates(envelopes: dict[str, dict]) -> None:
    alert = envelopes["call.alert"]
    Draft202012Validator(WEBHOOK_SCHEMA).validate(alert)
    assert alert["data"]["participant"] == {"identity": "cust-9", "role": "customer"}


def test_schema_rejects_what_it_should(envelopes: dict[str, dict]) -> None:
    validator = Draft202012Validator(WEBHOOK_SCHEMA)
    broken = json.loads(json.dumps(envelopes["call.summary"]))
    del broken["data"]["participants"][0]["role"]
    assert not validator.is_valid(broken)
    assert not validator.is_valid({**envelopes["call.alert"], "type": "call.deleted"})
    assert not validator.is_valid(
        {**envelopes["call.alert"], "type": "call.summary"}
    )  # alert data is no summary


@pytest.mark.parametrize("name", ["webhook.example.json", "webhook.alert.example.json"])
def test_published_examples_validate(name: str, envelopes: dict[str, dict]) -> None:
    example = json.loads((ROOT / "docs" / name).read_text())
    Draft202012Validator(WEBHOOK_SCHEMA).validate(example)
    real = envelopes[example["type"]]
    assert set(example["data"]) == set(real["data"])  # the example shows every field really sent
