"""Several gateways sharing PostgreSQL, and a `serve` process killed with SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.calls.recovery import finalise_crashed_calls
from bot.gateway.server import GatewayContext, run_gateway
from bot.zoom.config import ZoomOptions
from bot.zoom.source import ZoomSource
from storage import claims
from storage.db import Database
from storage.models import ObservationRow
from storage.repository import get_call
from tests.storage.db_fixtures import pg_url  # noqa: F401
from tests.zoom.conftest import CREDENTIALS, FAST_CLIENT, meeting
from tests.zoom.test_end_to_end import post, wait_for

pytestmark = pytest.mark.slow


class Gateway:
    def __init__(self, port: int) -> None:
        self.base_url = f"http://127.0.0.1:{port}"


async def start_gateway(models, database: Database, owner: str):
    ctx = GatewayContext(models=models, database=database)
    source = ZoomSource(
        ctx, CREDENTIALS, ZoomOptions(heartbeat_s=0.3), client_options=FAST_CLIENT, owner=owner
    )
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_gateway(ctx, [source], host="127.0.0.1", port=0, stop=stop, on_ready=ready.set_result)
    )
    return Gateway(await asyncio.wait_for(ready, 30)), source, stop, task


@pytest.mark.postgres
async def test_two_gateways_sharing_postgresql_open_one_connection(models, pg_url, fake_zoom, people):  # noqa: F811
    Database(pg_url).upgrade()
    databases = [Database(pg_url), Database(pg_url)]  # separate engines and pools, as two processes have
    (gw_a, src_a, stop_a, task_a), (gw_b, src_b, stop_b, task_b) = [
        await start_gateway(models, db, owner)
        for db, owner in zip(databases, ("proc-a", "proc-b"), strict=True)
    ]
    fake = await fake_zoom(meeting(people))
    body = fake.webhook_started()
    # The load balancer hands Zoom's retry to the other process, at the same moment.
    answers = await asyncio.gather(post(gw_a, body), post(gw_b, body))
    assert [status for status, _ in answers] == [200, 200]
    await wait_for(lambda: fake.stats.sent["audio"] > 100, 30)
    assert fake.stats.signaling_connections == 1
    owner = claims.get_claim(databases[0], fake.meeting.rtms_stream_id).owner
    owning, other = (src_a, src_b) if owner == "proc-a" else (src_b, src_a)
    assert owning.health()["active_streams"] == 1 and other.health()["active_streams"] == 0
    # Zoom's stop reaches the process that does not stream it: the owner ends the call anyway.
    assert (await post(gw_b if owning is src_a else gw_a, fake.webhook_stopped(6)))[0] == 200
    await asyncio.wait_for(owning.wait_idle(), 30)
    (stream,) = [s for s in owning.finished if s.summary is not None]
    assert stream.summary["end_reason"] == "zoom_stop_reason:6" and stream.summary["status"] == "finished"
    for stop, task in ((stop_a, task_a), (stop_b, task_b)):
        stop.set()
        await asyncio.wait_for(task, 60)
    for db in databases:
        db.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_sigkilled_serve_leaves_a_partial_call_for_the_next_start(tmp_path: Path, fake_zoom, people):
    db_path = tmp_path / "calls.db"
    port = free_port()
    env = {
        **os.environ,
        "ZOOM_CLIENT_ID": CREDENTIALS.client_id,
        "ZOOM_CLIENT_SECRET": CREDENTIALS.client_secret,
        "ZOOM_SECRET_TOKEN": CREDENTIALS.secret_token,
        "EMOTION_BOT_DB": str(db_path),
    }
    Database(str(db_path)).upgrade()
    cli = Path(sys.executable).parent / "emotion-bot"
    proc = subprocess.Popen(
        [str(cli), "serve", "--source", "zoom", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        gateway = Gateway(port)
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"{gateway.base_url}/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                await asyncio.sleep(0.2)
        fake = await fake_zoom(meeting(people))
        assert (await post(gateway, fake.webhook_started()))[0] == 200
        database = Database(str(db_path))

        def stored() -> int:
            with database.session() as s:
                return s.scalar(select(func.count()).select_from(ObservationRow))

        for _ in range(300):
            if await asyncio.to_thread(stored) >= 4:
                break
            await asyncio.sleep(0.2)
        assert await asyncio.to_thread(stored) >= 4
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    claim = claims.get_claim(database, fake.meeting.rtms_stream_id)
    assert claim.released_at is None and claim.call_id
    with database.session() as s:
        assert get_call(s, claim.call_id).status == "active"
    # What the next `serve` start runs (stale_after_s=0: we do not wait the 2 minutes here).
    assert finalise_crashed_calls(database, default_webhook_url=None, stale_after_s=0) == [claim.call_id]
    with database.session() as s:
        assert get_call(s, claim.call_id).status == "partial"
    # The dead process's claim goes stale: a restarted stream with the same id can be taken.
    assert claims.claim_stream(
        database, fake.meeting.rtms_stream_id, source="zoom", owner="next", stale_after_s=0
    )
    database.dispose()
