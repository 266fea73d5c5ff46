"""The shared `serve` gateway: health, sources mounted, drain on stop, start-up refusals."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
from aiohttp import web

from bot.gateway.server import GatewayContext


class EchoSource:
    """A minimal source: one route, a counter in its health, a drain that is recorded."""

    name = "echo"

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx
        self.closed = False
        self.calls = 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/echo", self._echo)

    async def _echo(self, request: web.Request) -> web.Response:
        self.calls += 1
        return web.Response(body=await request.read())

    def health(self) -> dict[str, object]:
        return {"active_streams": self.calls}

    async def aclose(self) -> None:
        self.closed = True


async def test_health_lists_sources_and_stop_drains_them(serve_app):
    sources: list[EchoSource] = []
    gateway = await serve_app(lambda ctx: sources.append(EchoSource(ctx)) or sources)
    async with httpx.AsyncClient(base_url=gateway.base_url) as client:
        assert (await client.post("/echo", content=b"hi")).content == b"hi"
        health = (await client.get("/healthz")).json()
    assert health["status"] == "ok"
    assert health["sources"] == {"echo": {"active_streams": 1}}
    assert health["active_streams"] == 1
    await gateway.close()
    assert sources[0].closed


def test_serve_refuses_an_unknown_source(tmp_path):
    env = {**os.environ, "EMOTION_BOT_DB": str(tmp_path / "x.db")}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--source", "skype"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert "unknown source(s) ['skype']" in done.stderr
