"""`emotion-bot simulate --participant ID=PATH[:sip] ...`: a LiveKit call without a server.

Each file is published through real livekit rtc local tracks, at its own pace, into a simulated
room that the worker's own room handling analyses. Prints the summary (or, with --json, one JSON
object with the summary and the run's stats: observations per participant, drops, frame-to-database
p95 latency, memory). Exit codes: 0 done; 2 usage/configuration; 3 no participant file readable;
4 database unavailable; 5 models missing; 6 the summary webhook was not delivered (it stays queued).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any

from bot.commands.media_common import (
    EXIT_MODELS,
    EXIT_UNREADABLE,
    EXIT_USAGE,
    EXIT_WEBHOOK,
    open_ready_database,
    webhook_delivery,
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "simulate",
        help="run a call locally: files published through real LiveKit tracks into the bot's room handling",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--participant",
        action="append",
        metavar="ID=PATH[:sip]",
        help="a participant and its media file; ':sip' makes it a phone caller (audio only). Repeat.",
    )
    parser.add_argument("--db", help="database path or URL (default: EMOTION_BOT_DB)")
    parser.add_argument(
        "--webhook", metavar="URL", help="POST the summary here (signed with EMOTION_BOT_WEBHOOK_SECRET)"
    )
    parser.add_argument("--metadata", default="", help="dispatch metadata JSON, as for `emotion-bot invite`")
    parser.add_argument(
        "--duration", type=float, help="seconds to run; files loop if shorter (default: each file once)"
    )
    parser.add_argument(
        "--fps", type=float, default=15.0, help="video frames per second published (default 15)"
    )
    parser.add_argument(
        "--all-faces", action="store_true", help="analyse every face in a camera, not only the largest"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object: summary + stats")
    # Twilio: a phone call streamed as Twilio Media Streams would (bot/twilio/simulate.py).
    parser.add_argument(
        "--twilio",
        metavar="CALLER[,AGENT]",
        help="instead of --participant: stream these files as a Twilio call (caller = inbound track, "
        "agent = outbound), signed, 20 ms mu-law frames at real pace",
    )
    parser.add_argument(
        "--url",
        help="with --twilio: a running `serve`'s stream URL, e.g. ws://127.0.0.1:8088/twilio/media "
        "(signed with TWILIO_AUTH_TOKEN); default: a gateway started in this process",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --twilio: a stream <Parameter> (e.g. caller_number=+4915112345689); repeat",
    )
    # Zoom: a meeting streamed by the fake RTMS server through an in-process `serve` (bot/zoom/simulate.py).
    parser.add_argument(
        "--zoom",
        action="append",
        metavar="PARTICIPANT=FILE",
        help="instead of --participant: a Zoom meeting participant and a file (image, audio, video or "
        "IMAGE+AUDIO), streamed over RTMS into the Zoom source of a local `serve`. Repeat.",
    )
    parser.set_defaults(func=_run)


def _fail(code: int, message: str) -> int:
    print(f"emotion-bot simulate: {message}", file=sys.stderr)
    return code


def _run(args: argparse.Namespace) -> int:
    if args.twilio:
        from bot.twilio.simulate import run_command

        return run_command(args, _fail)
    if args.zoom:
        from bot.zoom.simulate import run_command as run_zoom

        return run_zoom(args, _fail)
    if not args.participant:
        return _fail(EXIT_USAGE, "give --participant ID=PATH (repeat) or --twilio CALLER[,AGENT]")
    from bot.config import ConfigError, load_config
    from bot.livekit.metadata import InvalidMetadataError, parse_metadata
    from bot.livekit.simulate import ParticipantSpecError, SimulatedParticipant
    from bot.policy.config import AnalysisPolicy, PolicyConfigError
    from bot.policy.decide import DeploymentRefused, check_deployment

    try:
        participants = [SimulatedParticipant.parse(spec) for spec in args.participant]
        identities = [p.identity for p in participants]
        if len(set(identities)) != len(identities):
            raise ParticipantSpecError("participant ids must be unique")
        metadata = parse_metadata(args.metadata)
        config = load_config()
        policy = AnalysisPolicy.from_env()
        check_deployment(policy)
        delivery = webhook_delivery(args.webhook)
        if (args.duration is not None and args.duration <= 0) or args.fps <= 0:
            raise ValueError("--duration and --fps must be positive")
    except (ParticipantSpecError, InvalidMetadataError, ConfigError, PolicyConfigError, ValueError) as exc:
        return _fail(EXIT_USAGE, str(exc))
    except DeploymentRefused as exc:
        return _fail(EXIT_USAGE, str(exc))
    database = open_ready_database(args.db, _fail)
    if isinstance(database, int):
        return database
    try:
        from bot.livekit.worker import load_process_models

        models = load_process_models()
    except (OSError, ValueError, RuntimeError) as exc:
        return _fail(EXIT_MODELS, f"cannot load the models: {exc}")
    try:
        return asyncio.run(
            _simulate(args, participants, metadata, config, policy, delivery, models, database)
        )
    finally:
        models.close()
        database.dispose()


async def _simulate(
    args: argparse.Namespace,
    participants: list[Any],
    metadata: Any,
    config: Any,
    policy: Any,
    delivery: Any,
    models: Any,
    database: Any,
) -> int:
    from bot.livekit.room import RoomOptions, conversion_rate_limit
    from bot.livekit.simulate import NothingToSimulateError, simulate_call
    from bot.pipeline.config import PipelineConfig
    from bot.summary import format_summary_text

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Ctrl-C ends the call and still summarises. Not loop.add_signal_handler: on an overloaded loop
    # its wake-up pipe fills up and the signal is lost; call_soon_threadsafe always queues.
    previous = signal.signal(signal.SIGINT, lambda *_: loop.call_soon_threadsafe(stop.set))
    pipeline = PipelineConfig(all_faces=args.all_faces)
    options = RoomOptions(
        empty_grace_s=0.0,  # participants leave when their file ends: then the call is over
        no_show_timeout_s=30.0,
        video_max_fps=conversion_rate_limit(pipeline),
        host_identity=metadata.host_identity,
        policy=policy,
    )
    webhook_url = delivery.default_url if delivery else config.webhook_url
    try:
        result = await simulate_call(
            participants,
            models=models,
            database=database,
            duration_s=args.duration,
            config=pipeline,
            options=options,
            metadata=metadata.as_record(),
            webhook_url=webhook_url,
            phone_numbers="full" if config.store_phone_numbers else "masked",
            publish_fps=args.fps,
            stop=stop,
        )
    except NothingToSimulateError as exc:
        return _fail(EXIT_UNREADABLE, f"nothing to simulate: {exc}")
    finally:
        signal.signal(signal.SIGINT, previous)
    webhook = await _deliver(database, delivery, result.stats["call_id"]) if delivery else None
    code = 0
    if webhook is not None and not webhook["delivered"]:
        code = EXIT_WEBHOOK
    if args.json:
        print(json.dumps({"summary": result.outcome.summary, "stats": result.stats, "webhook": webhook}))
    else:
        print(format_summary_text(result.outcome.summary))
        for identity, error in result.stats["errors"].items():
            print(f"participant {identity}: {error}")
        if webhook is not None:
            state = "delivered" if webhook["delivered"] else "NOT delivered (kept in the outbox)"
            print(f"webhook {state}: {webhook}")
    return code


async def _deliver(database: Any, delivery: Any, call_id: str) -> dict[str, Any]:
    """One delivery pass (the summary was queued in the outbox when the call finished)."""
    from bot.delivery.deliverer import Deliverer
    from bot.delivery.outbox import list_messages

    counts = await Deliverer(database, delivery).deliver_due()
    messages = [
        m for m in await asyncio.to_thread(list_messages, database, limit=1000) if m.call_id == call_id
    ]
    if not messages:
        return {"delivered": False, "messages": 0, "error": "no webhook message was queued"}
    return {
        "delivered": all(m.status == "delivered" for m in messages),
        "messages": len(messages),
        "status_code": messages[0].last_status_code,
        "error": messages[0].last_error,
        "outcomes": dict(counts),
    }
