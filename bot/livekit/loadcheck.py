"""Load check against a real LiveKit server: N camera participants for S seconds, as in production.

    python -m bot.livekit.loadcheck [--participants 8] [--seconds 60] [--width 320 --height 240 --fps 10]

Needs LIVEKIT_URL / LIVEKIT_API_KEY / LIVEKIT_API_SECRET (e.g. inside `lk-netns.sh exec`, see
README "Real-server tests"). Runs the worker (`emotion-bot worker start`, a temporary SQLite
database), `emotion-bot invite` and one publisher process (`python -m bot.livekit.clients`: one real
`rtc.Room` client per participant, the demo face and speech) as separate processes, waits for the
stored summary and prints one JSON object: frames in/sampled/dropped, audio dropped, observations
per participant, sampling back-offs, p95 and max frame-to-database latency (from the worker's
per-call stats line), and `ok`: every participant has face observations, nothing was dropped, the
sampler never backed off and p95 < `--max-p95-s` (default 1.0); `failed` names what did not hold.
Exit code 0 when ok, 1 when not, 2 when the run itself failed. The publishers run on the same
machine: on a small host their VP8 encoding competes with the bot for the CPU.
Run it where no other emotion-bot worker is registered with the server: LiveKit would hand the
call to any worker of the agent name, and this run would wait for it in vain.

The process helpers here (`WorkerProcess`, `invite`, `start_clients`, `wait_for_calls`) are what the
real-server tests use too (tests/livekit/test_livekit_server.py).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REGISTERED = '"registered worker"'  # the SDK's JSON log line once the server accepted the worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def emotion_bot_command() -> list[str]:
    """The installed `emotion-bot` next to this interpreter (else `python -m bot.cli`)."""
    script = Path(sys.executable).with_name("emotion-bot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


class WorkerProcess:
    """`emotion-bot worker start` in its own process group, its output in `log_path`."""

    def __init__(
        self,
        db: str,
        log_path: Path,
        *,
        port: int | None = None,
        grace_s: float = 2.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.db, self.log_path = db, Path(log_path)
        self.port = port or free_port()
        self.grace_s = grace_s
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def start(self) -> WorkerProcess:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*emotion_bot_command(), "worker", "start", "--db", self.db, "--port", str(self.port),
                 "--grace", str(self.grace_s)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        return self

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_registered(self, timeout: float = 60.0) -> None:
        """Until the server registered this run of the worker, plus a moment: a dispatch made in the
        same instant as the registration can miss it (livekit-server caches enabled agents)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if REGISTERED in self.log_text()[self._log_offset :]:
                time.sleep(1.0)
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"worker not registered within {timeout:.0f} s:\n{self.log_text()[-3000:]}")

    def signal(self, signum: int, *, group: bool = False) -> None:
        """`signum` to the worker's main process, or (group) to it and every job process at once."""
        if self.proc is None or self.proc.poll() is not None:
            return
        if group:
            os.killpg(self.proc.pid, signum)
        else:
            self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM and wait (it drains running calls); SIGKILL the whole group if it does not exit."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # job processes left behind, if any
        except (ProcessLookupError, PermissionError):
            pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)


def invite(room: str, metadata: dict[str, Any] | None = None, *, timeout: float = 30.0) -> str:
    """`emotion-bot invite --room ROOM --metadata JSON` as its own process; returns its output."""
    done = subprocess.run(
        [*emotion_bot_command(), "invite", "--room", room, "--metadata", json.dumps(metadata or {})],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"invite failed ({done.returncode}): {done.stdout}{done.stderr}")
    return done.stdout


def start_clients(
    room: str,
    participants: Sequence[tuple[str, Path]],
    *,
    seconds: float,
    log_path: Path,
    sip: dict[str, str] | None = None,
    rejoin: dict[str, tuple[float, float]] | None = None,
) -> subprocess.Popen[bytes]:
    """`python -m bot.livekit.clients` (one process, one rtc.Room per participant); JSON on stdout."""
    args = [sys.executable, "-m", "bot.livekit.clients", "--room", room, "--seconds", str(seconds)]
    for identity, path in participants:
        args += ["--participant", f"{identity}={path}"]
    for identity, phone in (sip or {}).items():
        args += ["--sip", f"{identity}={phone}"]
    for identity, (at, away) in (rejoin or {}).items():
        args += ["--rejoin", f"{identity}={at}:{away}"]
    with open(log_path, "ab") as log:
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)


