"""One call in one room, from the first participant to the stored summary, exactly once.

The worker (live room) and `simulate` (fake room) both run a call through `RoomCall`, so ending a
call (last human gone, room closed, job shut down, Ctrl-C) always takes the same path: stop the
readers, let the session drain and store everything, store the summary and queue its webhook.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.calls.runner import store_summary
from bot.livekit.room import CallEnd, RoomAnalysis, RoomOptions

if TYPE_CHECKING:
    from bot.delivery.alerts import LiveAlerts
    from bot.pipeline.session import CallSession

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CallOutcome:
    reason: CallEnd
    summary: dict[str, Any]
    room_stats: dict[str, Any]


class RoomCall:
    """Drives `RoomAnalysis` over `room` into `session`; `finish()` is idempotent and safe to race."""

    def __init__(
        self,
        room: Any,
        session: CallSession,
        options: RoomOptions | None = None,
        *,
        webhook_url: str | None = None,
        alerts: LiveAlerts | None = None,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.session = session
        self.alerts = alerts
        self._wake = wake
        self.analysis = RoomAnalysis(room, session, options)
        self._webhook_url = webhook_url
        self._finish_lock = asyncio.Lock()
        self._outcome: CallOutcome | None = None

    async def run(self) -> CallOutcome:
        """Analyse until the call is over, then finish it."""
        self.analysis.start()
        reason = await self.analysis.wait_for_end()
        logger.info("call %s over: %s", self.session.call_id, reason)
        return await self.finish(reason)

    def request_end(self, reason: CallEnd = CallEnd.SHUTDOWN) -> None:
        self.analysis.request_end(reason)

    async def finish(self, reason: CallEnd) -> CallOutcome:
        """Close the readers, drain the pipeline, store the summary and queue the webhook (once)."""
        async with self._finish_lock:
            if self._outcome is not None:
                return self._outcome
            self.analysis.request_end(reason)
            reason = await self.analysis.wait_for_end()  # the first reason given wins
            try:
                await self.analysis.aclose()
            finally:
                # The summary is written even if closing a reader failed: the call must never be lost.
                summary = await self._store_summary(reason)
            self._outcome = CallOutcome(reason=reason, summary=summary, room_stats=self.analysis.stats())
            return self._outcome

    async def _store_summary(self, reason: CallEnd) -> dict[str, Any]:
        return await store_summary(
            self.session, self.alerts, webhook_url=self._webhook_url, end_reason=str(reason), wake=self._wake
        )
