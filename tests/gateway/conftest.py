"""`serve_app`: the real gateway (aiohttp on a free 127.0.0.1 port, in this process) with the real
models and a migrated SQLite database, for sources' end-to-end tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import pytest

from bot.gateway.server import GatewayContext, GatewaySource, run_gateway
from bot.pipeline.models import Models
from storage.db import Database


@dataclass
class RunningGateway:
    ctx: GatewayContext
    port: int
    stop: asyncio.Event
    task: asyncio.Task[None]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def close(self) -> None:
        """SIGTERM's path: every source finishes its calls, then the server stops."""
        self.stop.set()
        await asyncio.wait_for(self.task, 150)


@pytest.fixture
async def serve_app(models: Models, database: Database) -> AsyncIterator[Callable[..., object]]:
    """`await serve_app(build=lambda ctx: [source, ...], **context_fields)` -> RunningGateway."""
    running: list[RunningGateway] = []

    async def start(
        build: Callable[[GatewayContext], Sequence[GatewaySource]], **fields: object
    ) -> RunningGateway:
        ctx = GatewayContext(models=models, database=database, **fields)  # type: ignore[arg-type]
        sources = build(ctx)
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_gateway(ctx, sources, host="127.0.0.1", port=0, stop=stop, on_ready=ready.set_result)
        )
        done, _ = await asyncio.wait({ready, task}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()  # raises what stopped it
        gateway = RunningGateway(ctx=ctx, port=ready.result(), stop=stop, task=task)
        running.append(gateway)
        return gateway

    yield start
    for gateway in running:
        if not gateway.task.done():
            await gateway.close()
