"""Summary correctness on a synthetic call with known answers (see tests/summary/synthetic.py)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from bot.summary import build_summary, finalize_call, format_summary_text
from bot.summary.analysis import SummaryOptions, Timeline, face_seconds, merge_intervals, valence_stats
from storage import repository
from storage.records import FusedPoint, Observation
from tests.summary.synthetic import ENDED_AT, METADATA, STARTED_AT, populate_call, probs

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "bot" / "schemas" / "summary.schema.json").read_text())


def validate(summary: dict) -> None:
    jsonschema.validate(summary, SCHEMA, format_checker=jsonschema.FormatChecker())


@pytest.fixture
def call_id(db) -> str:
    return populate_call(db)


def by_identity(summary: dict) -> dict[str, dict]:
    return {p["identity"]: p for p in summary["participants"]}


def test_call_fields_and_schema(db, call_id):
    summary = build_summary(db, call_id, ended_at=ENDED_AT)
    validate(summary)
    assert summary["version"] == "1.0"
    assert (summary["call_id"], summary["room"], summary["source"]) == (call_id, "sales-room", "simulated")
    assert (summary["status"], summary["partial"]) == ("finished", False)
    assert summary["metadata"] == METADATA
    assert summary["started_at"] == STARTED_AT.isoformat() and summary["duration_s"] == 60.0


def test_shares_dominant_and_trend_of_the_video_participant(db, call_id):
    alice = by_identity(build_summary(db, call_id, ended_at=ENDED_AT))["alice"]
    fused = alice["emotion_shares"]["fused"]
    # 0.5 s points: happy 20 s, angry 9 s, neutral 1 + 28.5 s, sad 1.5 s, over 60 s.
    assert fused["happy"] == pytest.approx(20 / 60, abs=1e-3)
    assert fused["angry"] == pytest.approx(9 / 60, abs=1e-3)
    assert fused["sad"] == pytest.approx(1.5 / 60, abs=1e-3)
    assert fused["neutral"] == pytest.approx(29.5 / 60, abs=1e-3)
    assert sum(fused.values()) == pytest.approx(1.0, abs=1e-3)
    assert alice["dominant_emotion"] == {
        "face": "happy",
        "voice": "neutral",
        "fused": "neutral",
        "overall": "neutral",
    }
    assert alice["emotion_shares"]["face"]["happy"] == 0.5  # 40 of 80 face samples
    assert alice["valence"]["trend"] == "falling" and alice["valence"]["trend_per_min"] < 0
    # face seen 0-40 s of 60 s present: samples 0.5 s apart bridge into one 39.5 s span
    assert alice["analysed_seconds"] == {"face": 39.5, "voice": 12.0}
    assert alice["face_coverage"] == pytest.approx(39.5 / 60, abs=1e-3)


def test_injected_angry_episode_is_found_with_its_bounds(db, call_id):
    summary = build_summary(db, call_id, ended_at=ENDED_AT)
    episodes = by_identity(summary)["alice"]["negative_episodes"]
    assert len(episodes) == 1  # the 1.5 s sad blip is too short
    episode = episodes[0]
    assert episode["label"] == "angry"
    assert (episode["start_s"], episode["end_s"]) == (20.0, 30.0)  # the neutral second at 24 s is bridged
    assert (episode["peak"], episode["peak_s"]) == (0.9, 27.0)
    assert summary["overall"]["negative_episodes"] == episodes


def test_phone_caller_and_opted_out_participant(db, call_id):
    summary = build_summary(db, call_id, ended_at=ENDED_AT)
    people = by_identity(summary)
    bob = people["bob"]
    assert (bob["kind"], bob["role"], bob["phone_number"]) == ("sip", "customer", "+48*****789")
    assert bob["analysed_seconds"] == {"face": 0.0, "voice": 10.0}
    assert bob["face_coverage"] == 0.0 and bob["present_seconds"] == 50.0
    assert bob["dominant_emotion"]["overall"] == "sad"
    carol = people["carol"]
    assert carol["analysed"] is False and carol["emotion_shares"]["face"] is None
    assert summary["not_analysed"] == [
        {"identity": "carol", "display_name": "Carol", "reason": "opted out in chat"}
    ]
    overall = summary["overall"]
    assert overall["analysed_seconds"] == {"face": 39.5, "voice": 22.0}  # alice + bob
    assert overall["observation_counts"] == {"face": 80, "voice": 8, "fused": 120}  # carol's rows deleted


def test_partial_summary_ends_at_the_last_stored_activity(db, call_id):
    summary = build_summary(db, call_id, partial=True)
    validate(summary)
    assert (summary["status"], summary["partial"]) == ("partial", True)
    assert summary["ended_at"] == (STARTED_AT + timedelta(seconds=59.5)).isoformat()  # last fused point
    assert "PARTIAL" in format_summary_text(summary)


def test_finalize_call_stores_the_summary_and_closes_the_call(db, call_id):
    seen = []
    summary = finalize_call(
        db, call_id, ended_at=ENDED_AT, extra=lambda session, s: seen.append(s["call_id"])
    )
    assert seen == [call_id]
    assert repository.find_unfinished_calls(db) == []
    assert repository.latest_summary(db, call_id) == json.loads(json.dumps(summary))
    again = build_summary(db, call_id)  # a later rebuild keeps the stored end and status
    assert (again["status"], again["ended_at"]) == ("finished", ENDED_AT.isoformat())


def test_text_rendering_names_the_findings(db, call_id):
    text = format_summary_text(build_summary(db, call_id, ended_at=ENDED_AT))
    assert "room sales-room" in text and "deal_id=D-42" in text
    assert "! angry 0:20-0:30 (peak 90% at 0:27, alice)" in text
    assert "not analysed: opted out in chat" in text
    assert "Bob (phone) [bob] (sip, customer, +48*****789)" in text


def test_empty_call_is_a_valid_summary(db):
    call_id = repository.create_call(db, room="empty", source="livekit", started_at=STARTED_AT)
    summary = build_summary(db, call_id, ended_at=ENDED_AT)
    validate(summary)
    assert summary["participants"] == [] and summary["overall"]["dominant_emotion"]["overall"] is None
    assert "whole call" in format_summary_text(summary)


def test_example_document_matches_the_schema_and_the_schema_is_strict():
    example = json.loads((ROOT / "docs" / "summary.example.json").read_text())
    validate(example)
    broken = json.loads(json.dumps(example))
    broken["participants"][0]["emotion_shares"]["fused"]["angry"] = 1.5
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)
    del example["call_id"]
    with pytest.raises(jsonschema.ValidationError):
        validate(example)


def test_merge_intervals_bridges_small_gaps_only():
    assert merge_intervals([(5, 6), (0, 1), (1.5, 2)], max_gap=0.5) == [(0, 2), (5, 6)]
    assert merge_intervals([(0, 1), (1.5, 2)]) == [(0, 1), (1.5, 2)]


def test_valence_trend_sign_follows_the_data():
    options = SummaryOptions()

    def trend(labels: list[str]) -> dict:
        points = [
            FusedPoint("x", i * 1.0, probs(label, 0.8), label, v, 0.0) for i, (label, v) in enumerate(labels)
        ]
        return valence_stats(Timeline.of([], points, options), options)

    rising = trend([("sad", -0.5 + i / 60) for i in range(60)])
    assert rising["trend"] == "rising" and rising["trend_per_min"] == pytest.approx(1.0, abs=1e-3)
    flat = trend([("neutral", 0.1 * float(np.sin(i))) for i in range(60)])
    assert flat["trend"] == "flat"
    assert trend([("happy", 0.5)] * 5)["trend"] is None  # 5 s is too short for a trend


def test_face_coverage_follows_a_slower_sampling_rate():
    options = SummaryOptions()
    slow = [
        Observation("x", "face", t, t, probs("happy", 0.8), "happy", 0.8) for t in range(0, 40, 4)
    ]  # 0.25 fps
    assert face_seconds(slow, options) == 36.0
    # at 2 fps, a 3 s hole without a face is not coverage
    fast = [
        Observation("x", "face", t / 2, t / 2, probs("happy", 0.8), "happy", 0.8)
        for t in (*range(0, 10), *range(16, 20))
    ]
    assert face_seconds(fast, options) == pytest.approx(4.5 + 1.5)


async def test_recording_analysed_faster_than_real_time_keeps_media_presence(db):
    """A 60 s file analysed in 10 s of wall-clock time: presence follows the media, not the clock."""
    from storage.writer import ObservationWriter

    call_id = repository.create_call(db, room="file", source="file", started_at=STARTED_AT)
    repository.upsert_participant(db, call_id, "speaker", joined_at=STARTED_AT)
    repository.mark_participant_left(db, call_id, "speaker", STARTED_AT + timedelta(seconds=10))
    writer = ObservationWriter(db, call_id)
    writer.start()
    for i in range(121):
        writer.submit_observation(
            Observation("speaker", "face", i / 2, i / 2, probs("happy", 0.8), "happy", 0.8)
        )
    await writer.aclose()
    speaker = build_summary(db, call_id, ended_at=STARTED_AT + timedelta(seconds=60))["participants"][0]
    assert speaker["present_seconds"] == 60.0 and speaker["face_coverage"] == 1.0
