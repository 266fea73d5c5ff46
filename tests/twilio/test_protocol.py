"""The protocol pieces on their own: messages, mu-law, resampling, timeline placement, signatures,
parameters and TwiML. No server here (tests/twilio/test_stream.py drives the real one)."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from bot.twilio import messages, mulaw
from bot.twilio.call_params import parse_parameters
from bot.twilio.client import Messages, StreamIds, media_schedule, mulaw_frames
from bot.twilio.resample import Upsampler
from bot.twilio.signature import SignatureChecker, sign, signed_url, websocket_base
from bot.twilio.timeline import TrackTimeline
from bot.twilio.twiml import stream_twiml
from emotion_models.voice.audio import resample

# G.711 reference points: 0xFF and 0x7F are the two zeros, 0x00 is the most negative code, 0x80 the
# most positive (+/-32124), and a code one step down the segment is a known value.
G711_POINTS = {0xFF: 0, 0x7F: 0, 0x00: -32124, 0x80: 32124, 0xF0: 120, 0x70: -120, 0xEF: 132}


def test_mulaw_decode_matches_g711_reference_points() -> None:
    table = mulaw.decode(bytes(G711_POINTS))
    assert table.tolist() == list(G711_POINTS.values())
    assert mulaw.decode(bytes(range(256))).dtype == np.int16


def test_mulaw_roundtrip_error_stays_within_the_codec_step() -> None:
    pcm = np.arange(-32768, 32768, 7, dtype=np.int16)
    back = mulaw.decode(mulaw.encode(pcm)).astype(np.int32)
    error = np.abs(back - pcm.astype(np.int32))
    # mu-law keeps ~4 bits of mantissa: the error is at most half a step of the segment the value sits in
    assert error.max() <= 1024 and error[np.abs(pcm.astype(np.int32)) < 100].max() <= 4


def test_streaming_upsampler_equals_resampling_the_whole_signal() -> None:
    rng = np.random.default_rng(7)
    pcm = (rng.standard_normal(4003) * 4000).astype(np.int16)
    up = Upsampler()
    parts = [up.push(pcm[i : i + 160]) for i in range(0, len(pcm), 160)]
    parts.append(up.flush())
    streamed = np.concatenate(parts).astype(np.float32) / 32768
    whole = resample(pcm.astype(np.float32) / 32768, 8000, 16000)
    assert len(streamed) == len(whole) == 2 * len(pcm)
    assert np.abs(streamed - whole).max() < 1e-4  # int16 rounding only: no click at frame edges


def test_upsampled_tone_keeps_its_frequency() -> None:
    t = np.arange(8000) / 8000
    tone = (np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int16)
    up = Upsampler()
    out = np.concatenate([up.push(tone[i : i + 160]) for i in range(0, 8000, 160)] + [up.flush()])
    spectrum = np.abs(np.fft.rfft(out.astype(np.float32)))
    assert abs(np.argmax(spectrum) * 16000 / len(out) - 440) < 2


def _frames(timeline: TrackTimeline, stamps: list[int], samples: int = 160) -> list:
    blocks = []
    for ts in stamps:
        blocks += timeline.push(mulaw.encode(np.full(samples, 1000, dtype=np.int16)), ts)
    return blocks + timeline.flush()


def test_timeline_contiguous_frames_are_one_run_timed_by_sample_count() -> None:
    # jittered timestamps (within tolerance) do not move the audio: the sample clock places it
    blocks = _frames(TrackTimeline(), [0, 21, 39, 61, 80, 100, 119, 142, 160, 180])
    assert blocks[0].t == 0.0
    assert sum(len(b.pcm) for b in blocks) == 10 * 320
    starts = [b.t for b in blocks]
    assert starts == pytest.approx([i * 0.1 for i in range(len(blocks))])


def test_timeline_gap_stays_a_gap() -> None:
    timeline = TrackTimeline()
    blocks = _frames(timeline, [0, 20, 40, 60, 80] + [5000 + 20 * i for i in range(5)])
    assert timeline.stats.gaps == 1 and timeline.stats.gap_s == pytest.approx(4.9)
    assert [round(b.t, 3) for b in blocks] == [0.0, 5.0]
    assert [len(b.pcm) for b in blocks] == [1600, 1600]


def test_timeline_drops_duplicates_and_out_of_order_frames() -> None:
    timeline = TrackTimeline()
    blocks = _frames(timeline, [0, 20, 40, 20, 0, 60])
    assert timeline.stats.late_frames == 2 and timeline.stats.frames == 4
    assert sum(len(b.pcm) for b in blocks) == 4 * 320


def test_timeline_starts_at_the_first_frames_timestamp() -> None:
    blocks = _frames(TrackTimeline(), [3000, 3020, 3040, 3060, 3080])
    assert blocks[0].t == pytest.approx(3.0)


def test_messages_parse_twilio_documented_shapes() -> None:
    ids = StreamIds(call_sid="CA1", stream_sid="MZ1", account_sid="AC1")
    build = Messages(ids)
    assert isinstance(messages.parse(build.connected()), messages.Connected)
    start = messages.parse(build.start(["inbound", "outbound"], {"deal_id": "4711"}))
    assert isinstance(start, messages.Start)
    assert (start.stream_sid, start.call_sid, start.tracks) == ("MZ1", "CA1", ("inbound", "outbound"))
    assert start.custom_parameters == {"deal_id": "4711"} and start.sequence_number == 1
    media = messages.parse(build.media("outbound", 40, b"\xff" * 160))
    assert isinstance(media, messages.Media)
    assert (media.track, media.chunk, media.timestamp_ms, media.payload) == ("outbound", 1, 40, b"\xff" * 160)
    stop = messages.parse(build.stop())
    assert isinstance(stop, messages.Stop) and stop.call_sid == "CA1"
    mark = messages.parse(json.dumps({"event": "mark", "streamSid": "MZ1", "mark": {"name": "m1"}}))
    assert isinstance(mark, messages.Mark) and mark.name == "m1"
    dtmf = messages.parse(json.dumps({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": "5"}}))
    assert isinstance(dtmf, messages.Dtmf) and dtmf.digit == "5"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_json"),
        ('{"event": "hangup"}', "unknown_event"),
        ('{"nothing": 1}', "unknown_event"),
        ('{"event": "media", "media": {"timestamp": "0", "payload": "%%%"}}', "bad_base64"),
        ('{"event": "media", "media": {"track": "inbound", "timestamp": "x", "payload": ""}}', "bad_media"),
        ('{"event": "media", "media": {"track": "inbound", "payload": "/w=="}}', "bad_media"),
        ('{"event": "media"}', "bad_media"),
        ('{"event": "start", "start": {"callSid": "CA1"}}', "bad_start"),
    ],
)
def test_bad_messages_are_refused_with_a_counter_key(text: str, key: str) -> None:
    with pytest.raises(messages.BadMessage) as caught:
        messages.parse(text)
    assert caught.value.key == key and str(caught.value)


def test_oversized_payload_is_refused_before_decoding() -> None:
    payload = base64.b64encode(b"\xff" * (messages.MAX_PAYLOAD_BYTES + 300)).decode()
    text = json.dumps({"event": "media", "media": {"track": "inbound", "timestamp": "0", "payload": payload}})
    with pytest.raises(messages.BadMessage) as caught:
        messages.parse(text)
    assert caught.value.key == "oversized_payload"


@pytest.mark.parametrize(
    "fmt",
    [
        {"encoding": "audio/x-l16", "sampleRate": 8000, "channels": 1},
        {"encoding": "audio/x-mulaw", "sampleRate": 16000, "channels": 1},
        {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 2},
        {"encoding": "audio/x-mulaw", "sampleRate": "fast", "channels": 1},
    ],
)
def test_other_media_formats_are_unsupported_with_a_clear_reason(fmt: dict) -> None:
    with pytest.raises(messages.UnsupportedFormat) as caught:
        messages.parse(Messages().start(["inbound"], media_format=fmt))
    assert "expected audio/x-mulaw/8000 Hz/mono" in str(caught.value)
    assert len(str(caught.value).encode()) <= 123  # fits a WebSocket close reason


def test_signature_of_the_url_twilio_connected_to() -> None:
    token = "12345678901234567890123456789012"
    url = "wss://bot.example.com/twilio/media"
    checker = SignatureChecker(token, public_url="https://bot.example.com")
    headers = {"X-Twilio-Signature": sign(token, url)}
    # behind a TLS proxy the request arrives as plain ws on an internal host
    assert checker.check(headers=headers, path_qs="/twilio/media", host="10.0.0.5:8080", secure=False)
    assert not checker.check(headers={}, path_qs="/twilio/media", host="10.0.0.5:8080", secure=False)
    wrong = {"X-Twilio-Signature": sign("another-token-another-token-12345", url)}
    assert not checker.check(headers=wrong, path_qs="/twilio/media", host="h", secure=False)
    other_path = {"X-Twilio-Signature": sign(token, "wss://bot.example.com/elsewhere")}
    assert not checker.check(headers=other_path, path_qs="/twilio/media", host="h", secure=False)
    # without a public URL it is rebuilt from the request
    direct = SignatureChecker(token)
    local = {"X-Twilio-Signature": sign(token, "ws://127.0.0.1:8080/twilio/media")}
    assert direct.check(headers=local, path_qs="/twilio/media", host="127.0.0.1:8080", secure=False)
    assert not direct.check(headers=local, path_qs="/twilio/media", host="127.0.0.1:8080", secure=True)


def test_public_url_with_a_path_prefix() -> None:
    assert websocket_base("https://bot.example.com/emotion/") == "wss://bot.example.com/emotion"
    expected = "wss://bot.example.com/emotion/twilio/media"
    for path in ("/twilio/media", "/emotion/twilio/media"):  # prefix stripped by the proxy or not
        got = signed_url(path_qs=path, host="x", secure=False, public_url="https://bot.example.com/emotion")
        assert got == expected
    with pytest.raises(ValueError):
        websocket_base("ftp://bot.example.com")


def test_parameters_become_metadata_and_the_caller_number_is_kept_apart() -> None:
    params = parse_parameters(
        {
            "deal_id": "4711",
            "host_identity": "agent",
            "webhook_url": "https://crm.example/hook",
            "crm": '{"stage": "demo"}',
            "caller_number": "+4915112345689",
        }
    )
    assert params.metadata is not None and params.caller_number == "+4915112345689"
    assert params.record == {
        "deal_id": "4711",
        "host_identity": "agent",
        "webhook_url": "https://crm.example/hook",
        "crm": {"stage": "demo"},
    }


def test_invalid_parameters_are_flagged_without_the_caller_number() -> None:
    params = parse_parameters({"deal": "1", "caller_number": "+4915112345689", "webhook_url": "ftp://x"})
    assert params.metadata is None and params.record["invalid"] is True
    assert "unknown metadata field" in params.record["error"]
    assert "4915112345689" not in json.dumps(params.record)
    assert "webhook_url" in parse_parameters({"webhook_url": "ftp://x"}).record["error"]


def test_twiml_forks_both_tracks_with_parameters() -> None:
    xml = stream_twiml(
        "wss://bot.example.com/twilio/media",
        {"deal_id": "4711", "caller_number": "{{From}}"},
        dial="+15550100",
    )
    root = ET.fromstring(xml.split("?>", 1)[1])
    stream = root.find("./Start/Stream")
    assert stream is not None and stream.get("track") == "both_tracks"
    assert stream.get("url") == "wss://bot.example.com/twilio/media"
    assert {p.get("name"): p.get("value") for p in stream.findall("Parameter")} == {
        "deal_id": "4711",
        "caller_number": "{{From}}",
    }
    assert root.find("Dial").text == "+15550100"  # the call goes on while the stream runs


@pytest.mark.parametrize("url", ["ws://h/twilio/media", "https://h/x", "wss://h/twilio/media?token=1"])
def test_twiml_refuses_urls_twilio_refuses(url: str) -> None:
    with pytest.raises(ValueError):
        stream_twiml(url, {})


def test_media_schedule_interleaves_tracks_and_leaves_gaps_out() -> None:
    pcm = np.zeros(8000, dtype=np.int16)  # 1 s = 50 frames
    schedule = media_schedule({"inbound": pcm, "outbound": pcm[:1600]}, gaps_ms={"inbound": [(200, 400)]})
    inbound = [ts for ts, track, _ in schedule if track == "inbound"]
    assert len(inbound) == 40 and 200 not in inbound and 400 in inbound
    assert [ts for ts, _, _ in schedule] == sorted(ts for ts, _, _ in schedule)
    assert len(mulaw_frames(pcm[:170])) == 2
