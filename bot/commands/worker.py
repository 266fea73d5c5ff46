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
    parser.add_argument(
        "--max-calls",
        type=int,
        help="calls at once before the worker reports itself full (default: full at 70%% CPU; "
        "EMOTION_BOT_WORKER_MAX_CALLS)",
    )
    parser.add_argument("--log-level", default="INFO")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from bot.calls.recovery import finalise_crashed_calls
    from bot.config import ConfigError, load_config
    from bot.livekit.credentials import LiveKitCredentials, MissingCredentialsError
    from bot.livekit.worker import ALL_FACES_ENV, GRACE_ENV, MAX_CALLS_ENV, max_calls_from_env, run_worker
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
    if args.max_calls is not None:
        os.environ[MAX_CALLS_ENV] = str(args.max_calls)
    try:
        max_calls_from_env()
        stale_after_s = _stale_after_s()
    except ValueError as exc:
        print(f"emotion-bot worker: {exc}; not starting, no job accepted", file=sys.stderr)
        return 2
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
    finalise_crashed_calls(database, default_webhook_url=config.webhook_url, stale_after_s=stale_after_s)
    run_worker(args.mode, database=database, port=args.port, log_level=args.log_level.upper())
    return 0


# A call left `active` with nothing written for this long is a crashed worker's (default 120 s);
# shorter only where no other worker could still be writing to it (tests).
STALE_ENV = "EMOTION_BOT_RECOVERY_STALE_AFTER_S"


def _stale_after_s() -> float:
    from bot.calls.recovery import DEFAULT_STALE_AFTER_S

    raw = os.environ.get(STALE_ENV, "").strip()
    if not raw:
        return DEFAULT_STALE_AFTER_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ValueError(f"{STALE_ENV} must be a number of seconds >= 0, got {raw!r}")
    return value
