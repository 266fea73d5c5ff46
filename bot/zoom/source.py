"""The Zoom source of `emotion-bot serve`: `POST /zoom/webhook`.

- `endpoint.url_validation` is answered with the plainToken and its HMAC (Zoom's check of the URL).
  When Zoom signs it the signature is checked too; the token must look like Zoom's (URL-safe
  characters only), so the endpoint cannot be used to HMAC an attacker's "v0:{ts}:{body}".
- Every other event needs a valid, recent `x-zm-signature`: otherwise 401 and nothing happens.
- `*.rtms_started` is answered 200 at once; the stream runs as a task this source owns. A retry for
  a stream this process handles is acknowledged and ignored; across processes the database claim
  (see stream.py) decides, so a duplicate never opens a second connection (Zoom would drop the
  first one for it).
- `*.rtms_stopped` ends the stream here, or records the stop for the process that owns it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import secrets
import socket
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.zoom.client import ClientOptions, StreamEnd
from bot.zoom.config import ZoomCredentials, ZoomOptions, credentials_from_env
from bot.zoom.stream import ZoomStream
from bot.zoom.webhook import (
    STARTED_EVENTS,
    STOPPED_EVENTS,
    URL_VALIDATION,
    InvalidWebhook,
    parse_start,
    parse_stop,
    url_validation_answer,
    verify,
)
from storage import claims

if TYPE_CHECKING:
    from bot.gateway.server import GatewayContext

logger = logging.getLogger(__name__)

ROUTE = "/zoom/webhook"
_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9_\-]{1,128}")


def check_config(env: Mapping[str, str]) -> None:
    credentials_from_env(env)


def build_source(ctx: GatewayContext, options: argparse.Namespace | None = None) -> ZoomSource:
    zoom_options = ZoomOptions(
        video_mode=getattr(options, "zoom_video", "speaker") or "speaker",
        rotate_s=float(getattr(options, "zoom_rotate_s", 10.0) or 10.0),
        video_fps=max(1, min(round(ctx.pipeline.video_fps), 5)),
    )
    return ZoomSource(ctx, credentials_from_env(os.environ), zoom_options)


def process_owner_id() -> str:
    """Names this process in stream claims (host, pid and a random part: pids are reused)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class ZoomSource:
    name = "zoom"

    def __init__(
        self,
        ctx: GatewayContext,
        credentials: ZoomCredentials,
        options: ZoomOptions | None = None,
        *,
        client_options: ClientOptions | None = None,
        owner: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.credentials = credentials
        self.options = options or ZoomOptions()
        self.owner = owner or process_owner_id()
        self._client_options = client_options
        self._streams: dict[str, ZoomStream] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.totals: Counter[str] = Counter()
        self.finished: list[ZoomStream] = []
        self._closing = False

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(ROUTE, self._webhook)

    def health(self) -> dict[str, Any]:
        active = sum(1 for s in self._streams.values() if s.claimed)
        return {"active_streams": active, **dict(sorted(self.totals.items()))}

    def stream(self, stream_id: str) -> ZoomStream | None:
        return self._streams.get(stream_id)

    async def wait_idle(self) -> None:
        """Until every stream task of this source is done (tests, simulate)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        self._closing = True
        for stream in list(self._streams.values()):
            stream.stop(StreamEnd("closed", detail="shutdown"))
        await self.wait_idle()

    # -- the webhook -----------------------------------------------------------------------------

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            event = json.loads(body)
            if not isinstance(event, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError):
            return self._refuse("malformed", 400)
        name = str(event.get("event", ""))
        signed = "x-zm-signature" in request.headers
        if name != URL_VALIDATION or signed:
            try:
                verify(
                    self.credentials.secret_token,
                    request.headers,
                    body,
                    tolerance_s=self.options.signature_tolerance_s,
                )
            except InvalidWebhook as exc:
                logger.warning("zoom webhook %r from %s refused: %s", name, request.remote, exc)
                return self._refuse("signature", 401)
        if name == URL_VALIDATION:
            return self._validate(event)
        if name in STARTED_EVENTS:
            return self._started(event)
        if name in STOPPED_EVENTS:
            return await self._stopped(event)
        self.totals[f"ignored:{name or 'unnamed'}"] += 1
        logger.info("zoom webhook %r acknowledged, not handled", name)
        return web.json_response({"status": "ignored"})

    def _validate(self, event: dict[str, Any]) -> web.Response:
        payload = event.get("payload")
        token = payload.get("plainToken") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not _PLAIN_TOKEN.fullmatch(token):
            return self._refuse("bad_validation", 400)
        self.totals["url_validations"] += 1
        return web.json_response(url_validation_answer(self.credentials.secret_token, token))

    def _started(self, event: dict[str, Any]) -> web.Response:
        try:
            start = parse_start(event)
        except InvalidWebhook as exc:
            logger.warning("zoom rtms_started unusable: %s", exc)
            return self._refuse("bad_payload", 400)
        if self._closing:
            # Zoom retries: the retry reaches a process that is not shutting down.
            return self._refuse("draining", 503)
        if start.rtms_stream_id in self._streams:
            self.totals["duplicate_started"] += 1
            logger.info("zoom stream %s: repeated rtms_started ignored", start.rtms_stream_id)
            return web.json_response({"status": "already handling"})
        stream = ZoomStream(
            self.ctx,
            start,
            self.credentials,
            self.options,
            owner=self.owner,
            client_options=self._client_options,
        )
        # Registered before anything awaits: a retry arriving a moment later sees it.
        self._streams[start.rtms_stream_id] = stream
        task = asyncio.get_running_loop().create_task(self._run(stream), name=f"zoom {start.rtms_stream_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.totals["streams_started"] += 1
        return web.json_response({"status": "accepted"})

    async def _stopped(self, event: dict[str, Any]) -> web.Response:
        try:
            stop = parse_stop(event)
        except InvalidWebhook:
            return self._refuse("bad_payload", 400)
        detail = f"zoom_stop_reason:{stop.stop_reason}" if stop.stop_reason else "stream_stopped"
        end = StreamEnd("stopped", stop_reason=stop.stop_reason, detail=detail)
        local = self._streams.get(stop.rtms_stream_id)
        if local is not None and local.claimed:
            local.stop(end)
        else:
            # Maybe another process streams it: its heartbeat reads the stop from the claim row.
            task = asyncio.create_task(
                asyncio.to_thread(
                    claims.request_stop, self.ctx.database, stop.rtms_stream_id, stop.stop_reason
                )
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            if local is not None:
                local.stop(end)  # still claiming: it stops as soon as it has a client
        self.totals["streams_stopped"] += 1
        return web.json_response({"status": "stopping"})

    async def _run(self, stream: ZoomStream) -> None:
        try:
            await stream.run()
        except Exception:
            # One broken stream must not take the others down; its call (if any) stays active and
            # the next start's crash recovery finalises it.
            self.totals["errors"] += 1
            logger.exception("zoom stream %s failed", stream.stream_id)
        finally:
            self._streams.pop(stream.stream_id, None)
            self.finished.append(stream)
            if len(self.finished) > 100:
                del self.finished[:-100]

    def _refuse(self, reason: str, status: int) -> web.Response:
        self.totals[f"refused:{reason}"] += 1
        return web.json_response({"error": reason}, status=status)
