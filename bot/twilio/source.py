"""The Twilio source of `emotion-bot serve`: `GET /twilio/media`, Twilio's Media Streams WebSocket.

The upgrade is authenticated before anything else (`X-Twilio-Signature` with TWILIO_AUTH_TOKEN,
`signature.py`): an unsigned or wrongly signed request gets 403 and no socket, so no audio is ever
read from it. Each accepted socket is a `TwilioStream` run as a task this source owns, so a call is
finished (summary, outbox, alerts) even if aiohttp gives up on the handler, and SIGTERM can end every
call cleanly (`aclose`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, web

from bot.calls.lifecycle import CallEnd
from bot.config import ConfigError
from bot.twilio.signature import SignatureChecker
from bot.twilio.stream import StreamOptions, TwilioStream

if TYPE_CHECKING:
    from bot.gateway.server import GatewayContext

logger = logging.getLogger(__name__)

ROUTE = "/twilio/media"
AUTH_TOKEN_ENV = "TWILIO_AUTH_TOKEN"
# Twilio's largest message is `start` (parameters: ours are capped at 64 x 4 KiB by messages.py);
# media messages are ~400 bytes. Anything beyond this is not Twilio: aiohttp closes it with 1009.
MAX_MESSAGE_BYTES = 1 << 18
CLOSE_TIMEOUT_S = 3.0  # how long we wait for the client's close frame


def check_config(env: Mapping[str, str]) -> None:
    if not env.get(AUTH_TOKEN_ENV, "").strip():
        raise ConfigError(
            f"{AUTH_TOKEN_ENV} is not set: it is the Twilio account's auth token, needed to check "
            "that media streams come from Twilio"
        )


def build_source(ctx: GatewayContext, options: argparse.Namespace | None = None) -> TwilioSource:
    import os

    check_config(os.environ)
    return TwilioSource(ctx, os.environ[AUTH_TOKEN_ENV].strip())


class TwilioSource:
    name = "twilio"

    def __init__(
        self, ctx: GatewayContext, auth_token: str, *, stream_options: StreamOptions | None = None
    ) -> None:
        self.ctx = ctx
        try:
            self._checker = SignatureChecker(auth_token, ctx.public_url)
        except ValueError as exc:
            raise ConfigError(f"--public-url / EMOTION_BOT_PUBLIC_URL: {exc}") from exc
        self._options = stream_options or StreamOptions()
        self._streams: dict[asyncio.Task[None], TwilioStream] = {}
        self._totals: Counter[str] = Counter()
        self._closing = False

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(ROUTE, self._handle)

    def health(self) -> dict[str, Any]:
        return {"active_streams": len(self._streams), **dict(sorted(self._totals.items()))}

    @property
    def streams(self) -> list[TwilioStream]:
        return list(self._streams.values())

    async def aclose(self) -> None:
        self._closing = True
        streams = list(self._streams.values())
        await asyncio.gather(
            *(
                s.request_close(WSCloseCode.GOING_AWAY, "server shutting down", CallEnd.SHUTDOWN)
                for s in streams
            ),
            return_exceptions=True,
        )
        if self._streams:
            await asyncio.gather(*self._streams, return_exceptions=True)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not self._checker.check(
            headers=request.headers, path_qs=request.path_qs, host=request.host, secure=request.secure
        ):
            self._totals["refused:signature"] += 1
            logger.warning(
                "twilio: refused an upgrade from %s: X-Twilio-Signature missing or wrong", request.remote
            )
            raise web.HTTPForbidden(text="X-Twilio-Signature missing or invalid\n")
        if self._closing:
            self._totals["refused:draining"] += 1
            raise web.HTTPServiceUnavailable(text="shutting down\n")
        ws = web.WebSocketResponse(
            max_msg_size=MAX_MESSAGE_BYTES,
            heartbeat=self._options.heartbeat_s,
            timeout=CLOSE_TIMEOUT_S,
            autoping=True,
        )
        if not ws.can_prepare(request).ok:
            self._totals["refused:not_websocket"] += 1
            raise web.HTTPBadRequest(text="expected a WebSocket upgrade\n")
        await ws.prepare(request)
        stream = TwilioStream(self.ctx, ws, self._options, self._totals)
        task = asyncio.get_running_loop().create_task(self._run(stream), name="twilio stream")
        self._streams[task] = stream
        task.add_done_callback(self._streams.pop)
        # Shielded: aiohttp cancelling the handler must not cancel the call's summary.
        await asyncio.shield(task)
        return ws

    async def _run(self, stream: TwilioStream) -> None:
        try:
            await stream.run()
        except Exception:
            # One broken stream must not take the others down; the call (if any) stays `active`
            # and crash recovery finalises it on the next start.
            self._totals["errors"] += 1
            logger.exception("twilio %s: stream failed", stream.label)
