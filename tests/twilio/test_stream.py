"""End to end: a Twilio-like client sends Twilio's documented messages with real EmoDB speech
(mu-law, 20 ms frames, real pace) over a real WebSocket into the real gateway, models and SQLite."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import sqlite3

import httpx
import numpy as np
import pytest
from websockets.exceptions import InvalidStatus

from bot.twilio.client import Messages, StreamIds, connect, mulaw_frames, stream_call
from bot.twilio.source import ROUTE
from storage.repository import latest_summary
from storage.timeline import load_call_timeline
from tests.twilio.conftest import AUTH_TOKEN

CALLER_NUMBER = "+4915112345689"
ANGRY = ("08a01Wa.wav", "08a02Wc.wav")  # speaker 08 (female), anger, 2 s each
HAPPY = ("10a02Fa.wav", "10a04Fd.wav")  # speaker 10 (male), happiness


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * 8000), dtype=np.int16)


def call_ids(database) -> list[str]:
    with sqlite3.connect(database.url.database) as db:
        return [row[0] for row in db.execute("select id from calls order by started_at")]


def dump(database) -> str:
    with sqlite3.connect(database.url.database) as db:
        return "\n".join(db.iterdump())


def speech_files(emodb_speech, names: tuple[str, ...]) -> np.ndarray:
    return emodb_speech(*names)


async def test_two_track_call_is_analysed_apart_with_gaps_kept_and_number_masked(
    twilio_gateway, emodb_speech, database, caplog
):
    caplog.set_level(logging.DEBUG)
    gateway, source = await twilio_gateway()
    caller_speech = speech_files(emodb_speech, ANGRY)  # 4 s
    agent_speech = speech_files(emodb_speech, HAPPY)
    # caller: speaks 0-4 s, nothing is sent 4-6 s (a hold), speaks again 6-8 s; agent: speaks 4-8 s
    caller = np.concatenate([caller_speech, silence(2.0), caller_speech[: 2 * 8000]])
    agent = np.concatenate([silence(4.0), agent_speech])
    ids = StreamIds()
    result = await stream_call(
        gateway.ws_url + ROUTE,
        AUTH_TOKEN,
        {"inbound": caller, "outbound": agent},
        params={
            "deal_id": "4711",
            "host_identity": "rep-7",
            "webhook_url": "https://crm.example/hooks/emotion",
            "crm": json.dumps({"stage": "demo"}),
            "caller_number": CALLER_NUMBER,
        },
        ids=ids,
        gaps_ms={"inbound": [(4000, 6000)]},
    )
    assert result.close_code == 1000 and result.late_s < 0.5
    await _wait_finished(source)
    [call_id] = call_ids(database)
    summary = latest_summary(database, call_id)
    assert summary["source"] == "twilio" and summary["status"] == "finished"
    assert summary["end_reason"] == "stream_stopped"
    timeline = load_call_timeline(database, call_id)
    call = timeline.call
    assert call.room == ids.call_sid and call.source == "twilio"
    assert call.metadata_["twilio"]["call_sid"] == ids.call_sid
    assert call.metadata_["twilio"]["stream_sid"] == ids.stream_sid
    assert call.metadata_["deal_id"] == "4711" and call.metadata_["crm"] == {"stage": "demo"}
    people = {p.identity: p for p in timeline.participants}
    assert set(people) == {"caller", "rep-7"}
    assert (people["caller"].kind, people["caller"].role) == ("sip", "caller")
    assert people["caller"].phone_number == "+4915*******89"
    assert people["rep-7"].role == "host"  # host_identity names the agent leg: per-host reports find it
    voice = {who: [o for o in obs if o.modality == "voice"] for who, obs in timeline.observations.items()}
    assert voice["caller"] and voice["rep-7"]
    # the tracks are kept apart: the agent was silent for the first 4 s, the caller spoke then
    assert min(o.t_start for o in voice["rep-7"]) >= 3.5
    assert any(o.t_end <= 4.5 for o in voice["caller"])
    # the gap stays a gap: nothing of the caller inside it, speech after it placed after it
    assert not [o for o in voice["caller"] if o.t_end > 4.2 and o.t_start < 5.9]
    assert any(o.t_start >= 5.9 for o in voice["caller"])
    # the raw number is nowhere: not in the database, not in the logs
    digits = CALLER_NUMBER.lstrip("+")
    assert digits not in dump(database) and digits not in caplog.text
    health = source.health()
    assert health["calls_finished"] == 1 and health["gaps"] == 1 and health["audio_dropped_ms"] == 0


async def _wait_finished(source, count: int = 1, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while source.health().get("calls_finished", 0) < count or source.health()["active_streams"]:
        assert loop.time() < deadline, f"calls not finished: {source.health()}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("signature", ["", "d3Jvbmc=", "other-token"])
async def test_a_badly_signed_upgrade_is_refused_before_any_audio(twilio_gateway, database, signature):
    gateway, source = await twilio_gateway()
    url = gateway.ws_url + ROUTE
    if signature == "other-token":
        from bot.twilio.signature import sign

        signature = sign("not-the-account-token-000000000000", url)
    with pytest.raises(InvalidStatus) as refused:
        await connect(url, None, signature=signature or None)
    assert refused.value.response.status_code == 403
    assert call_ids(database) == []
    assert source.health()["refused:signature"] == 1


async def test_the_signature_is_checked_against_the_public_url(twilio_gateway, database):
    gateway, source = await twilio_gateway(public_url="https://bot.example.com")
    local_url = gateway.ws_url + ROUTE
    with pytest.raises(InvalidStatus):  # signed for the local URL, but Twilio signs the public one
        await connect(local_url, AUTH_TOKEN)
    from bot.twilio.signature import sign

    ws = await connect(local_url, None, signature=sign(AUTH_TOKEN, "wss://bot.example.com" + ROUTE))
    await ws.close()
    assert source.health()["refused:signature"] == 1


async def test_plain_http_get_is_refused(twilio_gateway):
    gateway, _ = await twilio_gateway()
    async with httpx.AsyncClient() as client:
        response = await client.get(gateway.base_url + ROUTE)
    assert response.status_code == 403  # unsigned: refused before anything else


async def test_a_stream_without_start_is_closed(twilio_gateway, database):
    gateway, _ = await twilio_gateway(start_timeout_s=0.5)
    async with await connect(gateway.ws_url + ROUTE, AUTH_TOKEN) as ws:
        await ws.send(Messages().connected())
        await asyncio.wait_for(ws.wait_closed(), 5)
    assert ws.close_code == 1008 and "no start message" in ws.close_reason
    assert call_ids(database) == []


async def test_an_unsupported_media_format_is_refused_with_a_reason(twilio_gateway, database):
    gateway, _ = await twilio_gateway()
    build = Messages()
    async with await connect(gateway.ws_url + ROUTE, AUTH_TOKEN) as ws:
        await ws.send(build.connected())
        await ws.send(build.start(["inbound"], media_format={"encoding": "audio/x-l16", "sampleRate": 16000}))
        await asyncio.wait_for(ws.wait_closed(), 5)
    assert ws.close_code == 1003 and "expected audio/x-mulaw/8000 Hz/mono" in ws.close_reason
    assert call_ids(database) == []


async def test_bad_input_is_counted_and_skipped_and_other_calls_go_on(twilio_gateway, emodb_speech, database):
    gateway, source = await twilio_gateway()
    url = gateway.ws_url + ROUTE
    speech = speech_files(emodb_speech, ANGRY)
    good = asyncio.create_task(stream_call(url, AUTH_TOKEN, {"inbound": speech}))
    build = Messages()
    frames = mulaw_frames(speech[:8000])
    async with await connect(url, AUTH_TOKEN) as ws:
        await ws.send(build.connected())
        await ws.send(build.media("inbound", 0, frames[0]))  # media before start
        await ws.send(build.start(["inbound"]))
        await ws.send(build.start(["inbound"]))  # a second start
        await ws.send("this is not json")
        await ws.send(json.dumps({"event": "hangup"}))
        await ws.send(b"\x00\x01binary")
        bad_b64 = json.loads(build.media("inbound", 0, frames[0]))
        bad_b64["media"]["payload"] = "***not base64***"
        await ws.send(json.dumps(bad_b64))
        await ws.send(build.media("outbound", 0, frames[0]))  # a track start did not announce
        for i, frame in enumerate(frames):
            await ws.send(build.media("inbound", i * 20, frame))
        await ws.send(build.media("inbound", 0, frames[0]))  # a repeat of audio already placed
        await ws.send(json.dumps({"event": "mark", "streamSid": build.ids.stream_sid, "mark": {"name": "x"}}))
        await ws.send(build.stop())
        await asyncio.wait_for(ws.wait_closed(), 30)
    assert ws.close_code == 1000
    assert (await good).close_code == 1000
    await _wait_finished(source, 2)
    health = source.health()
    for key in (
        "media_before_start",
        "duplicate_start",
        "bad_json",
        "unknown_event",
        "binary_frame",
        "bad_base64",
        "unannounced_track",
    ):
        assert health[f"skipped:{key}"] == 1, key
    assert health["late_frames"] == 1
    assert len(call_ids(database)) == 2
    for call_id in call_ids(database):
        assert latest_summary(database, call_id)["status"] == "finished"


async def test_an_oversized_message_closes_that_stream_only(twilio_gateway, database):
    gateway, source = await twilio_gateway()
    build = Messages()
    async with await connect(gateway.ws_url + ROUTE, AUTH_TOKEN) as ws:
        await ws.send(build.connected())
        await ws.send(build.start(["inbound"]))
        await ws.send(json.dumps({"event": "media", "junk": "x" * (1 << 19)}))
        await asyncio.wait_for(ws.wait_closed(), 10)
    assert ws.close_code == 1009
    await _wait_finished(source)
    [call_id] = call_ids(database)
    assert latest_summary(database, call_id)["end_reason"] == "connection_lost"
    assert source.health()["closed:oversized_message"] == 1


async def test_a_client_that_stops_sending_is_closed_and_its_call_finished(twilio_gateway, database):
    gateway, source = await twilio_gateway(idle_timeout_s=0.5)
    build = Messages()
    async with await connect(gateway.ws_url + ROUTE, AUTH_TOKEN) as ws:
        await ws.send(build.connected())
        await ws.send(build.start(["inbound", "outbound"]))
        await asyncio.wait_for(ws.wait_closed(), 10)
    assert ws.close_code == 1008 and "no message for" in ws.close_reason
    await _wait_finished(source)
    assert latest_summary(database, call_ids(database)[0])["end_reason"] == "connection_lost"


async def test_shutdown_finishes_running_calls(twilio_gateway, emodb_speech, database):
    gateway, source = await twilio_gateway()
    speech = speech_files(emodb_speech, ANGRY)
    call = asyncio.create_task(stream_call(gateway.ws_url + ROUTE, AUTH_TOKEN, {"inbound": speech}))
    while not source.health().get("calls_started"):
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    await gateway.close()  # SIGTERM's path
    from websockets.exceptions import ConnectionClosed

    try:
        await call
    except ConnectionClosed as exc:
        assert exc.rcvd is not None and exc.rcvd.code == 1001
    [call_id] = call_ids(database)
    summary = latest_summary(database, call_id)
    assert summary["status"] == "finished" and summary["end_reason"] == "shutdown"


def _client_frame(text: str) -> bytes:
    """One masked text frame, as a client must send it (RFC 6455 5.2), written by hand so that this
    client can do what a library client never does: stop reading (and so never answer a ping)."""
    payload = text.encode()
    mask = os.urandom(4)
    n = len(payload)
    header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def test_a_client_that_stops_reading_is_closed_by_the_heartbeat(twilio_gateway, emodb_speech, database):
    from bot.twilio.signature import sign

    gateway, source = await twilio_gateway(heartbeat_s=0.5, idle_timeout_s=60)
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {ROUTE} HTTP/1.1\r\nHost: 127.0.0.1:{gateway.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"X-Twilio-Signature: {sign(AUTH_TOKEN, gateway.ws_url + ROUTE)}\r\n\r\n"
        ).encode()
    )
    assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
    build = Messages()
    writer.write(_client_frame(build.connected()) + _client_frame(build.start(["inbound"])))
    for i, frame in enumerate(mulaw_frames(speech_files(emodb_speech, ANGRY)[:8000])):
        writer.write(_client_frame(build.media("inbound", i * 20, frame)))
    await writer.drain()
    # from here on nothing is read: pings go unanswered, the close frame too
    loop = asyncio.get_running_loop()
    began = loop.time()
    await _wait_finished(source, timeout=20)
    assert loop.time() - began < 10  # not the 60 s idle timeout
    [call_id] = call_ids(database)
    assert latest_summary(database, call_id)["end_reason"] == "connection_lost"
    writer.close()


async def test_a_socket_closed_without_stop_still_finishes_the_call(twilio_gateway, emodb_speech, database):
    gateway, source = await twilio_gateway()
    speech = speech_files(emodb_speech, ANGRY)
    result = await stream_call(gateway.ws_url + ROUTE, AUTH_TOKEN, {"inbound": speech}, send_stop=False)
    assert result.frames_sent == 200
    await _wait_finished(source)
    summary = latest_summary(database, call_ids(database)[0])
    assert summary["status"] == "finished" and summary["end_reason"] == "connection_lost"
    assert [p["identity"] for p in summary["participants"]] == ["caller"]
