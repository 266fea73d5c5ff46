"""The LiveKit agents worker: joins only rooms it is dispatched to, hidden, subscribe-only.

Process layout (livekit-agents): the main process registers with the server, accepts or rejects
job requests (rejects while our database is unreachable) and runs the webhook sender; each job
runs in a pre-started child process whose models were loaded once by `prewarm`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from livekit.agents import AgentServer, AutoSubscribe, JobContext, JobProcess, JobRequest, WorkerPermissions

from bot.livekit.call import RoomCall
from bot.livekit.dispatch import AGENT_NAME
from bot.livekit.metadata import metadata_for_job
from bot.livekit.room import CallEnd, RoomOptions, conversion_rate_limit
from bot.pipeline.config import PipelineConfig
from bot.policy.config import AnalysisPolicy
from bot.policy.pii import PhoneNumberPolicy, install_log_redaction
from storage.db import Database, DatabaseUnavailable

if TYPE_CHECKING:
    from bot.pipeline.models import Models

logger = logging.getLogger(__name__)

# Hidden agents may only subscribe; the bot never publishes media or data.
PERMISSIONS = WorkerPermissions(
    can_publish=False, can_subscribe=True, can_publish_data=False, can_update_metadata=False, hidden=True
)
# Finishing a call drains queued inference and writes the summary; the SDK's 10 s default could kill
# the job process halfway (the call would then only be recovered, partially, on the next start).
SHUTDOWN_PROCESS_TIMEOUT_S = 120.0

GRACE_ENV = "EMOTION_BOT_EMPTY_ROOM_GRACE_S"
NO_SHOW_ENV = "EMOTION_BOT_NO_SHOW_TIMEOUT_S"
ALL_FACES_ENV = "EMOTION_BOT_ALL_FACES"
# At most this many calls at once (the worker reports itself full at N, and keeps N job processes
# warm). Unset: the SDK's own rule, the machine's CPU use over 0.7 means full, which on a small
# shared host can refuse a call for someone else's load.
MAX_CALLS_ENV = "EMOTION_BOT_WORKER_MAX_CALLS"


@dataclass(frozen=True, slots=True)
class JobSettings:
    """Per-job settings from the environment (job processes inherit the worker's environment)."""

    room: RoomOptions
    pipeline: PipelineConfig
    webhook_url: str | None
    phone_numbers: PhoneNumberPolicy

    @classmethod
    def from_env(cls, host_identity: str | None) -> JobSettings:
        from bot.config import load_config

        config = load_config()
        defaults = RoomOptions()
        pipeline = PipelineConfig(all_faces=os.environ.get(ALL_FACES_ENV, "").lower() in ("1", "true", "yes"))
        room = RoomOptions(
            empty_grace_s=float(os.environ.get(GRACE_ENV, defaults.empty_grace_s)),
            no_show_timeout_s=float(os.environ.get(NO_SHOW_ENV, defaults.no_show_timeout_s)),
            video_max_fps=conversion_rate_limit(pipeline),
            host_identity=host_identity,
            policy=AnalysisPolicy.from_env(),
        )
        phone_numbers: PhoneNumberPolicy = "full" if config.store_phone_numbers else "masked"
        return cls(room=room, pipeline=pipeline, webhook_url=config.webhook_url, phone_numbers=phone_numbers)


def load_process_models() -> Models:
    """The process's models, fully loaded on the calling (main) thread.

    The VAD's ONNX session is otherwise created lazily on the engine's VAD thread, where importing
    the livekit-plugins-silero package that holds it fails ("Plugins must be registered on the main
    thread") and the first call's voice analysis is lost.
    """
    from bot.pipeline.models import load_models
    from emotion_models.voice.vad import shared_session

    models = load_models()
    shared_session()
    return models


def prewarm(proc: JobProcess) -> None:
    """Load the models and open the database once per job process, before any job arrives."""
    proc.userdata["models"] = load_process_models()
    proc.userdata["database"] = Database.from_config()


class _Admission:
    """The main process's database handle, used to refuse jobs while the database is down."""

    database: Database | None = None


async def on_request(request: JobRequest) -> None:
    """Accept a dispatch only while the database answers: a call we cannot store is a call lost."""
    database = _Admission.database
    if database is not None:
        try:
            await asyncio.to_thread(database.check)
        except DatabaseUnavailable as exc:
            logger.error("rejecting the job for room %r: %s", request.room.name, exc)
            await request.reject()
            return
    await request.accept(name=AGENT_NAME)


async def entrypoint(ctx: JobContext) -> None:
    """One job = one call: analyse every participant until the call is over, then summarise."""
    from bot.calls.runner import CallContext, open_call

    metadata, record = metadata_for_job(ctx.job.metadata)
    if metadata is None:
        logger.error(
            "dispatch metadata for room %r is invalid (%s); analysing anyway",
            ctx.job.room.name,
            record["error"],
        )
    settings = JobSettings.from_env(metadata.host_identity if metadata else None)
    call_context = CallContext(
        models=ctx.proc.userdata["models"],
        database=ctx.proc.userdata["database"],
        pipeline=settings.pipeline,
        policy=settings.room.policy,
        phone_numbers=settings.phone_numbers,
        webhook_url=settings.webhook_url,
    )
    # Live alerts (bot/delivery/alerts.py) listen to the fused timeline and are sent during the call.
    session, alerts = await open_call(call_context, room=ctx.job.room.name, source="livekit", metadata=record)
    call = RoomCall(ctx.room, session, settings.room, webhook_url=settings.webhook_url, alerts=alerts)

    async def finish_on_shutdown(reason: str) -> None:
        # Worker drained, room deleted, job killed by the server: whoever comes first finishes.
        logger.info("job shutting down (%s)", reason)
        await call.finish(CallEnd.SHUTDOWN)

    ctx.add_shutdown_callback(finish_on_shutdown)
    await ctx.connect(auto_subscribe=AutoSubscribe.SUBSCRIBE_ALL)
    outcome = await call.run()
    # One structured line per call (`python -m bot.livekit.loadcheck` reads it): counters only, no names.
    logger.info("call %s stats", session.call_id, extra={"call_stats": call_stats(_session_stats(session))})
    ctx.shutdown(reason=str(outcome.reason))


def _session_stats(session: Any) -> dict[str, Any]:
    stats = session.stats
    return stats() if callable(stats) else stats  # a property since the session's redaction work


def call_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """The session's counters without identities: totals, drops, latency, one entry per participant."""
    keys = ("frames_in", "frames_sampled", "frames_dropped", "faces", "segments", "observations")
    per_participant = [
        {
            **{key: p.get(key) for key in keys},
            "audio_dropped_s": p.get("audio_dropped_s"),
            "video_fps": p.get("video_fps"),
            "backoffs": p.get("backoffs"),
        }
        for p in stats.get("participants", {}).values()
    ]
    writer = stats.get("writer", {})
    return {
        "call_id": stats.get("call_id"),
        **{key: stats.get(key) for key in keys},
        "audio_dropped_s": stats.get("audio_dropped_s"),
        "writer_dropped": writer.get("dropped"),
        "p95_frame_to_db_s": stats.get("p95_frame_to_db_s"),
        "max_frame_to_db_s": stats.get("max_frame_to_db_s"),
        "participants": per_participant,
    }


def build_server(*, port: int | None = None) -> AgentServer:
    """The AgentServer with our permissions, prewarm and entrypoint (agent name "emotion-bot")."""
    kwargs: dict[str, Any] = {"port": port} if port is not None else {}
    max_calls = max_calls_from_env()
    if max_calls is not None:
        kwargs.update(
            load_fnc=lambda server: len(server.active_jobs) / max_calls,
            load_threshold=1.0,
            # the SDK counts a call accepted but not yet running as 1/num_idle_processes of the load
            num_idle_processes=max_calls,
        )
    server = AgentServer(
        setup_fnc=prewarm,
        permissions=PERMISSIONS,
        shutdown_process_timeout=SHUTDOWN_PROCESS_TIMEOUT_S,
        **kwargs,
    )
    server.rtc_session(entrypoint, agent_name=AGENT_NAME, on_request=on_request)
    return server


def max_calls_from_env() -> int | None:
    """EMOTION_BOT_WORKER_MAX_CALLS as a positive int, None when unset; ValueError names the variable."""
    raw = os.environ.get(MAX_CALLS_ENV, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{MAX_CALLS_ENV} must be a whole number >= 1, got {raw!r}")
    return value


def run_worker(
    mode: Literal["dev", "start"], *, database: Database, port: int | None, log_level: str
) -> None:
    """Run until SIGINT/SIGTERM (the SDK drains active jobs first). `database` was checked by the caller."""
    from livekit.agents.cli import proto
    from livekit.agents.cli.cli import _run_worker

    _Admission.database = database
    # The SDK installs its own log handler (JSON in start mode, coloured in dev): drop the CLI's, so
    # each line is written once.
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    server = build_server(port=port)
    sender = _WebhookSender(database, JobSettings.from_env(None).phone_numbers)
    server.on("worker_started", sender.start)
    # The SDK installs its log handlers inside _run_worker; once it has started, every handler gets
    # the redacting filter (job processes forward their records to these handlers).
    server.on("worker_started", lambda: install_log_redaction(sender.phone_numbers))
    try:
        _run_worker(server, proto.CliArgs(log_level=log_level, dev=mode == "dev"))
    finally:
        sender.stop()


class _WebhookSender:
    """Runs the outbox sender in the worker's main process, so summaries leave without a second
    service. Without a signing secret nothing is sent (summaries wait in the outbox)."""

    def __init__(self, database: Database, phone_numbers: PhoneNumberPolicy = "masked") -> None:
        self._database = database
        self.phone_numbers = phone_numbers
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        from bot.delivery.config import DeliveryConfig
        from bot.delivery.deliverer import Deliverer

        try:
            config = DeliveryConfig.from_env()
        except ValueError as exc:
            logger.warning("webhooks are not sent by this worker: %s", exc)
            return
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(Deliverer(self._database, config).run(self._stop))

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
