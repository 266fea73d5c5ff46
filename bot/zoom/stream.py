"""One RTMS stream from claim to stored summary.

The process first claims the stream id in the database (`storage.claims`): a process that loses
the claim (another one already streams it) opens no connection at all. The winner opens the call
(`CallRunner`, source "zoom", the meeting's ids under `metadata["zoom"]`), runs the RTMS client
into `ZoomParticipants`, renews its claim while it streams (seeing a stop that another process
received) and finishes the call exactly once:

| end                                     | call end reason   | summary |
|-----------------------------------------|-------------------|---------|
| rtms_stopped / stream or session stopped | stream_stopped, or zoom_stop_reason:N | complete |
| handshake refused (non-zero status)      | zoom_status:N     | partial |
| no socket for the reconnect window       | connection_lost   | partial |
| SIGTERM (`stop()`)                       | shutdown          | complete |
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bot.calls.lifecycle import CallEnd, LifecycleOptions
from bot.calls.runner import CallRunner
from bot.zoom.client import ClientOptions, RtmsClient, StreamEnd
from bot.zoom.config import ZoomCredentials, ZoomOptions
from bot.zoom.participants import ZoomParticipants
from bot.zoom.rotation import VideoRotation
from bot.zoom.timeline import StreamClock
from bot.zoom.webhook import StreamStart
from storage import claims

if TYPE_CHECKING:
    from bot.gateway.server import GatewayContext

logger = logging.getLogger(__name__)

SOURCE = "zoom"
# Zoom ends the call (rtms_stopped); the lifecycle's own timers are only a backstop for a stream
# that stays up with nobody in it.
EMPTY_GRACE_S = 300.0
NO_SHOW_TIMEOUT_S = 1800.0


class ZoomStream:
    def __init__(
        self,
        ctx: GatewayContext,
        start: StreamStart,
        credentials: ZoomCredentials,
        options: ZoomOptions,
        *,
        owner: str,
        client_options: ClientOptions | None = None,
    ) -> None:
        self.ctx = ctx
        self.start = start
        self.options = options
        self.owner = owner
        self.counters: Counter[str] = Counter()
        self.summary: dict[str, Any] | None = None
        self.claimed = False
        self.runner: CallRunner | None = None
        self._credentials = credentials
        # What Zoom is asked for always follows the source's options; timings may be overridden.
        base = client_options or ClientOptions(
            reconnect_window_s=options.reconnect_window_s, receive_timeout_s=options.receive_timeout_s
        )
        self._client_options = replace(base, video_fps=options.video_fps, video_mode=options.video_mode)
        self.client: RtmsClient | None = None
        self._pending_end: StreamEnd | None = None

    @property
    def stream_id(self) -> str:
        return self.start.rtms_stream_id

    def stop(self, end: StreamEnd) -> None:
        """End the stream from outside (rtms_stopped webhook, SIGTERM); the first end wins."""
        if self.client is not None:
            self.client.stop(end)
        elif self._pending_end is None:
            self._pending_end = end

    async def run(self) -> dict[str, Any] | None:
        """Claim, stream, finish. None when another process owns the stream (nothing was opened)."""
        db = self.ctx.database
        self.claimed = await asyncio.to_thread(
            claims.claim_stream,
            db,
            self.stream_id,
            source=SOURCE,
            owner=self.owner,
            stale_after_s=self.options.claim_stale_s,
        )
        if not self.claimed:
            logger.info("zoom stream %s is handled by another process: not connecting", self.stream_id)
            return None
        try:
            return await self._run_claimed()
        finally:
            with contextlib.suppress(Exception):  # a database outage: the claim goes stale by itself
                await asyncio.to_thread(claims.release_claim, db, self.stream_id, self.owner)

    async def _run_claimed(self) -> dict[str, Any]:
        start = self.start
        host = start.operator_id
        self.runner = runner = await CallRunner.open(
            self.ctx,
            room=f"zoom:{start.meeting_uuid}",
            source=SOURCE,
            metadata={"zoom": start.metadata()},
            options=LifecycleOptions(
                empty_grace_s=EMPTY_GRACE_S,
                no_show_timeout_s=NO_SHOW_TIMEOUT_S,
                host_identity=host,
                policy=self.ctx.policy,
            ),
        )
        await asyncio.to_thread(
            claims.attach_call, self.ctx.database, self.stream_id, self.owner, runner.session.call_id
        )
        clock = StreamClock(start.event_ts_ms, self.counters)
        rotation: VideoRotation | None = None
        client_box: list[RtmsClient] = []
        if self.options.video_mode == "individual":
            rotation = VideoRotation(lambda uid: client_box[0].subscribe_video(uid), self.options.rotate_s)
        sink = ZoomParticipants(runner.lifecycle, clock, self.counters, host_user_id=host, rotation=rotation)
        self.client = client = RtmsClient(start, self._credentials, sink, self._client_options, self.counters)
        client_box.append(client)
        if self._pending_end is not None:
            client.stop(self._pending_end)
        helpers = [
            asyncio.create_task(self._heartbeat(client)),
            asyncio.create_task(self._lifecycle_end(client)),
        ]
        if rotation is not None:
            helpers.append(asyncio.create_task(rotation.run()))
        try:
            end = await client.run()
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await sink.aclose()
        reason, partial = _call_end(end, runner.lifecycle.end_reason)
        if end.status_code:
            logger.error("zoom stream %s: Zoom status %d (%s)", self.stream_id, end.status_code, end.detail)
        skipped = {k: v for k, v in self.counters.items() if not k.endswith(("_packets", "_frames"))}
        logger.info(
            "zoom stream %s ended (%s); skipped: %s",
            self.stream_id,
            end.detail or end.kind,
            skipped or "nothing",
        )
        self.summary = await runner.finish(reason, partial=partial, detail=end.detail or None)
        return self.summary

    async def _heartbeat(self, client: RtmsClient) -> None:
        """Renew the claim; a stop another process received, or a lost claim, ends the stream."""
        while True:
            await asyncio.sleep(self.options.heartbeat_s)
            try:
                state = await asyncio.to_thread(
                    claims.renew_claim, self.ctx.database, self.stream_id, self.owner
                )
            except Exception as exc:  # the database away: keep streaming, results stay in memory
                logger.warning("zoom stream %s: claim not renewed: %r", self.stream_id, exc)
                continue
            if state.stop_requested:
                detail = f"zoom_stop_reason:{state.stop_reason}" if state.stop_reason else "stream_stopped"
                client.stop(StreamEnd("stopped", stop_reason=state.stop_reason, detail=detail))
            elif not state.owned:
                logger.error(
                    "zoom stream %s: claim taken over by another process; disconnecting", self.stream_id
                )
                client.stop(StreamEnd("closed", detail="claim_lost"))

    async def _lifecycle_end(self, client: RtmsClient) -> None:
        assert self.runner is not None
        reason = await self.runner.lifecycle.wait_for_end()
        client.stop(StreamEnd("closed", detail=str(reason)))


def _call_end(end: StreamEnd, lifecycle_reason: CallEnd | None) -> tuple[CallEnd, bool]:
    if end.kind == "stopped":
        return CallEnd.STREAM_STOPPED, False
    if end.kind in ("lost", "refused"):
        return CallEnd.CONNECTION_LOST, True
    if lifecycle_reason is not None:
        return lifecycle_reason, False
    return (CallEnd.SHUTDOWN, False) if end.detail in ("", "shutdown") else (CallEnd.CONNECTION_LOST, True)
