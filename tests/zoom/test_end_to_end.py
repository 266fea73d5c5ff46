"""`serve` with the Zoom source against the in-process fake RTMS server: real WebSockets, real HTTP,
real models, a real SQLite database."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from bot.zoom.fake import signed_headers
from storage import claims
from storage.repository import get_call
from tests.zoom.conftest import CREDENTIALS, meeting

pytestmark = pytest.mark.slow


async def post(gateway, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    headers = signed_headers(CREDENTIALS.secret_token, body) if headers is None else headers
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{gateway.base_url}/zoom/webhook", data=body, headers=headers) as response:
            return response.status, await response.json()


async def wait_for(predicate, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_meeting_is_analysed_and_summarised(zoom_gateway, fake_zoom, people, database):
    gateway, source = await zoom_gateway()
    fake = await fake_zoom(meeting(people, speaker_turn_s=2.0))
    status, answer = await post(gateway, fake.webhook_started(nested=True))
    assert (status, answer) == (200, {"status": "accepted"})
    await wait_for(lambda: fake.stats.sent["video"] >= 16, 60)
    status, _ = await post(gateway, fake.webhook_stopped(6))
    assert status == 200
    await asyncio.wait_for(source.wait_idle(), 60)
    (stream,) = source.finished
    summary = stream.summary
    assert summary["source"] == "zoom"
    assert summary["end_reason"] == "zoom_stop_reason:6"
    assert summary["status"] == "finished"
    zoom = summary["metadata"]["zoom"]
    assert zoom["meeting_uuid"] == fake.meeting.meeting_uuid and zoom["meeting_id"] == "81234567890"
    by_id = {p["identity"]: p for p in summary["participants"]}
    assert set(by_id) == {"16778240", "16779264"}
    assert by_id["16778240"]["display_name"] == "Ana Lopez"
    assert "23456789" not in by_id["16779264"]["display_name"]  # the number in the name is masked
    for person in by_id.values():
        assert person["analysed_seconds"]["voice"] > 0, person
        assert person["face_coverage"] and person["face_coverage"] > 0, person
    handshake = fake.stats.media_handshakes[0]
    assert handshake["media_params"]["audio"]["data_opt"] == 2  # AUDIO_MULTI_STREAMS
    assert handshake["media_params"]["video"]["fps"] == 2 and handshake["media_params"]["video"]["codec"] == 5
    assert fake.stats.ready_acks == 1 and fake.stats.signaling_connections == 1
    claim = claims.get_claim(database, fake.meeting.rtms_stream_id)
    assert (
        claim is not None and claim.released_at is not None and claim.call_id == stream.runner.session.call_id
    )
    with database.session() as s:
        assert get_call(s, claim.call_id).status == "finished"


async def test_individual_video_rotates_and_unannounced_people_join(
    zoom_gateway, fake_zoom, people, face_jpgs, emodb
):
    from bot.zoom.fake import FakeParticipant

    # The host (operator) is announced; the third person was in the meeting before the stream began.
    people.append(
        FakeParticipant(16780288, "ana.lopez@example.com", emodb("08a02Fe.wav"), face_jpgs, announced=False)
    )
    gateway, source = await zoom_gateway(video_mode="individual", rotate_s=1.0)
    fake = await fake_zoom(meeting(people, speaker_turn_s=100.0))
    body = fake.webhook_started().replace(b'"op-host-1"', b'"16778240"')
    assert (await post(gateway, body))[0] == 200
    await wait_for(
        lambda: len(set(fake.stats.video_subscriptions)) >= 2 and fake.stats.sent["video"] >= 12, 60
    )
    assert fake.stats.media_handshakes[0]["media_params"]["video"]["data_opt"] == 4  # individual stream
    # SIGTERM's path: the gateway drains, the call is complete, not partial.
    await gateway.close()
    (stream,) = source.finished
    summary = stream.summary
    assert summary["end_reason"] == "shutdown" and summary["status"] == "finished"
    by_id = {p["identity"]: p for p in summary["participants"]}
    assert by_id["16778240"]["role"] == "host" and by_id["16779264"]["role"] == "participant"
    assert by_id["16780288"]["display_name"] != "ana.lopez@example.com"  # the e-mail is masked
    assert "@" in by_id["16780288"]["display_name"] and "lopez" not in by_id["16780288"]["display_name"]
    covered = [pid for pid, p in by_id.items() if (p["face_coverage"] or 0) > 0]
    assert len(covered) >= 2, by_id  # not only the active speaker's face


async def test_bad_media_does_not_end_the_call(zoom_gateway, fake_zoom, people):
    import base64
    import json

    gateway, source = await zoom_gateway()
    fake = await fake_zoom(meeting(people))
    assert (await post(gateway, fake.webhook_started()))[0] == 200
    await wait_for(lambda: fake.stats.sent["video"] >= 2, 30)
    (stream,) = [source.stream(fake.meeting.rtms_stream_id)]
    bad_jpg = {"user_id": 16778240, "data": base64.b64encode(b"\xff\xd8 not a jpg").decode(), "timestamp": 1}
    odd_audio = {"user_id": 16778240, "data": base64.b64encode(b"\x01\x02\x03").decode()}
    await fake.send_media_raw(json.dumps({"msg_type": 14, "content": odd_audio}))
    # A frame that arrives while that user's previous frame is still being decoded is dropped as
    # `video_decode_busy` (the newest frame waits for no one), so the bad one is resent until decoded.
    for _ in range(50):
        await fake.send_media_raw(json.dumps({"msg_type": 15, "content": bad_jpg}))
        await asyncio.sleep(0.2)
        if stream.counters["undecodable_jpg"]:
            break
    await wait_for(
        lambda: stream.counters["undecodable_jpg"] >= 1 and stream.counters["odd_length_audio"] == 1, 10
    )
    before = stream.counters["video_frames"]
    await wait_for(lambda: stream.counters["video_frames"] > before + 2, 20)
    assert (await post(gateway, fake.webhook_stopped()))[0] == 200
    await source.wait_idle()
    assert stream.summary["status"] == "finished"
