"""`emotion-bot analyze` end to end: real files, real models, real SQLite, a real local webhook receiver."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import standardwebhooks
from sqlalchemy import func, select

from bot.cli import main
from bot.commands.media_common import EXIT_NOTHING_FOUND, EXIT_UNREADABLE, EXIT_WEBHOOK
from bot.delivery.signing import generate_secret
from storage.db import Database
from storage.models import CallRow, ObservationRow, ParticipantRow


def rows(db_path, table, **where) -> int:
    database = Database(str(db_path))
    query = select(func.count()).select_from(table)
    for name, value in where.items():
        query = query.where(getattr(table, name) == value)
    try:
        with database.session() as s:
            return s.scalar(query)
    finally:
        database.dispose()


def analyze(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(["analyze", *map(str, args), "--no-progress"])
    return code, capsys.readouterr().out.strip().splitlines()


def test_video_with_audio_is_stored_and_summarised(call_mp4, tmp_path, capsys):
    db = tmp_path / "calls.db"
    code, out = analyze(capsys, call_mp4, "--db", db, "--participant", "Eileen", "--json")
    assert code == 0
    summary = json.loads(out[-1])
    assert summary["source"] == "file" and summary["status"] == "finished"
    assert [p["identity"] for p in summary["participants"]] == ["Eileen"]
    assert summary["duration_s"] == pytest.approx(8.0, abs=0.2)
    assert any(line.startswith("Eileen") for line in out)  # the readable summary came first
    assert rows(db, CallRow, source="file", status="finished") == 1
    assert rows(db, ParticipantRow) == 1
    assert (
        rows(db, ObservationRow, modality="face")
        == summary["participants"][0]["observation_counts"]["face"]
        >= 15
    )
    assert rows(db, ObservationRow, modality="voice") >= 1


def test_audio_only_file(speech_wav, tmp_path, capsys):
    code, out = analyze(capsys, speech_wav, "--db", tmp_path / "a.db", "--json")
    assert code == 0
    assert "note: no video stream: voice only" in out
    counts = json.loads(out[-1])["participants"][0]["observation_counts"]
    assert counts["face"] == 0 and counts["voice"] >= 1


def test_video_without_face_or_audio_says_so(silent_video_mp4, tmp_path, capsys):
    db = tmp_path / "v.db"
    code, out = analyze(capsys, silent_video_mp4, "--db", db)
    assert code == EXIT_NOTHING_FOUND
    assert "note: no face found in 6 sampled frames" in out
    assert "note: no audio stream: face only" in out
    assert rows(db, CallRow) == 1 and rows(db, ObservationRow) == 0


def test_silence_is_reported(media_dir, tmp_path, capsys):
    from bot.pipeline.demo_media import write_recording

    quiet = write_recording(media_dir / "quiet.mp4", duration_s=3.0, with_speech=False)
    code, out = analyze(capsys, quiet, "--db", tmp_path / "q.db")
    assert code == 0
    assert any(line.startswith("note: no speech found in 3.") for line in out)


@pytest.mark.parametrize("content", [b"", b"\x00\x01garbage" * 5000, b"just some text\n" * 50])
def test_unreadable_file_leaves_no_call_rows(content, database, tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(content)
    db_path = database.url.database
    code = main(["analyze", str(bad), "--db", db_path])
    captured = capsys.readouterr()
    assert code == EXIT_UNREADABLE
    assert "broken.mp4" in captured.err and "nothing was stored" in captured.err
    assert rows(db_path, CallRow) == 0


def test_truncated_file_leaves_no_call_rows(call_mp4, database, tmp_path, capsys):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(call_mp4.read_bytes()[:20_000])
    assert main(["analyze", str(cut), "--db", database.url.database]) == EXIT_UNREADABLE
    assert rows(database.url.database, CallRow) == 0


def test_too_long_file_is_refused_before_anything_is_stored(call_mp4, database, capsys):
    code = main(["analyze", str(call_mp4), "--db", database.url.database, "--max-duration", "5"])
    assert code == EXIT_UNREADABLE
    assert "--max-duration" in capsys.readouterr().err
    assert rows(database.url.database, CallRow) == 0


class Receiver:
    """A real HTTP endpoint on 127.0.0.1 that records what it is sent."""

    def __init__(self, status: int = 200) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/emotion"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_webhook_is_posted_and_signed(call_mp4, tmp_path, capsys, monkeypatch, receiver):
    secret = generate_secret()
    monkeypatch.setenv("EMOTION_BOT_WEBHOOK_SECRET", secret)
    monkeypatch.delenv("EMOTION_BOT_WEBHOOK_SECRET_PREVIOUS", raising=False)
    code, out = analyze(capsys, call_mp4, "--db", tmp_path / "w.db", "--webhook", receiver.url, "--json")
    assert code == 0
    assert any(line.startswith("webhook delivered") for line in out)
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    assert headers["webhook-signature"].startswith("v1,")
    payload = standardwebhooks.Webhook(secret).verify(body, headers)  # independent verifier
    assert payload["type"] == "call.summary"
    assert payload["data"]["call_id"] == json.loads(out[-1])["call_id"]


def test_webhook_failure_is_reported_and_kept(speech_wav, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EMOTION_BOT_WEBHOOK_SECRET", generate_secret())
    failing = Receiver(status=503)
    try:
        code, out = analyze(capsys, speech_wav, "--db", tmp_path / "f.db", "--webhook", failing.url)
    finally:
        failing.close()
    assert code == EXIT_WEBHOOK
    assert any("webhook NOT delivered" in line and "503" in line for line in out)


def test_webhook_without_secret_is_refused_up_front(call_mp4, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EMOTION_BOT_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("EMOTION_BOT_WEBHOOK_SECRET_PREVIOUS", raising=False)
    code = main(
        ["analyze", str(call_mp4), "--db", str(tmp_path / "n.db"), "--webhook", "http://127.0.0.1:9/x"]
    )
    assert code == 2
    assert "EMOTION_BOT_WEBHOOK_SECRET" in capsys.readouterr().err
    assert not (tmp_path / "n.db").exists()


def test_partly_damaged_file_is_analysed_and_the_loss_reported(media_dir, tmp_path, capsys):
    from bot.pipeline.demo_media import write_recording

    full = write_recording(media_dir / "to_damage.mkv", duration_s=6.0, fps=10, width=320, height=240)
    data = bytearray(full.read_bytes())
    middle, width = len(data) // 2, len(data) // 6  # a sixth of the file overwritten with noise
    data[middle : middle + width] = np.random.default_rng(1).integers(0, 256, width, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mkv"
    damaged.write_bytes(bytes(data))
    code, out = analyze(capsys, damaged, "--db", tmp_path / "d.db", "--json")
    assert code == 0
    assert any(line.startswith("note: only ") and "could be decoded" in line for line in out)
    assert json.loads(out[-1])["participants"][0]["observation_counts"]["face"] >= 3


def test_cut_off_file_is_analysed_up_to_the_cut(media_dir, tmp_path, capsys):
    from bot.pipeline.demo_media import write_recording

    full = write_recording(media_dir / "to_cut.mkv", duration_s=6.0, fps=10, width=320, height=240)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(full.read_bytes()[: int(full.stat().st_size * 0.6)])
    code, out = analyze(capsys, cut, "--db", tmp_path / "c.db")
    assert code == 0
    assert any(line.startswith("note: the media ends at") and "truncated" in line for line in out)
