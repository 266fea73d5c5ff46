"""`emotion-bot worker dev|start`: run the LiveKit worker (env LIVEKIT_URL, LIVEKIT_API_KEY, _SECRET)."""

from __future__ import annotations

import argparse
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("worker", help="run the LiveKit worker (joins rooms it is invited to)")
    parser.add_argument(
        "mode", choices=("dev", "start"), help="dev: verbose, for a local server; start: production"
    )
    parser.add_argument("--db", help="database path or URL (default: EMOTION_BOT_DB)")
    parser.add_argument("--port", type=int, help="the worker's HTTP health port (default 8081 in start mode)")
    parser.add_argument(
        "--grace", type=float, help="seconds without any participant before a call ends (default 20)"
    )
    parser.add_argument(
        "--all-faces", action="store_true", help="analyse every face in a camera, not only the largest"
    )
    parser.add_argument("--log-level", default="INFO")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from bot.config import ConfigError, load_config
    from bot.livekit.credentials import LiveKitCredentials, MissingCredentialsError
    from bot.livekit.recovery import finalise_crashed_calls
    from bot.livekit.worker import ALL_FACES_ENV, GRACE_ENV, run_worker
    from bot.policy.config import AnalysisPolicy, PolicyConfigError
    from bot.policy.decide import DeploymentRefused, check_deployment
    from storage.db import Database, DatabaseUnavailable

    # Job processes inherit the environment: that is how these settings reach them.
    if args.db:
        os.environ["EMOTION_BOT_DB"] = args.db
    if args.grace is not None:
        os.environ[GRACE_ENV] = str(args.grace)
    if args.all_faces:
        os.environ[ALL_FACES_ENV] = "1"
    try:
        LiveKitCredentials.from_env()
        config = load_config()
        check_deployment(AnalysisPolicy.from_env())
        database = Database(config.db_url)
        database.check()
    except (
        MissingCredentialsError,
        ConfigError,
        PolicyConfigError,
        DeploymentRefused,
        DatabaseUnavailable,
    ) as exc:
        print(f"emotion-bot worker: {exc}; not starting, no job accepted", file=sys.stderr)
        return 2
    finalise_crashed_calls(database, default_webhook_url=config.webhook_url)
    run_worker(args.mode, database=database, port=args.port, log_level=args.log_level.upper())
    return 0