def finish_clients(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """Wait for a clients process and return its JSON report (SIGKILL on timeout)."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise RuntimeError(f"publishers did not finish within {timeout:.0f} s") from None
    lines = [line for line in out.decode(errors="replace").splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"publishers exited with {proc.returncode} and no report")
    report = json.loads(lines[-1])
    report["returncode"] = proc.returncode
    return report


def wait_for_calls(
    db: str,
    predicate: Callable[[list[Any]], bool],
    *,
    timeout: float,
    what: str = "calls",
) -> list[Any]:
    """Poll the database's calls (storage.models.CallRow) until `predicate(calls)` holds."""
    from sqlalchemy import select

    from storage.db import Database
    from storage.models import CallRow

    database = Database(db)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with database.session() as session:
                calls = list(session.scalars(select(CallRow)))
                session.expunge_all()
            if predicate(calls):
                return calls
            if time.monotonic() > deadline:
                states = [(c.room, c.status) for c in calls]
                raise TimeoutError(f"{what}: not reached within {timeout:.0f} s (calls: {states})")
            time.sleep(0.5)
    finally:
        database.dispose()


def call_stats_lines(log_text: str) -> list[dict[str, Any]]:
    """The worker's per-call stats records (`"call_stats"` in its JSON log lines)."""
    found = []
    for line in log_text.splitlines():
        if '"call_stats"' not in line:
            continue
        try:
            found.append(json.loads(line)["call_stats"])
        except (ValueError, KeyError, TypeError):
            continue
    return found


def run_loadcheck(
    *,
    participants: int,
    seconds: float,
    width: int,
    height: int,
    fps: int,
    workdir: Path,
    max_p95_s: float,
) -> dict[str, Any]:
    from bot.pipeline.demo_media import write_recording

    workdir.mkdir(parents=True, exist_ok=True)
    db = str(workdir / "loadcheck.db")
    video = write_recording(workdir / "camera.mp4", duration_s=4.0, width=width, height=height, fps=fps)
    room = f"loadcheck-{uuid.uuid4().hex[:8]}"
    deal = f"loadcheck-{uuid.uuid4().hex[:6]}"
    worker = WorkerProcess(
        db,
        workdir / "worker.log",
        env={"EMOTION_BOT_WORKER_MAX_CALLS": "1", "EMOTION_BOT_ALERT_RULES": "off"},
    )
    subprocess.run([*emotion_bot_command(), "db", "upgrade", "--db", db], check=True, capture_output=True)
    started = time.monotonic()
    try:
        worker.start().wait_registered()
        invite(room, {"deal_id": deal})
        clients = start_clients(
            room,
            [(f"camera-{i + 1}", video) for i in range(participants)],
            seconds=seconds,
            log_path=workdir / "clients.log",
        )
        published = finish_clients(clients, timeout=seconds + 60)
        calls = wait_for_calls(
            db, lambda cs: any(c.status in ("finished", "partial") for c in cs), timeout=60, what="the call"
        )
        deadline = time.monotonic() + 10
        while not (stats := call_stats_lines(worker.log_text())) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.stop()
    if not stats:
        raise RuntimeError("the worker logged no call stats")
    call = stats[-1]
    per = call["participants"]
    result = {
        "participants": participants,
        "seconds": seconds,
        "video": f"{width}x{height}@{fps}",
        "call_status": calls[0].status,
        "published": published["participants"],
        "frames_in": call["frames_in"],
        "frames_sampled": call["frames_sampled"],
        "frames_dropped": call["frames_dropped"],
        "audio_dropped_s": call["audio_dropped_s"],
        "writer_dropped": call["writer_dropped"],
        "faces_per_participant": sorted(p["faces"] for p in per),
        "video_fps_per_participant": sorted(p["video_fps"] for p in per),
        "backoffs": sum(p["backoffs"] or 0 for p in per),
        "p95_frame_to_db_s": call["p95_frame_to_db_s"],
        "max_frame_to_db_s": call["max_frame_to_db_s"],
        "max_p95_s": max_p95_s,
        "wall_s": round(time.monotonic() - started, 1),
    }
    # The bench's criteria (README "Pipeline"): no drops, no back-off, p95 under the threshold.
    checks = {
        "every participant analysed": len(per) == participants and all(p["faces"] > 0 for p in per),
        "no frame dropped": call["frames_dropped"] == 0,
        "no audio dropped": not call["audio_dropped_s"],
        "nothing dropped by the writer": not call["writer_dropped"],
        "no sampling back-off": result["backoffs"] == 0,
        f"p95 frame-to-database < {max_p95_s:g} s": call["p95_frame_to_db_s"] is not None
        and call["p95_frame_to_db_s"] < max_p95_s,
    }
    result["failed"] = [name for name, passed in checks.items() if not passed]
    result["ok"] = not result["failed"]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.livekit.loadcheck", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--participants", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--max-p95-s", type=float, default=1.0)
    parser.add_argument("--workdir", type=Path, help="keep the database and logs here (default: a temp dir)")
    args = parser.parse_args(argv)
    if not os.environ.get("LIVEKIT_URL"):
        print("loadcheck: set LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="emotion-bot-loadcheck-") as tmp:
        try:
            result = run_loadcheck(
                participants=args.participants,
                seconds=args.seconds,
                width=args.width,
                height=args.height,
                fps=args.fps,
                workdir=args.workdir or Path(tmp),
                max_p95_s=args.max_p95_s,
            )
        except (RuntimeError, TimeoutError, subprocess.SubprocessError, OSError) as exc:
            print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"[-4000:]}), flush=True)
            return 2
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
