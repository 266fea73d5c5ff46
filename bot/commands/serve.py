"""`emotion-bot serve`: the web gateway for Zoom (RTMS) and Twilio (Media Streams) calls."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.policy.config import AnalysisPolicy
    from storage.db import Database

EXIT_USAGE, EXIT_DATABASE, EXIT_MODELS = 2, 4, 5


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "serve", help="run the web gateway that Zoom and Twilio stream calls to (see README)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8088, help="port (default 8088; 0: any free port)")
    parser.add_argument("--db", help="database path or URL (default: EMOTION_BOT_DB)")
    parser.add_argument(
        "--webhook", metavar="URL", help="summary webhook for calls whose metadata names none"
    )
    parser.add_argument(
        "--source",
        action="append",
        dest="sources",
        metavar="NAME",
        help="a source to serve: zoom, twilio (repeatable; default: every source built in)",
    )
    parser.add_argument(
        "--public-url",
        default=os.environ.get("EMOTION_BOT_PUBLIC_URL") or None,
        help="the https base URL the platforms call (behind a TLS proxy; env EMOTION_BOT_PUBLIC_URL)",
    )
    parser.add_argument(
        "--zoom-video",
        choices=("speaker", "individual"),
        default="speaker",
        help="Zoom video: the active speaker's (default) or each camera in turn",
    )
    parser.add_argument(
        "--zoom-rotate-s", type=float, default=10.0, help="seconds per camera with --zoom-video individual"
    )
    parser.set_defaults(func=_run)


def _fail(code: int, message: str) -> int:
    print(f"emotion-bot serve: {message}", file=sys.stderr)
    return code


def _run(args: argparse.Namespace) -> int:
    from bot.commands.media_common import open_ready_database, webhook_delivery
    from bot.config import ConfigError, load_config
    from bot.gateway.server import available_sources
    from bot.policy.config import AnalysisPolicy, PolicyConfigError
    from bot.policy.decide import DeploymentRefused, check_deployment

    try:
        config = load_config()
        policy = AnalysisPolicy.from_env()
        check_deployment(policy)
        delivery = webhook_delivery(args.webhook) if args.webhook else None
    except (ConfigError, PolicyConfigError, DeploymentRefused, ValueError) as exc:
        return _fail(EXIT_USAGE, f"{exc}; not starting")
    modules = available_sources()
    names = args.sources or sorted(modules)
    unknown = sorted(set(names) - set(modules))
    if unknown or not names:
        return _fail(EXIT_USAGE, f"unknown source(s) {unknown}; known: {sorted(modules)}")
    # The sources' own settings are checked before the models load: a missing secret is said at once.
    for name in names:
        try:
            modules[name].check_config(os.environ)
        except ConfigError as exc:
            others = sorted(set(names) - {name})
            hint = f" (or serve only {', '.join('--source ' + o for o in others)})" if others else ""
            return _fail(EXIT_USAGE, f"{name}: {exc}; not starting{hint}")
    database = open_ready_database(args.db, _fail)
    if isinstance(database, int):
        return database
    webhook_url = delivery.default_url if delivery else config.webhook_url
    try:
        return asyncio.run(_serve(args, database, names, policy, webhook_url, config.store_phone_numbers))
    except ConfigError as exc:
        return _fail(EXIT_USAGE, f"{exc}; not starting")
    finally:
        database.dispose()


async def _serve(
    args: argparse.Namespace,
    database: Database,
    names: list[str],
    policy: AnalysisPolicy,
    webhook_url: str | None,
    store_phone_numbers: bool,
) -> int:
    import logging

    from bot.calls.recovery import finalise_crashed_calls
    from bot.delivery.config import DeliveryConfig
    from bot.delivery.deliverer import Deliverer
    from bot.gateway.server import GatewayContext, available_sources, run_gateway
    from bot.livekit.worker import load_process_models
    from bot.pipeline.config import PipelineConfig

    log = logging.getLogger("bot.gateway")
    try:
        models = load_process_models()
    except (OSError, ValueError, RuntimeError) as exc:
        return _fail(EXIT_MODELS, f"cannot load the models: {exc}")
    stop_sender = asyncio.Event()
    deliverer: Deliverer | None = None
    try:
        deliverer = Deliverer(database, DeliveryConfig.from_env())
    except ValueError as exc:
        log.warning("webhooks are not sent by this process: %s", exc)
    ctx = GatewayContext(
        models=models,
        database=database,
        pipeline=PipelineConfig(),
        policy=policy,
        phone_numbers="full" if store_phone_numbers else "masked",
        webhook_url=webhook_url,
        wake_deliverer=deliverer.wake if deliverer else None,
        public_url=args.public_url.rstrip("/") if args.public_url else None,
    )
    # A `serve` killed mid-call left its calls active: finalised (partial) before new ones come in.
    await asyncio.to_thread(finalise_crashed_calls, database, default_webhook_url=webhook_url)
    modules = available_sources()
    sources = [modules[name].build_source(ctx, args) for name in names]
    sender = asyncio.create_task(deliverer.run(stop_sender)) if deliverer else None
    try:
        await run_gateway(ctx, sources, host=args.host, port=args.port)
    finally:
        stop_sender.set()
        if sender is not None:
            await asyncio.gather(sender, return_exceptions=True)
        models.close()
    return 0
