"""CallSession end to end on real models and a real SQLite database."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from sqlalchemy import func, select

from bot.pipeline.config import PipelineConfig
from bot.pipeline.demo_media import face_frame, speech_pcm
from bot.pipeline.models import Models
from bot.pipeline.session import CallSession
from emotion_models.face.detector import FaceDetector
from storage.models import CallRow, FusedPointRow, ObservationRow, ParticipantRow, SummaryRow

# Sessions fed with put_* (as fast as the pipeline takes media) run like a file: no adaptive back-off.
OFFLINE = PipelineConfig(adaptive=False)


async def feed(
    analyser, seconds: float, *, video: bool = True, audio: bool = True, start: float = 0.0
) -> None:
    """Feed `seconds` of media as fast as the pipeline takes it (put_* waits for room)."""
    pcm = speech_pcm(seconds, offset_s=start)
    step = 1600  # 100 ms chunks
    for i in range(round(seconds * 10)):
        t = start + i / 10
        if video and i % 2 == 0:  # frames arrive at 5 fps; the sampler keeps 2 fps
            await analyser.put_video(face_frame(t), t)
        if audio:
            await analyser.put_audio(pcm[i * step : (i + 1) * step], t)


def count(database, table, **where) -> int:
    query = select(func.count()).select_from(table)
    for name, value in where.items():
        query = query.where(getattr(table, name) == value)
    with database.session() as s:
        return s.scalar(query)


async def test_two_participants_end_to_end(models, database):
    session = await CallSession.open(
        models=models, database=database, room="r1", source="simulated", config=OFFLINE
    )
    points = []
    session.add_listener(points.append)
    alice = session.participant("alice", display_name="Alice")
    bob = session.participant("bob", kind="sip", phone_number="+49******12")
    await asyncio.gather(feed(alice, 8.0), feed(bob, 8.0, video=False))
    summary = await session.finish()

    assert summary["status"] == "finished" and summary["call_id"] == session.call_id
    assert {p["identity"] for p in summary["participants"]} == {"alice", "bob"}
    assert count(database, ObservationRow, modality="face") == alice.stats["faces"] >= 14
    assert alice.stats["segments"] >= 1 and bob.stats["segments"] >= 1
    assert (
        count(database, ObservationRow, modality="voice") == alice.stats["segments"] + bob.stats["segments"]
    )
    # Each voice is compared with itself: one running statistics per participant, fed its segments.
    assert alice.voice_speaker is not None and bob.voice_speaker is not None
    assert alice.voice_speaker is not bob.voice_speaker
    assert (alice.voice_speaker.count, bob.voice_speaker.count) == (
        alice.stats["segments"],
        bob.stats["segments"],
    )
    assert count(database, FusedPointRow) == len(points) == session.stats["observations"]
    assert {p.participant_identity for p in points} == {"alice", "bob"}
    assert all(p.sources == ("voice",) for p in points if p.participant_identity == "bob")
    assert any(p.sources == ("face", "voice") for p in points if p.participant_identity == "alice")
    with database.session() as s:
        assert s.scalar(select(CallRow.status)) == "finished"
        assert s.scalar(select(ParticipantRow.kind).where(ParticipantRow.identity == "bob")) == "sip"
    assert count(database, SummaryRow) == 1
    stats = session.stats
    assert stats["frames_dropped"] == 0 and stats["p95_frame_to_db_s"] is not None
    # Voice results are timed on their own too.
    assert 0 < stats["p95_voice_to_db_s"] <= stats["max_voice_to_db_s"]
    assert stats["writer"]["written"] == count(database, ObservationRow) + count(database, FusedPointRow)
    assert await session.finish() is summary  # idempotent
    assert count(database, SummaryRow) == 1


async def test_rejoin_continues_the_same_participant(models, database):
    session = await CallSession.open(
        models=models, database=database, room="r2", source="simulated", config=OFFLINE
    )
    first = session.participant("carol")
    await feed(first, 2.0, audio=False)
    await session.participant_left("carol")
    again = session.participant("carol", display_name="Carol")
    assert again is first
    await feed(again, 2.0, audio=False, start=10.0)
    summary = await session.finish()
    assert count(database, ParticipantRow) == 1
    assert first.stats["faces"] == count(database, ObservationRow) >= 7
    with database.session() as s:
        times = s.scalars(select(ObservationRow.t_start).order_by(ObservationRow.t_start)).all()
    assert times[0] < 2.0 and times[-1] >= 10.0
    assert summary["participants"][0]["display_name"] == "Carol"


async def test_excluded_participant_is_not_analysed_and_data_deleted(models, database):
    session = await CallSession.open(
        models=models, database=database, room="r3", source="simulated", config=OFFLINE
    )
    dave, erin = session.participant("dave"), session.participant("erin")
    await asyncio.gather(feed(dave, 3.0), feed(erin, 3.0))
    await asyncio.sleep(1.0)  # let the writer store some of dave's rows
    await session.exclude_participant("dave", "opted out in chat", delete_stored=True)
    assert dave.push_video(face_frame(5.0), 5.0) is False
    await feed(erin, 1.0, start=3.0)
    summary = await session.finish()
    with database.session() as s:
        dave_id = s.scalar(select(ParticipantRow.id).where(ParticipantRow.identity == "dave"))
    assert count(database, ObservationRow, participant_id=dave_id) == 0
    assert count(database, FusedPointRow, participant_id=dave_id) == 0
    assert count(database, ObservationRow) > 0  # erin's data stays
    assert summary["not_analysed"] == [
        {"identity": "dave", "display_name": None, "reason": "opted out in chat"}
    ]


class SlowFaceClassifier:
    """The real classifier, made slow: inference that cannot keep up with the feed."""

    def __init__(self, inner, delay_s: float) -> None:
        self.inner, self.delay_s, self.input_size = inner, delay_s, inner.input_size

    def predict_batch(self, crops):
        time.sleep(self.delay_s)
        return self.inner.predict_batch(crops)


@pytest.fixture
def slow_models(models):
    slow = Models(
        face_detector=FaceDetector(),
        face_classifier=SlowFaceClassifier(models.face_classifier, 1.0),
        voice_classifier=models.voice_classifier,
    )
    yield slow
    slow.close()


async def live_feed(analyser, seconds: float, fps: float = 10.0) -> int:
    """Push frames in real time (as a LiveKit track would); returns the largest queue seen."""
    largest = 0
    for i in range(round(seconds * fps)):
        analyser.push_video(face_frame(i / fps), i / fps)
        largest = max(largest, analyser.stats["frames_queued"])
        await asyncio.sleep(1 / fps)
    return largest


@pytest.mark.slow  # real-time feed against a deliberately slow classifier (~5 s)
async def test_slow_inference_drops_oldest_frames_and_counts_them(slow_models, database):
    config = PipelineConfig(max_queue=1, adaptive=False)
    session = await CallSession.open(
        models=slow_models, database=database, room="slow", source="simulated", config=config
    )
    analyser = session.participant("frank")
    largest = await live_feed(analyser, 4.0)
    await session.finish()
    stats = analyser.stats
    assert largest <= 1
    assert stats["frames_sampled"] == 8 and stats["frames_dropped"] >= 1
    assert stats["faces"] + stats["frames_dropped"] == stats["frames_sampled"]
    assert count(database, ObservationRow) == stats["faces"]


@pytest.mark.slow  # real-time feed against a deliberately slow classifier (~5 s)
async def test_slow_inference_makes_sampling_back_off(slow_models, database):
    session = await CallSession.open(models=slow_models, database=database, room="slow2", source="simulated")
    analyser = session.participant("gina")
    await live_feed(analyser, 5.0)
    await session.finish()
    stats = analyser.stats
    assert stats["backoffs"] >= 1 and stats["video_fps"] < 2.0
    assert stats["frames_sampled"] < 10  # fewer than the 2 fps target would have taken


async def test_live_audio_with_gaps_keeps_segment_times(models, database):
    session = await CallSession.open(models=models, database=database, room="gap", source="simulated")
    analyser = session.participant("hana")
    pcm = speech_pcm(4.0)
    for start in (0.0, 30.0):  # 26 s of nothing between two bursts (a mute)
        for i in range(40):
            analyser.push_audio(pcm[i * 1600 : (i + 1) * 1600], start + i / 10)
        await asyncio.sleep(0.3)
    await session.finish()
    with database.session() as s:
        spans = s.execute(select(ObservationRow.t_start, ObservationRow.t_end)).all()
    assert spans and all(0 <= a < b <= 4.2 or 30 <= a < b <= 34.2 for a, b in spans)
    assert any(a >= 30 for a, _ in spans)
    assert np.isclose(analyser.stats["audio_in_s"], 8.0)
