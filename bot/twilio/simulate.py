"""`emotion-bot simulate --twilio CALLER[,AGENT]`: a phone call as Twilio would stream it, no Twilio needed.

The files are decoded, resampled to 8 kHz and sent by `client.stream_call` exactly as Twilio sends a
Media Stream: a signed WebSocket upgrade, `connected`, `start` (both tracks, the --metadata fields
and --param values as customParameters), 20 ms mu-law `media` frames at real pace, `stop`.

- `--url ws://HOST:PORT/twilio/media`: into a running `emotion-bot serve` (signed with the same
  TWILIO_AUTH_TOKEN); the summary goes where that serve sends it.
- no `--url`: a gateway with the Twilio source is started in this process on a free 127.0.0.1 port
  (real aiohttp server, real socket, the real models and database), and the summary is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
from collections.abc import Callable
from typing import Any

import numpy as np

from bot.twilio.call_params import parse_parameters
from bot.twilio.client import StreamIds, StreamResult, load_phone_audio, stream_call
from bot.twilio.source import AUTH_TOKEN_ENV, ROUTE

EXIT_USAGE, EXIT_UNREADABLE, EXIT_DATABASE, EXIT_MODELS, EXIT_WEBHOOK, EXIT_FAILED = 2, 3, 4, 5, 6, 7

Fail = Callable[[int, str], int]


def stream_parameters(metadata_json: str, pairs: list[str]) -> dict[str, str]:
    """--metadata (as for `invite`) and --param KEY=VALUE -> customParameters (strings). ValueError."""
    from bot.livekit.metadata import parse_metadata

    record = parse_metadata(metadata_json).as_record()
    params = {k: json.dumps(v) if isinstance(v, dict) else str(v) for k, v in record.items()}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param {pair!r}: expected KEY=VALUE")
        params[key.strip()] = value
    checked = parse_parameters(params)
    if checked.metadata is None:
        raise ValueError(f"stream parameters: {checked.record['error']}")
    return params


def load_tracks(spec: str, duration_s: float | None) -> dict[str, np.ndarray]:
    """ "caller.wav[,agent.wav]" -> {"inbound": pcm, "outbound": pcm}, 8 kHz int16, looped/cut to duration."""
    paths = [p for p in spec.split(",") if p.strip()]
    if not 1 <= len(paths) <= 2:
        raise ValueError("--twilio takes CALLER or CALLER,AGENT")
    tracks = {}
    for track, path in zip(("inbound", "outbound"), paths, strict=False):
        pcm = load_phone_audio(path.strip())
        if duration_s is not None:
            n = int(duration_s * 8000)
            pcm = np.resize(pcm, n) if n > len(pcm) else pcm[:n]
        tracks[track] = pcm
    return tracks


def run_command(args: argparse.Namespace, fail: Fail) -> int:
    from emotion_models.voice.audio import AudioDecodeError

    try:
        params = stream_parameters(args.metadata, args.param)
        if args.duration is not None and args.duration <= 0:
            raise ValueError("--duration must be positive")
    except ValueError as exc:
        return fail(EXIT_USAGE, str(exc))
    try:
        tracks = load_tracks(args.twilio, args.duration)
    except AudioDecodeError as exc:
        return fail(EXIT_UNREADABLE, str(exc))
    except ValueError as exc:
        return fail(EXIT_USAGE, str(exc))
    if args.url:
        token = os.environ.get(AUTH_TOKEN_ENV, "").strip()
        if not token:
            return fail(
                EXIT_USAGE, f"--url needs {AUTH_TOKEN_ENV} (the token the serve checks signatures with)"
            )
        return asyncio.run(_into_serve(args, fail, token, tracks, params))
    return _in_process(args, fail, tracks, params)


async def _stream(
    url: str, token: str, tracks: dict[str, np.ndarray], params: dict[str, str]
) -> StreamResult:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Ctrl-C sends `stop` early (the call is still summarised), as a hang-up would.
    previous = signal.signal(signal.SIGINT, lambda *_: loop.call_soon_threadsafe(stop.set))
    try:
        return await stream_call(url, token, tracks, params=params, ids=StreamIds(), stop_event=stop)
    finally:
        signal.signal(signal.SIGINT, previous)


def _stream_report(result: StreamResult) -> dict[str, Any]:
    return {
        "call_sid": result.ids.call_sid,
        "stream_sid": result.ids.stream_sid,
        "frames_sent": result.frames_sent,
        "close_code": result.close_code,
        "close_reason": result.close_reason,
        "max_late_s": round(result.late_s, 3),
    }


async def _into_serve(
    args: argparse.Namespace, fail: Fail, token: str, tracks: dict[str, np.ndarray], params: dict[str, str]
) -> int:
    from websockets.exceptions import InvalidStatus, WebSocketException

    try:
        result = await _stream(args.url, token, tracks, params)
    except InvalidStatus as exc:
        code = exc.response.status_code
        hint = " (signature: same TWILIO_AUTH_TOKEN as the serve? its --public-url?)" if code == 403 else ""
        return fail(EXIT_USAGE, f"the server refused the stream: HTTP {code}{hint}")
    except (OSError, WebSocketException) as exc:
        return fail(EXIT_FAILED, f"cannot stream to {args.url}: {exc}")
    report = _stream_report(result)
    print(json.dumps({"stream": report}) if args.json else f"streamed: {report}")
    return 0 if result.close_code == 1000 else EXIT_FAILED


def _in_process(
    args: argparse.Namespace, fail: Fail, tracks: dict[str, np.ndarray], params: dict[str, str]
) -> int:
    from bot.commands.media_common import open_ready_database, webhook_delivery
    from bot.config import ConfigError, load_config
    from bot.policy.config import AnalysisPolicy, PolicyConfigError
    from bot.policy.decide import DeploymentRefused, check_deployment

    try:
        config = load_config()
        policy = AnalysisPolicy.from_env()
        check_deployment(policy)
        delivery = webhook_delivery(args.webhook)
    except (ConfigError, PolicyConfigError, DeploymentRefused, ValueError) as exc:
        return fail(EXIT_USAGE, str(exc))
    database = open_ready_database(args.db, fail)
    if isinstance(database, int):
        return database
    try:
        from bot.livekit.worker import load_process_models

        models = load_process_models()
    except (OSError, ValueError, RuntimeError) as exc:
        database.dispose()
        return fail(EXIT_MODELS, f"cannot load the models: {exc}")
    try:
        return asyncio.run(_gateway_call(args, tracks, params, models, database, config, policy, delivery))
    finally:
        models.close()
        database.dispose()


async def _gateway_call(
    args: argparse.Namespace,
    tracks: dict[str, np.ndarray],
    params: dict[str, str],
    models: Any,
    database: Any,
    config: Any,
    policy: Any,
    delivery: Any,
) -> int:
    from bot.commands.simulate import _deliver
    from bot.gateway.server import GatewayContext, run_gateway
    from bot.summary import format_summary_text
    from bot.twilio.source import TwilioSource

    # Both ends are this process: any token will do when none is configured.
    token = os.environ.get(AUTH_TOKEN_ENV, "").strip() or secrets.token_hex(16)
    ctx = GatewayContext(
        models=models,
        database=database,
        policy=policy,
        phone_numbers="full" if config.store_phone_numbers else "masked",
        webhook_url=delivery.default_url if delivery else config.webhook_url,
    )
    source = TwilioSource(ctx, token)
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    server = asyncio.create_task(
        run_gateway(ctx, [source], host="127.0.0.1", port=0, stop=stop, on_ready=ready.set_result)
    )
    await asyncio.wait({ready, server}, return_when=asyncio.FIRST_COMPLETED)
    if server.done():
        server.result()
    try:
        result = await _stream(f"ws://127.0.0.1:{ready.result()}{ROUTE}", token, tracks, params)
        while source.health()["active_streams"]:  # the call finishes after the socket closes
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await server
    call_id = _call_id(database, result.ids.call_sid)
    if call_id is None:
        return EXIT_FAILED
    from storage.repository import latest_summary

    summary = latest_summary(database, call_id)
    webhook = await _deliver(database, delivery, call_id) if delivery else None
    if args.json:
        print(json.dumps({"summary": summary, "stream": _stream_report(result), "webhook": webhook}))
    else:
        print(format_summary_text(summary) if summary else "no summary stored")
        if webhook is not None:
            print(f"webhook {'delivered' if webhook['delivered'] else 'NOT delivered (kept in the outbox)'}")
    if webhook is not None and not webhook["delivered"]:
        return EXIT_WEBHOOK
    return 0 if summary else EXIT_FAILED


def _call_id(database: Any, call_sid: str) -> str | None:
    from sqlalchemy import select

    from storage.models import CallRow

    with database.session() as session:
        return session.scalars(select(CallRow.id).where(CallRow.room == call_sid)).first()
