"""Load check: N concurrent two-track Twilio calls into one real `emotion-bot serve` process.

    python -m bot.twilio.loadcheck --calls 40 --seconds 60 --json

`serve --source twilio` runs as its own process (temporary SQLite database, random auth token);
this process plays Twilio: N signed streams, each with a caller and an agent track of speech (the
shipped demo speech by default, the agent's half a clip out of phase with the caller's; they take
--turn-s turns, silence on one track while the other speaks; --turn-s 0: both talk at once), 20 ms
mu-law frames at real pace, calls starting spread over --ramp-s. Printed (one JSON object):

- `segment_to_db_s`: per stored voice observation, `created_at` minus the wall time its segment
  ended (`calls.started_at + t_end`): when the speech stopped until it was in the database. p50/p95/max.
- `dropped`: audio the analysers dropped (their bounded queues), frames placed late or skipped,
  counted by serve (`/healthz`), and the sender's worst lateness (a client behind pace invalidates
  the run).
- `rss_mb`: serve's resident memory sampled every --sample-s, `cpu`: its CPU time over the steady
  part (all calls running) as % of one core, in total and per call.

A benchmark, not a test: the numbers depend on the machine; nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bot.twilio.client import StreamResult, load_phone_audio, stream_call
from bot.twilio.source import AUTH_TOKEN_ENV, ROUTE

DEMO_SPEECH = Path(__file__).resolve().parents[1] / "assets" / "demo" / "speech.ogg"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_s(stat_path: str) -> float:
    fields = Path(stat_path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _proc_sample(pid: int) -> tuple[float, float, float]:
    """(cpu seconds, main-thread cpu seconds, rss MB) of a process from /proc. The main thread runs
    the event loop (aiohttp, the Twilio adapter, the pipeline's glue); the rest is the VAD and model
    threads, onnxruntime's pools and the database writer."""
    rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return (
        _cpu_s(f"/proc/{pid}/stat"),
        _cpu_s(f"/proc/{pid}/task/{pid}/stat"),
        rss_pages * os.sysconf("SC_PAGE_SIZE") / 2**20,
    )


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    arr = np.asarray(values)
    return {
        "n": int(arr.size),
        "p50": round(float(np.percentile(arr, 50)), 3),
        "p95": round(float(np.percentile(arr, 95)), 3),
        "max": round(float(arr.max()), 3),
    }


class Sampler:
    def __init__(self, pid: int, every_s: float) -> None:
        self.pid, self.every_s = pid, every_s
        self.samples: list[tuple[float, float, float, float]] = []  # (t, cpu_s, loop_cpu_s, rss_mb)
        self._t0 = time.monotonic()

    def sample(self) -> tuple[float, float, float, float]:
        cpu, loop_cpu, rss = _proc_sample(self.pid)
        row = (round(time.monotonic() - self._t0, 1), cpu, loop_cpu, round(rss, 1))
        self.samples.append(row)
        return row

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.sample()
            try:
                await asyncio.wait_for(stop.wait(), self.every_s)
            except TimeoutError:
                pass


async def _wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited with {proc.returncode}")
            try:
                if (await client.get(base + "/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError("serve did not become healthy")


async def _health(base: str) -> dict[str, Any]:
    """serve's Twilio counters, with the inference engine's batching stats under `engine`."""
    async with httpx.AsyncClient() as client:
        body = (await client.get(base + "/healthz")).json()
    return {**body["sources"]["twilio"], "engine": body.get("engine", {})}


def _tracks(audio: list[Path], seconds: float, turn_s: float) -> dict[str, np.ndarray]:
    """Caller and agent speech; with turn_s > 0 they take turns (silence while the other speaks),
    as on a phone call; turn_s = 0: both talk all the time (twice the speech a call really has)."""
    caller = load_phone_audio(audio[0])
    agent = load_phone_audio(audio[1]) if len(audio) > 1 else np.roll(caller, len(caller) // 2)
    n = int(seconds * 8000)
    caller, agent = np.resize(caller, n), np.resize(agent, n)
    if turn_s > 0:
        caller_turn = (np.arange(n) // int(turn_s * 8000)) % 2 == 0
        caller, agent = np.where(caller_turn, caller, 0), np.where(caller_turn, 0, agent)
    return {"inbound": caller.astype(np.int16), "outbound": agent.astype(np.int16)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="twilio-loadcheck-"))
    token = secrets.token_hex(16)
    port = _free_port()
    env = {
        **os.environ,
        "EMOTION_BOT_DB": str(workdir / "load.db"),
        AUTH_TOKEN_ENV: token,
    }
    env.pop("EMOTION_BOT_WEBHOOK_URL", None)
    log = (workdir / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--source", "twilio", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_healthy(base, proc)
        tracks = _tracks(args.audio, args.seconds, args.turn_s)
        sampler = Sampler(proc.pid, args.sample_s)
        idle = sampler.sample()
        stop_sampling = asyncio.Event()
        sampling = asyncio.create_task(sampler.run(stop_sampling))

        async def one_call(index: int) -> StreamResult:
            await asyncio.sleep(args.ramp_s * index / max(1, args.calls))
            return await stream_call(
                f"ws://127.0.0.1:{port}{ROUTE}",
                token,
                tracks,
                params={"deal_id": f"load-{index}", "caller_number": f"+49151{index:08d}"},
            )

        started = time.monotonic()
        calls = [asyncio.create_task(one_call(i)) for i in range(args.calls)]
        # Steady window: every call running (after the ramp) until the first one ends.
        await asyncio.sleep(args.ramp_s + 1.0)
        steady_start = sampler.sample()
        await asyncio.sleep(max(0.0, args.seconds - args.ramp_s - 2.0))
        steady_end = sampler.sample()
        results = await asyncio.gather(*calls, return_exceptions=True)
        streamed_s = time.monotonic() - started
        deadline = time.monotonic() + 300
        while True:
            health = await _health(base)
            if health.get("calls_finished", 0) >= args.calls and not health["active_streams"]:
                break
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        finish_s = time.monotonic() - started - streamed_s
        stop_sampling.set()
        await sampling
        end = sampler.sample()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=150)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    failures = [repr(r) for r in results if isinstance(r, BaseException)]
    ok = [r for r in results if isinstance(r, StreamResult)]
    window_s = steady_end[0] - steady_start[0]
    cpu_pct = 100.0 * (steady_end[1] - steady_start[1]) / window_s if window_s > 0 else None
    loop_pct = 100.0 * (steady_end[2] - steady_start[2]) / window_s if window_s > 0 else None
    db = _from_database(workdir / "load.db")
    rss = [s[3] for s in sampler.samples]
    return {
        "calls": args.calls,
        "seconds": args.seconds,
        "tracks_per_call": 2,
        "turn_s": args.turn_s,
        "streams_ok": sum(1 for r in ok if r.close_code == 1000),
        "stream_failures": failures[:5],
        "segment_to_db_s": db["latency"],
        "summaries": db["summaries"],
        "voice_observations": db["observations"],
        "dropped": {
            "audio_dropped_s": round(health.get("audio_dropped_ms", 0) / 1000, 3),
            "late_frames": health.get("late_frames", 0),
            "gaps": health.get("gaps", 0),
            "skipped": {k: v for k, v in health.items() if k.startswith(("skipped:", "closed:", "refused:"))},
            "sender_max_late_s": round(max((r.late_s for r in ok), default=0.0), 3),
        },
        "rss_mb": {
            "after_models": idle[3],
            "steady_start": steady_start[3],
            "steady_end": steady_end[3],
            "end": end[3],
            "max": max(rss),
            "samples": [[t, r] for t, _, _, r in sampler.samples],
        },
        "cpu": {
            "steady_window_s": round(window_s, 1),
            "serve_percent_of_one_core": round(cpu_pct, 1) if cpu_pct is not None else None,
            "per_call_percent_of_one_core": round(cpu_pct / args.calls, 2) if cpu_pct is not None else None,
            "event_loop_thread_percent": round(loop_pct, 1) if loop_pct is not None else None,
            "cores": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        "engine": health.get("engine", {}),
        "finish_after_stop_s": round(finish_s, 1),
        "serve_log": str(workdir / "serve.log"),
    }


def _from_database(path: Path) -> dict[str, Any]:
    import sqlite3
    from datetime import datetime

    def parse(value: str) -> float:
        return datetime.fromisoformat(value).timestamp()

    with sqlite3.connect(path) as db:
        rows = db.execute(
            "select c.started_at, o.t_end, o.created_at from observations o join calls c on c.id = o.call_id "
            "where o.modality = 'voice'"
        ).fetchall()
        statuses = dict(db.execute("select status, count(*) from calls group by status").fetchall())
        per_participant = [
            n for (n,) in db.execute("select count(*) from observations group by participant_id").fetchall()
        ]
        participants = db.execute("select count(*) from participants").fetchone()[0]
    latencies = [parse(created) - (parse(started) + t_end) for started, t_end, created in rows]
    return {
        "latency": _percentiles(latencies),
        "summaries": statuses,
        "observations": {
            "participants": participants,
            "with_observations": len(per_participant),
            "min_per_participant": min(per_participant, default=0),
            "total": len(rows),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.twilio.loadcheck", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each call")
    parser.add_argument("--ramp-s", type=float, default=5.0, help="calls start spread over this long")
    parser.add_argument(
        "--turn-s",
        type=float,
        default=5.0,
        help="caller and agent take turns this long (0: both talk at once)",
    )
    parser.add_argument("--sample-s", type=float, default=5.0, help="RSS/CPU sampling interval")
    parser.add_argument(
        "--audio",
        type=Path,
        nargs="+",
        default=[DEMO_SPEECH],
        help="caller [agent] speech files (default: the shipped demo speech)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object (default: indented)")
    args = parser.parse_args(argv)
    if args.seconds <= args.ramp_s + 2:
        parser.error("--seconds must exceed --ramp-s + 2")
    report = asyncio.run(run(args))
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
