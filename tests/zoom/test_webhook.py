"""POST /zoom/webhook over real HTTP: URL validation, signatures, replays, duplicates, bad bodies."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from bot.zoom.fake import signed_headers
from bot.zoom.webhook import InvalidWebhook, parse_start, parse_stop, sign, verify
from tests.zoom.conftest import CREDENTIALS, meeting
from tests.zoom.test_end_to_end import post, wait_for

TOKEN = CREDENTIALS.secret_token


def test_signature_is_over_the_raw_body_and_recent():
    body = b'{"event":"meeting.rtms_started" ,"payload":{}}'  # odd spacing: re-serialising would differ
    now = 1_780_000_000
    headers = signed_headers(TOKEN, body, timestamp=now)
    verify(TOKEN, headers, body, now=now)
    expected = "v0=" + hmac.new(TOKEN.encode(), f"v0:{now}:".encode() + body, hashlib.sha256).hexdigest()
    assert headers["x-zm-signature"] == expected
    with pytest.raises(InvalidWebhook, match="mismatch"):
        verify(TOKEN, headers, body.replace(b" ,", b","), now=now)
    with pytest.raises(InvalidWebhook, match="tolerance"):
        verify(TOKEN, headers, body, now=now + 301)  # a replay five minutes later
    with pytest.raises(InvalidWebhook, match="missing"):
        verify(TOKEN, {}, body, now=now)
    with pytest.raises(InvalidWebhook, match="mismatch"):
        verify("another-token", headers, body, now=now)


def test_start_payload_flat_and_nested():
    flat = {
        "event": "meeting.rtms_started",
        "event_ts": 1_780_000_000_123,
        "payload": {"meeting_uuid": "u==", "rtms_stream_id": "s1", "server_urls": "wss://a/x, wss://b/y"},
    }
    start = parse_start(flat)
    assert (start.meeting_uuid, start.rtms_stream_id, start.product) == ("u==", "s1", "meeting")
    assert start.server_urls == ("wss://a/x", "wss://b/y")
    nested = {
        "event": "webinar.rtms_started",
        "payload": {
            "account_id": "acc",
            "object": {
                "meeting_uuid": "u==",
                "rtms_stream_id": "s1",
                "server_urls": "ws://h",
                "meeting_id": 812,
            },
        },
    }
    start = parse_start(nested)
    assert (start.product, start.meeting_id, start.account_id) == ("webinar", "812", "acc")
    for broken in ({"payload": {}}, {"payload": {"meeting_uuid": "u", "rtms_stream_id": "s"}}, {}):
        with pytest.raises(InvalidWebhook):
            parse_start(broken)
    with pytest.raises(InvalidWebhook, match="ws"):
        parse_start({"payload": {"meeting_uuid": "u", "rtms_stream_id": "s", "server_urls": "http://h"}})
    assert parse_stop({"payload": {"rtms_stream_id": "s", "stop_reason": 6}}).stop_reason == 6


async def test_url_validation_and_refusals_over_http(zoom_gateway, fake_zoom, people):
    gateway, source = await zoom_gateway()
    body = json.dumps(
        {"event": "endpoint.url_validation", "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}}
    )
    status, answer = await post(gateway, body.encode(), headers={"content-type": "application/json"})
    assert status == 200
    assert answer == {
        "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
        "encryptedToken": hmac.new(TOKEN.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest(),
    }
    # The endpoint must not HMAC arbitrary strings: that would sign "v0:{ts}:{body}" for a forger.
    forged = json.dumps({"event": "endpoint.url_validation", "payload": {"plainToken": "v0:1:{}"}}).encode()
    assert (await post(gateway, forged, headers={}))[0] == 400
    # Signed by Zoom: then the signature must be right.
    assert (await post(gateway, body.encode(), headers=signed_headers("other", body.encode())))[0] == 401

    fake = await fake_zoom(meeting(people))
    started = fake.webhook_started()
    stale = signed_headers(TOKEN, started, timestamp=int(time.time()) - 3600)
    wrong = signed_headers("not-the-token", started)
    for headers in ({}, stale, wrong, {**signed_headers(TOKEN, started), "x-zm-signature": "v0=00"}):
        status, _ = await post(gateway, started, headers=headers)
        assert status == 401
    assert (await post(gateway, b"{not json", headers={}))[0] == 400
    assert source.health()["active_streams"] == 0 and source.totals["refused:signature"] == 5
    assert fake.stats.signaling_connections == 0  # nothing happened: no connection to Zoom


async def test_duplicate_started_opens_one_connection(zoom_gateway, fake_zoom, people):
    gateway, source = await zoom_gateway()
    fake = await fake_zoom(meeting(people))
    body = fake.webhook_started()
    answers = [await post(gateway, body) for _ in range(3)]  # Zoom retrying a slow answer
    assert [a[0] for a in answers] == [200, 200, 200]
    assert answers[1][1] == {"status": "already handling"}
    await wait_for(lambda: fake.stats.sent["audio"] > 50)
    assert fake.stats.signaling_connections == 1 and source.totals["duplicate_started"] == 2
    assert (await post(gateway, fake.webhook_stopped()))[0] == 200
    await source.wait_idle()
    # A late retry for the stream that just ended does not reopen it (its claim is fresh).
    assert (await post(gateway, body))[0] == 200
    await source.wait_idle()
    assert fake.stats.signaling_connections == 1
    assert sum(1 for s in source.finished if s.summary is not None) == 1


def test_sign_matches_zoom_formula():
    assert sign("k", "1", b"x") == "v0=" + hmac.new(b"k", b"v0:1:x", hashlib.sha256).hexdigest()
