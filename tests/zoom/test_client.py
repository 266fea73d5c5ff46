"""The RTMS client against the fake server over real WebSockets (no models): handshakes, keep-alives,
reconnects, the end of a stream, and bad input counted and skipped."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import subprocess
from pathlib import Path

import pytest

from bot.zoom.client import ClientOptions, RtmsClient
from bot.zoom.fake import FakeParticipant
from bot.zoom.messages import EventUpdate, MediaPacket
from bot.zoom.webhook import parse_start
from tests.zoom.conftest import CREDENTIALS, meeting
from tests.zoom.test_end_to_end import wait_for

FAST = ClientOptions(reconnect_window_s=2.0, receive_timeout_s=5.0, backoff_s=(0.05, 0.1, 0.2))


class Recorder:
    def __init__(self) -> None:
        self.media: list[MediaPacket] = []
        self.events: list[EventUpdate] = []

    async def on_media(self, packet: MediaPacket) -> None:
        self.media.append(packet)

    async def on_event(self, event: EventUpdate) -> None:
        self.events.append(event)

    def count(self, kind: str) -> int:
        return sum(1 for p in self.media if p.kind == kind)


def client_for(fake, sink, options: ClientOptions = FAST) -> RtmsClient:
    return RtmsClient(parse_start(json.loads(fake.webhook_started())), CREDENTIALS, sink, options)


@pytest.fixture
def two(face_jpgs):
    import numpy as np

    tone = (np.sin(np.arange(16000) / 5) * 3000).astype(np.int16)
    return [
        FakeParticipant(1, "A", tone, face_jpgs),
        FakeParticipant(2, "B", tone, face_jpgs, announced=False),
    ]


async def test_handshakes_keepalives_and_events(fake_zoom, two):
    fake = await fake_zoom(meeting(two), keepalive_s=0.2)
    sink = Recorder()
    client = client_for(fake, sink)
    task = asyncio.create_task(client.run())
    await wait_for(lambda: fake.stats.keepalive_answers["media"] >= 3 and sink.count("video") >= 2, 15)
    assert fake.stats.keepalive_answers["signaling"] >= 3
    subscribed = {e["event_type"] for e in fake.stats.subscriptions[0]["events"]}
    assert subscribed == {2, 3, 4, 8, 9}
    assert {p.user_id for p in sink.media if p.kind == "audio"} == {"1", "2"}  # per speaker
    assert {3, 2} <= {e.event_type for e in sink.events}
    assert fake.stats.media_handshakes[0]["media_params"]["audio"]["sample_rate"] == 1  # 16 kHz
    await fake.end_stream(stop_reason=6)
    end = await asyncio.wait_for(task, 5)
    assert (end.kind, end.stop_reason, end.detail) == ("stopped", 6, "zoom_stop_reason:6")


async def test_media_before_the_media_handshake_answer_is_used(fake_zoom, two):
    # Zoom's own mock never answers the media handshake and relays media regardless.
    fake = await fake_zoom(meeting(two), answer_media_handshake=False, send_media_before_ready=True)
    sink = Recorder()
    task = asyncio.create_task(client_for(fake, sink).run())
    await wait_for(lambda: sink.count("audio") > 20, 10)
    await wait_for(lambda: fake.stats.ready_acks == 1, 10)  # sent anyway, after the fallback delay
    task.cancel()


async def test_separate_media_sockets(fake_zoom, two):
    fake = await fake_zoom(meeting(two), separate_media_urls=True)
    sink = Recorder()
    client = client_for(fake, sink)
    task = asyncio.create_task(client.run())
    await wait_for(lambda: sink.count("audio") > 10 and sink.count("video") >= 1, 10)
    assert {"audio", "video"} <= client.connected and fake.stats.media_connections == 2
    task.cancel()


async def test_dropped_media_socket_reconnects(fake_zoom, two):
    fake = await fake_zoom(meeting(two))
    sink = Recorder()
    client = client_for(fake, sink)
    task = asyncio.create_task(client.run())
    await wait_for(lambda: sink.count("audio") > 10)
    await fake.drop_media()
    before = sink.count("audio")
    await wait_for(lambda: fake.stats.media_connections == 2 and sink.count("audio") > before + 20, 10)
    assert client.connections["all"] == 2 and client.connections["signaling"] == 1
    await fake.drop_all()  # both sockets: signaling reconnects with a new handshake
    await wait_for(lambda: client.connections["signaling"] == 2 and fake.stats.ready_acks == 2, 10)
    assert not task.done()
    task.cancel()


async def test_sockets_gone_beyond_the_window_end_the_stream(fake_zoom, two):
    fake = await fake_zoom(meeting(two))
    sink = Recorder()
    task = asyncio.create_task(client_for(fake, sink).run())
    await wait_for(lambda: sink.count("audio") > 10)
    await fake.close()  # Zoom unreachable from now on
    end = await asyncio.wait_for(task, 10)
    assert end.kind == "lost" and end.detail == "connection_lost"


async def test_refused_handshake_ends_with_the_status(fake_zoom, two):
    fake = await fake_zoom(meeting(two), refuse_status=18)
    end = await asyncio.wait_for(client_for(fake, Recorder()).run(), 10)
    assert (end.kind, end.status_code, end.detail) == ("refused", 18, "zoom_status:18")
    assert fake.stats.refused["18"] == 1  # not retried: it would only be refused again


async def test_wrong_secret_is_refused(fake_zoom, two):
    from dataclasses import replace

    fake = await fake_zoom(meeting(two))
    start = parse_start(json.loads(fake.webhook_started()))
    client = RtmsClient(start, replace(CREDENTIALS, client_secret="wrong"), Recorder(), FAST)
    end = await asyncio.wait_for(client.run(), 10)
    assert end.kind == "refused" and end.status_code == 3


async def test_bad_input_is_counted_and_skipped(fake_zoom, two):
    fake = await fake_zoom(meeting(two))
    sink = Recorder()
    client = client_for(fake, sink)
    task = asyncio.create_task(client.run())
    await wait_for(lambda: sink.count("audio") > 5)
    good = base64.b64encode(b"\x01\x00" * 320).decode()
    for raw in (
        "{not json",
        "[1, 2]",
        json.dumps({"msg_type": 14, "content": {"user_id": 1, "data": "***not base64***"}}),
        json.dumps({"msg_type": 14, "content": {"user_id": 1, "data": 5}}),
        json.dumps({"msg_type": 14, "content": 7}),
        json.dumps({"msg_type": 99, "foo": 1}),
        json.dumps({"msg_type": 15, "content": {"user_id": 1, "data": "x" * (5 << 20)}}),  # oversized
        b"\xff\xfe binary",
    ):
        await fake.send_media_raw(raw)
    # Accepted liberally: content as a JSON string, user_id as a string.
    await fake.send_media_raw(
        json.dumps({"msg_type": 14, "content": json.dumps({"user_id": "7", "data": good})})
    )
    await wait_for(lambda: any(p.user_id == "7" for p in sink.media), 5)
    counted = client.counters
    for reason in (
        "malformed_json",
        "not_an_object",
        "bad_base64",
        "bad_data",
        "bad_content",
        "unknown_type_99",
    ):
        assert counted[reason] == 1, (reason, counted)
    assert counted["oversized"] == 1 and counted["binary"] == 1
    before = sink.count("audio")
    await wait_for(lambda: sink.count("audio") > before + 10, 5)  # the stream goes on
    assert not task.done()
    task.cancel()


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    folder: Path = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


async def test_wss(fake_zoom, two, tls):
    server_ctx, client_ctx = tls
    fake = await fake_zoom(meeting(two), ssl_context=server_ctx)
    assert fake.base_url.startswith("wss://")
    sink = Recorder()
    options = ClientOptions(reconnect_window_s=2.0, backoff_s=(0.05,), ssl_context=client_ctx)
    task = asyncio.create_task(client_for(fake, sink, options).run())
    await wait_for(lambda: sink.count("audio") > 10 and sink.count("video") >= 1, 10)
    task.cancel()
