"""`emotion-bot twilio twiml` and `emotion-bot simulate --twilio` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import soundfile as sf

from bot.cli import main
from tests.twilio.test_stream import ANGRY, HAPPY


def test_twiml_command_prints_a_stream_with_the_caller_number_template(capsys):
    code = main(["twilio", "twiml", "--url", "wss://bot.example.com/twilio/media", "--param", "deal_id=4711"])
    assert code == 0
    root = ET.fromstring(capsys.readouterr().out.split("?>", 1)[1])
    stream = root.find("./Start/Stream")
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params == {"deal_id": "4711", "caller_number": "{{From}}"}
    assert root.find("Dial") is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--url", "ws://bot.example.com/twilio/media"], "wss://"),
        (["--url", "wss://bot.example.com/twilio/media?x=1"], "no query string"),
        (["--url", "wss://h/twilio/media", "--param", "deal=1"], "unknown metadata field"),
        (["--url", "wss://h/twilio/media", "--param", "nokey"], "KEY=VALUE"),
        (["--url", "wss://h/twilio/media", "--param", "crm=[1]"], "'crm' must be a JSON object"),
        (["--url", "wss://h/twilio/media", "--track", "sideways"], "track"),
    ],
)
def test_twiml_command_refuses_what_twilio_or_the_bot_would_refuse(capsys, argv, message):
    assert main(["twilio", "twiml", *argv]) == 2
    assert message in capsys.readouterr().err


def test_simulate_twilio_runs_a_phone_call_through_an_in_process_gateway(tmp_path, emodb_speech):
    from storage import models

    if "twilio" not in models.CALL_SOURCES and not os.environ.get("PYTHONPATH", "").endswith("tw_shim"):
        pytest.skip("storage does not accept source 'twilio' yet (needs the lead's migration)")
    caller, agent = tmp_path / "caller.wav", tmp_path / "agent.wav"
    sf.write(caller, emodb_speech(*ANGRY), 8000)
    sf.write(agent, np.concatenate([np.zeros(8000, np.int16), emodb_speech(*HAPPY)]), 8000)
    env = {**os.environ, "EMOTION_BOT_DB": str(tmp_path / "sim.db")}
    env.pop("EMOTION_BOT_WEBHOOK_URL", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "simulate",
            "--twilio",
            f"{caller},{agent}",
            "--metadata",
            '{"deal_id": "4711"}',
            "--param",
            "caller_number=+4915112345689",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    summary = report["summary"]
    assert summary["source"] == "twilio" and summary["status"] == "finished"
    assert summary["metadata"]["deal_id"] == "4711"
    assert summary["metadata"]["twilio"]["call_sid"] == report["stream"]["call_sid"]
    assert {p["identity"] for p in summary["participants"]} == {"caller", "agent"}
    assert report["stream"]["close_code"] == 1000 and report["stream"]["frames_sent"] == 200 + 250
    assert "4915112345689" not in done.stdout + done.stderr


def test_simulate_twilio_into_a_serve_needs_the_auth_token(tmp_path, monkeypatch, capsys, emodb_speech):
    caller = tmp_path / "caller.wav"
    sf.write(caller, emodb_speech(ANGRY[0]), 8000)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    assert main(["simulate", "--twilio", str(caller), "--url", "ws://127.0.0.1:9/twilio/media"]) == 2
    assert "TWILIO_AUTH_TOKEN" in capsys.readouterr().err


def test_simulate_twilio_reports_an_unreadable_file(tmp_path, capsys):
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"not audio")
    assert main(["simulate", "--twilio", str(bad)]) == 3


def test_serve_refuses_to_start_the_twilio_source_without_the_auth_token(tmp_path):
    env = {**os.environ, "EMOTION_BOT_DB": str(tmp_path / "x.db")}
    env.pop("TWILIO_AUTH_TOKEN", None)
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--source", "twilio"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert "TWILIO_AUTH_TOKEN is not set" in done.stderr
