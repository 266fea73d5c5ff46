"""`emotion-bot simulate --zoom PARTICIPANT=FILE ...`: a Zoom meeting run locally through `serve`.

A gateway with the Zoom source is started in this process on a free 127.0.0.1 port (the real aiohttp
server, the real models and database), the fake RTMS server (`fake.py`) streams each participant's
file, and a signed `meeting.rtms_started` webhook is posted to the gateway over HTTP, as Zoom would.
At the end of the files (or --duration) the fake ends the stream and `meeting.rtms_stopped` follows;
the stored summary is printed. Credentials are random per run: nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.zoom.config import ZoomCredentials, ZoomOptions
from bot.zoom.fake import FakeMeeting, FakeParticipant, FakeRtmsServer, signed_headers
from bot.zoom.fake_media import MediaFileError, ParticipantMedia, load_participant_media
from bot.zoom.source import ROUTE, ZoomSource

EXIT_USAGE, EXIT_UNREADABLE, EXIT_MODELS = 2, 3, 5
FIRST_USER_ID = 16778240  # Zoom's user ids look like this; each next participant + 1024

Fail = Callable[[int, str], int]


@dataclass
class MeetingResult:
    summary: dict[str, Any] | None
    stats: dict[str, Any]


def parse_specs(specs: Sequence[str]) -> list[tuple[str, str]]:
    pairs = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ValueError(f"--zoom {spec!r}: expected PARTICIPANT=FILE")
        pairs.append((name.strip(), path.strip()))
    return pairs


def fake_participants(media: Sequence[tuple[str, ParticipantMedia]]) -> list[FakeParticipant]:
    return [
        FakeParticipant(FIRST_USER_ID + 1024 * i, name, m.audio, m.frames, camera_on=bool(m.frames))
        for i, (name, m) in enumerate(media)
    ]


async def simulate_meeting(
    participants: list[FakeParticipant],
    *,
    models: Any,
    database: Any,
    duration_s: float,
    options: ZoomOptions | None = None,
    webhook_url: str | None = None,
    speaker_turn_s: float = 3.0,
    on_started: Callable[[ZoomSource, FakeRtmsServer], None] | None = None,
) -> MeetingResult:
    """Run one meeting through an in-process gateway; the summary and the run's stats."""
    from bot.gateway.server import GatewayContext, run_gateway

    credentials = ZoomCredentials(secrets.token_hex(8), secrets.token_hex(16), secrets.token_hex(16))
    ctx = GatewayContext(models=models, database=database, webhook_url=webhook_url)
    source = ZoomSource(ctx, credentials, options or ZoomOptions())
    meeting = FakeMeeting(
        meeting_uuid=f"{uuid.uuid4().hex[:22]}==",
        rtms_stream_id=uuid.uuid4().hex,
        participants=participants,
        speaker_turn_s=speaker_turn_s,
        duration_s=duration_s,
    )
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    gateway = asyncio.create_task(
        run_gateway(ctx, [source], host="127.0.0.1", port=0, stop=stop, on_ready=ready.set_result)
    )
    try:
        url = f"http://127.0.0.1:{await ready}{ROUTE}"
        async with (
            FakeRtmsServer(credentials.client_id, credentials.client_secret, meeting) as fake,
            aiohttp.ClientSession() as http,
        ):
            started_at = time.monotonic()
            await _post(http, url, credentials.secret_token, fake.webhook_started(nested=True))
            if on_started is not None:
                on_started(source, fake)
            await fake.stopped.wait()
            await _post(http, url, credentials.secret_token, fake.webhook_stopped(6))
            await source.wait_idle()
            sent = dict(fake.stats.sent)
    finally:
        stop.set()
        await gateway
    stream = source.finished[-1] if source.finished else None
    session_stats = stream.runner.session.stats if stream and stream.runner else {}
    stats = {
        "call_id": session_stats.get("call_id"),
        "wall_s": round(time.monotonic() - started_at, 1),
        "sent_by_fake": sent,
        "input": dict(stream.counters) if stream else {},  # packets, frames and what was skipped
        "session": session_stats,
    }
    return MeetingResult(stream.summary if stream else None, stats)


async def _post(http: aiohttp.ClientSession, url: str, token: str, body: bytes) -> None:
    async with http.post(url, data=body, headers=signed_headers(token, body)) as response:
        if response.status != 200:
            raise RuntimeError(f"the gateway answered {response.status} to a webhook")


def run_command(args: argparse.Namespace, fail: Fail) -> int:
    from bot.commands.media_common import open_ready_database
    from bot.config import load_config

    try:
        specs = parse_specs(args.zoom)
        media = [(name, load_participant_media(path)) for name, path in specs]
    except ValueError as exc:
        return fail(EXIT_UNREADABLE if isinstance(exc, MediaFileError) else EXIT_USAGE, str(exc))
    longest = max((len(m.audio) / 16_000 for _, m in media if m.audio is not None), default=30.0)
    duration = args.duration or longest
    database = open_ready_database(args.db, fail)
    if isinstance(database, int):
        return database
    try:
        from bot.livekit.worker import load_process_models

        models = load_process_models()
    except (OSError, ValueError, RuntimeError) as exc:
        return fail(EXIT_MODELS, f"cannot load the models: {exc}")
    try:
        result = asyncio.run(
            simulate_meeting(
                fake_participants(media),
                models=models,
                database=database,
                duration_s=duration,
                webhook_url=load_config().webhook_url,
            )
        )
    finally:
        models.close()
        database.dispose()
    if args.json:
        print(json.dumps({"summary": result.summary, "stats": result.stats}, default=str))
    elif result.summary is not None:
        from bot.summary import format_summary_text

        print(format_summary_text(result.summary))
        with contextlib.suppress(KeyError):
            print(f"input: {result.stats['input']}")
    return 0 if result.summary is not None else 7
