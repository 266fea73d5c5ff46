"""`emotion-bot serve`: one asyncio web server that the streaming sources share.

Zoom (webhooks + RTMS client) and Twilio (Media Streams WebSocket) each mount their routes on the
same aiohttp application as a `GatewaySource`; everything after the adapter (lifecycle, pipeline,
storage, summary, outbox, alerts) is the same `CallRunner` the LiveKit worker's calls use. The
server also runs the process's webhook sender and, at start, finalises calls a killed `serve` left
active (partial summaries). SIGTERM stops taking new calls, lets every source finish its calls
(complete summaries), then exits.

aiohttp: already installed with livekit-agents, mature, and serves plain HTTP and WebSocket routes
from one asyncio application (Twilio's stream is a WebSocket upgrade on the same port as Zoom's
webhook).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from aiohttp import web

from bot.calls.runner import CallContext

logger = logging.getLogger(__name__)

PUBLIC_URL_ENV = "EMOTION_BOT_PUBLIC_URL"
DRAIN_TIMEOUT_S = 120.0  # finishing calls drains queued inference and writes summaries


@dataclass(frozen=True, slots=True)
class GatewayContext(CallContext):
    """`CallContext` plus what only a web-facing process knows."""

    public_url: str | None = None  # e.g. https://bot.example.com behind a TLS-terminating proxy


class GatewaySource(Protocol):
    """A platform adapter mounted on the gateway."""

    name: str

    def add_routes(self, app: web.Application) -> None: ...

    def health(self) -> dict[str, Any]: ...

    async def aclose(self) -> None:
        """End every running call (complete summaries) and close the platform's sockets."""
        ...


# Each source module exposes `check_config(env: Mapping[str, str]) -> None` (raises
# bot.config.ConfigError naming the missing setting) and
# `build_source(ctx: GatewayContext, options: argparse.Namespace) -> GatewaySource`.
SOURCE_MODULES = {"zoom": "bot.zoom.source", "twilio": "bot.twilio.source"}


def available_sources() -> dict[str, ModuleType]:
    """The sources `serve` can run, by name (a source not built in this checkout is left out)."""
    found: dict[str, ModuleType] = {}
    for name, module_name in SOURCE_MODULES.items():
        try:
            found[name] = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module_name.startswith(exc.name):
                raise  # the source exists but something it needs is missing: say so

    return found


class Gateway:
    """The aiohttp application with the sources' routes and `GET /healthz`."""

    def __init__(self, ctx: GatewayContext, sources: Sequence[GatewaySource]) -> None:
        self.ctx = ctx
        self.sources = list(sources)
        self.app = web.Application(client_max_size=1 << 20)
        self.app.router.add_get("/healthz", self._healthz)
        for source in self.sources:
            source.add_routes(self.app)
        self._started = time.monotonic()
        self._draining = False

    async def _healthz(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = {
            "status": "draining" if self._draining else "ok",
            "uptime_s": round(time.monotonic() - self._started, 1),
            "sources": {source.name: source.health() for source in self.sources},
        }
        body["active_streams"] = sum(int(s.get("active_streams", 0)) for s in body["sources"].values())
        body["engine"] = self.ctx.models.engine.stats  # batching and face/voice/VAD thread load, all sources
        return web.json_response(body, status=503 if self._draining else 200)

    async def aclose(self) -> None:
        """Finish every source's calls (each source bounds its own waiting)."""
        self._draining = True
        results = await asyncio.gather(*(s.aclose() for s in self.sources), return_exceptions=True)
        for source, result in zip(self.sources, results, strict=True):
            if isinstance(result, BaseException):
                logger.error("source %s did not close cleanly: %r", source.name, result)


async def run_gateway(
    ctx: GatewayContext,
    sources: Sequence[GatewaySource],
    *,
    host: str,
    port: int,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or `stop`), then drain. `on_ready(port)` once listening."""
    gateway = Gateway(ctx, sources)
    runner = web.AppRunner(gateway.app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = int(runner.addresses[0][1]) if runner.addresses else port
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    logger.info(
        "serving on http://%s:%d (sources: %s)", host, bound, ", ".join(s.name for s in sources) or "none"
    )
    if on_ready is not None:
        on_ready(bound)
    try:
        await stop.wait()
        logger.info("stopping: finishing running calls")
        await asyncio.wait_for(gateway.aclose(), DRAIN_TIMEOUT_S)
    except TimeoutError:
        logger.error("calls did not finish within %.0f s; the next start finalises them", DRAIN_TIMEOUT_S)
    finally:
        await runner.cleanup()
