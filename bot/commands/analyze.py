"""`emotion-bot analyze FILE`: analyse a recorded call, store it, print (and optionally post) its summary.

Exit codes: 0 analysed; 1 read fine but nothing to analyse (no face and no speech anywhere);
2 usage or configuration error; 3 the file cannot be read (nothing is stored); 4 database
unavailable; 5 models missing or corrupt; 6 the summary webhook was not delivered (it stays queued
in the outbox for `emotion-bot webhooks deliver`); 7 the analysis stopped on an unexpected error (what
was analysed is stored as a partial call).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Any

from bot.commands.media_common import (
    EXIT_FAILED,
    EXIT_MODELS,
    EXIT_NOTHING_FOUND,
    EXIT_OK,
    EXIT_UNREADABLE,
    EXIT_USAGE,
    EXIT_WEBHOOK,
    open_ready_database,
    webhook_delivery,
)

DEFAULT_MAX_DURATION_S = 4 * 3600.0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "analyze",
        help="analyse a recorded call (any audio/video file PyAV reads) and print its summary",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="recording: video+audio, audio only or video only")
    parser.add_argument("--db", help="SQLite path or database URL (default: EMOTION_BOT_DB or the data dir)")
    parser.add_argument("--participant", help="name of the person recorded (default: the file name)")
    parser.add_argument(
        "--role",
        help="their role (e.g. customer, agent; default participant): stored, and seen by alert rules "
        "limited to roles (EMOTION_BOT_ALERT_RULES)",
    )
    parser.add_argument(
        "--webhook", metavar="URL", help="POST the summary here, signed with EMOTION_BOT_WEBHOOK_SECRET"
    )
    parser.add_argument("--json", action="store_true", help="print the summary JSON as the last line")
    parser.add_argument("--fps", type=float, default=2.0, help="face samples per second of video (default 2)")
    parser.add_argument("--all-faces", action="store_true", help="analyse every face, not only the largest")
    parser.add_argument(
        "--max-duration",
        type=float,
        default=DEFAULT_MAX_DURATION_S,
        metavar="SECONDS",
        help=f"refuse longer files (default {DEFAULT_MAX_DURATION_S:.0f} s = 4 h)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(func=run)


def _fail(code: int, message: str) -> int:
    print(f"emotion-bot analyze: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    from bot.pipeline.config import PipelineConfig
    from bot.pipeline.sources.file import MediaError, probe

    if args.fps <= 0:
        return _fail(EXIT_USAGE, "--fps must be positive")
    try:
        delivery = webhook_delivery(args.webhook)
    except ValueError as exc:
        return _fail(EXIT_USAGE, str(exc))
    try:
        info = probe(args.file)
    except MediaError as exc:
        return _fail(EXIT_UNREADABLE, f"{exc} (nothing was stored)")
    if info.duration_s is not None and info.duration_s > args.max_duration:
        return _fail(
            EXIT_UNREADABLE,
            f"{info.path.name} is {info.duration_s / 3600:.1f} h long, over the {args.max_duration:.0f} s "
            "limit; raise --max-duration to analyse it (nothing was stored)",
        )
    database = open_ready_database(args.db, _fail)
    if isinstance(database, int):
        return database
    models = _load_models()
    if isinstance(models, int):
        return models
    config = PipelineConfig(video_fps=args.fps, all_faces=args.all_faces, adaptive=False)
    participant = args.participant or info.path.stem
    try:
        result = asyncio.run(
            _analyse(
                info,
                models,
                database,
                participant,
                config,
                delivery,
                progress=not args.no_progress,
                role=args.role,
            )
        )
    except Exception as exc:
        logging.getLogger(__name__).debug("analysis failed", exc_info=True)
        return _fail(EXIT_FAILED, f"analysis of {info.path.name} stopped: {exc!r} (stored as a partial call)")
    finally:
        models.close()
        database.dispose()
    return _print_result(result, args.json)


def _load_models() -> Any:
    from bot.pipeline.models import load_models

    try:
        return load_models()
    except (OSError, ValueError, RuntimeError) as exc:
        return _fail(EXIT_MODELS, f"cannot load the models: {exc}")


async def _analyse(
    info: Any,
    models: Any,
    database: Any,
    participant: str,
    config: Any,
    delivery: Any,
    *,
    progress: bool,
    role: str | None = None,
) -> dict[str, Any]:
    from bot.calls.runner import CallContext
    from bot.pipeline.recording import analyse_recording

    result = await analyse_recording(
        info,
        models=models,
        database=database,
        participant=participant,
        config=config,
        webhook_url=delivery.default_url if delivery else None,
        progress=progress,
        role=role,
        phone_numbers=CallContext.phone_policy_from_config(),
    )
    webhook = await _deliver(database, delivery, result.summary["call_id"]) if delivery else None
    return {"result": result, "webhook": webhook}


async def _deliver(database: Any, delivery: Any, call_id: str) -> dict[str, Any]:
    """One delivery pass over the outbox (this call's summary was queued when the call finished)."""
    from bot.delivery.deliverer import Deliverer
    from bot.delivery.outbox import list_messages

    await Deliverer(database, delivery).deliver_due()
    messages = [
        m for m in await asyncio.to_thread(list_messages, database, limit=1000) if m.call_id == call_id
    ]
    if not messages:
        return {"delivered": False, "error": "no webhook message was queued"}
    message = messages[0]
    return {
        "delivered": message.status == "delivered",
        "msg_id": message.msg_id,
        "status_code": message.last_status_code,
        "error": message.last_error,
    }


def _print_result(outcome: dict[str, Any], as_json: bool) -> int:
    from bot.summary import format_summary_text

    result, webhook = outcome["result"], outcome["webhook"]
    print(format_summary_text(result.summary))
    for note in result.notes:
        print(f"note: {note}")
    code = EXIT_OK if result.observations else EXIT_NOTHING_FOUND
    if result.observations == 0:
        print("nothing to analyse: no face and no speech were found (the call is stored, empty)")
    if webhook is not None:
        if webhook["delivered"]:
            print(f"webhook delivered ({webhook['msg_id']}, HTTP {webhook['status_code']})")
        else:
            print(
                f"webhook NOT delivered: {webhook['error']}; it stays in the outbox "
                "(`emotion-bot webhooks deliver` retries it)"
            )
            code = EXIT_WEBHOOK
    if as_json:
        print(json.dumps(result.summary, ensure_ascii=False, separators=(",", ":")))
    return code
