"""`emotion-bot export`: the stored timeline as long-format CSV and as JSON."""

from __future__ import annotations

import csv
import json

import pytest

from bot.cli import main
from bot.summary import finalize_call
from storage.models import PROBABILITY_COLUMNS
from tests.summary.synthetic import ENDED_AT, populate_call


@pytest.fixture
def call_id(db) -> str:
    return populate_call(db)


def db_arg(db) -> str:
    return db.url.render_as_string(hide_password=False)


def test_csv_long_format(db, call_id, tmp_path):
    out = tmp_path / "timeline.csv"
    assert main(["export", "--call", call_id, "--db", db_arg(db), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert {"kind", "participant_identity", "valence", "arousal", *PROBABILITY_COLUMNS} <= set(rows[0])
    kinds = {(r["participant_identity"], r["kind"]) for r in rows}
    assert kinds == {("alice", "face"), ("alice", "voice"), ("alice", "fused"), ("bob", "voice")}
    assert len(rows) == 80 + 3 + 120 + 5  # carol opted out: none of hers
    assert {r["call_id"] for r in rows} == {call_id}
    alice = [r for r in rows if r["participant_identity"] == "alice"]
    assert [float(r["t_start"]) for r in alice] == sorted(float(r["t_start"]) for r in alice)
    angry = next(r for r in alice if r["kind"] == "fused" and float(r["t_start"]) == 27.0)
    assert (angry["top_label"], float(angry["p_angry"])) == ("angry", 0.9)
    assert float(angry["valence"]) < 0 < float(angry["arousal"])
    face = next(r for r in alice if r["kind"] == "face")
    assert float(face["face_size"]) == 120.0 and face["speech_level_db"] == ""


def test_json_nests_timelines_and_carries_the_summary(db, call_id, tmp_path, capsys):
    summary = finalize_call(db, call_id, ended_at=ENDED_AT)
    out = tmp_path / "call.json"
    assert (
        main(["export", "--call", call_id, "--db", db_arg(db), "--out", str(out)]) == 0
    )  # format from suffix
    payload = json.loads(out.read_text())
    assert payload["call_id"] == call_id and payload["status"] == "finished"
    people = {p["identity"]: p for p in payload["participants"]}
    assert (len(people["alice"]["face"]), len(people["alice"]["voice"]), len(people["alice"]["fused"])) == (
        80,
        3,
        120,
    )
    assert people["carol"]["analysed"] is False and people["carol"]["face"] == []
    assert payload["summary"]["call_id"] == call_id
    assert payload["summary"]["overall"] == json.loads(json.dumps(summary["overall"]))
    assert main(["export", "--call", call_id, "--db", db_arg(db), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["call_id"] == call_id


def test_unknown_call_is_a_clear_error_and_leaves_no_file(db, tmp_path, capsys):
    out = tmp_path / "x.csv"
    assert main(["export", "--call", "nope", "--db", db_arg(db), "--out", str(out)]) == 2
    assert "no call 'nope'" in capsys.readouterr().err
    assert not out.exists()
