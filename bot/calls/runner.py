"""Opening and finishing a call, the same for every source.

`open_call()` creates the `CallSession` (its room name and metadata redacted under the phone-number
policy) with live alerts attached; `CallRunner` adds the participant lifecycle and finishes the
call exactly once: the lifecycle closed, queued analysis drained, alerts written, the summary
stored with its webhook queued in one transaction (retried while the database is away).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from bot.calls.lifecycle import CallEnd, LifecycleOptions, ParticipantLifecycle
from bot.pipeline.config import PipelineConfig
from bot.policy.config import AnalysisPolicy
from bot.policy.pii import PhoneNumberPolicy

if TYPE_CHECKING:
    from bot.delivery.alerts import LiveAlerts
    from bot.pipeline.models import Models
    from bot.pipeline.session import CallSession
    from storage.db import Database

logger = logging.getLogger(__name__)

# ~1.5 min in all: inside the worker's shutdown allowance for a job process.
SUMMARY_RETRY_DELAYS_S = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0)


@dataclass(frozen=True, slots=True)
class CallContext:
    """What every call of a process needs: loaded once, shared by all calls."""

    models: Models
    database: Database
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    policy: AnalysisPolicy = field(default_factory=AnalysisPolicy)
    phone_numbers: PhoneNumberPolicy = "masked"
    webhook_url: str | None = None  # used when a call's metadata names none
    wake_deliverer: Callable[[], None] | None = None  # send queued webhooks now (alerts, summaries)

    @staticmethod
    def phone_policy_from_config() -> PhoneNumberPolicy:
        from bot.config import load_config

        return "full" if load_config().store_phone_numbers else "masked"


async def open_call(
    ctx: CallContext, *, room: str, source: str, metadata: dict[str, Any] | None = None
) -> tuple[CallSession, LiveAlerts]:
    """A new call's session with live alerts listening to it."""
    from bot.delivery.alerts import LiveAlerts
    from bot.pipeline.session import CallSession

    session = await CallSession.open(
        models=ctx.models,
        database=ctx.database,
        room=room,
        source=source,
        metadata=metadata,
        config=ctx.pipeline,
        phone_numbers=ctx.phone_numbers,
    )
    alerts = LiveAlerts.attach(session, ctx.database, default_url=ctx.webhook_url, wake=ctx.wake_deliverer)
    return session, alerts


async def store_summary(
    session: CallSession,
    alerts: LiveAlerts | None,
    *,
    webhook_url: str | None,
    partial: bool = False,
    end_reason: str | None = None,
    wake: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """`session.finish()`, retried while the database is away (it is idempotent until it succeeds).

    If the database stays away, the call stays `active` in it and the next start of the process
    (worker or serve) finalises it with a partial summary from what was stored.
    """
    if alerts is not None:
        await alerts.drain()
    for attempt, delay in enumerate((*SUMMARY_RETRY_DELAYS_S, None), start=1):
        try:
            summary = await session.finish(webhook_url=webhook_url, partial=partial, end_reason=end_reason)
        except SQLAlchemyError as exc:
            if delay is None:
                logger.error("call %s: summary not stored; the next start finalises it", session.call_id)
                raise
            logger.warning(
                "call %s: summary not stored (attempt %d: %s); retrying in %.0f s",
                session.call_id,
                attempt,
                type(exc).__name__,
                delay,
            )
            await asyncio.sleep(delay)
            continue
        if wake is not None:
            wake()
        return summary
    raise AssertionError("unreachable")


class CallRunner:
    """One call of a streaming source (Zoom, Twilio): session, alerts and lifecycle, finished once.

    The adapter feeds `runner.lifecycle` (join/leave/`analyser_for`) and calls `finish(reason)`
    when the platform ends the stream; `finish` is idempotent and safe to race (SIGTERM, stop
    message and socket loss may all arrive).
    """

    def __init__(
        self,
        ctx: CallContext,
        session: CallSession,
        alerts: LiveAlerts | None,
        options: LifecycleOptions,
        *,
        on_excluded: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.ctx = ctx
        self.session = session
        self.alerts = alerts
        self.lifecycle = ParticipantLifecycle(session, options, on_excluded=on_excluded)
        self._finish_lock = asyncio.Lock()
        self._summary: dict[str, Any] | None = None

    @classmethod
    async def open(
        cls,
        ctx: CallContext,
        *,
        room: str,
        source: str,
        metadata: dict[str, Any] | None = None,
        options: LifecycleOptions | None = None,
        on_excluded: Callable[[str], Awaitable[None]] | None = None,
    ) -> CallRunner:
        session, alerts = await open_call(ctx, room=room, source=source, metadata=metadata)
        options = options or LifecycleOptions(policy=ctx.policy)
        runner = cls(ctx, session, alerts, options, on_excluded=on_excluded)
        runner.lifecycle.start()
        return runner

    @property
    def finished(self) -> bool:
        return self._summary is not None

    async def finish(
        self, reason: CallEnd, *, partial: bool = False, detail: str | None = None
    ) -> dict[str, Any]:
        """End the call for `reason` (the first reason given wins) and store its summary, once.

        `detail` replaces the reason in the summary's `end_reason` (a platform's status code)."""
        async with self._finish_lock:
            if self._summary is not None:
                return self._summary
            self.lifecycle.request_end(reason)
            reason = await self.lifecycle.wait_for_end()
            try:
                await self.lifecycle.aclose()
            finally:
                # The summary is written even if closing failed: the call must never be lost.
                self._summary = await store_summary(
                    self.session,
                    self.alerts,
                    webhook_url=self.ctx.webhook_url,
                    partial=partial,
                    end_reason=detail or str(reason),
                    wake=self.ctx.wake_deliverer,
                )
            logger.info("call %s over: %s", self.session.call_id, reason)
            return self._summary
