"""The room lifecycle on real livekit rtc tracks in a FakeRoom, analysed by the real CallSession
(real models, real SQLite): join, camera off/on, leave and rejoin, late joiner, screen share,
phone callers, other agents, opt-out, the end of the call."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from livekit import rtc
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bot.livekit.call import RoomCall
from bot.livekit.fake_room import FakeRoom
from bot.livekit.room import CallEnd, RoomOptions
from bot.pipeline.config import PipelineConfig
from bot.pipeline.session import CallSession
from bot.policy.config import AnalysisPolicy
from storage.models import ObservationRow, ParticipantRow, SummaryRow
from storage.outbox_models import WebhookMessageRow
from tests.livekit.conftest import wait_until

SIP = rtc.ParticipantKind.PARTICIPANT_KIND_SIP
AGENT = rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
FAST_END = RoomOptions(empty_grace_s=0.2, no_show_timeout_s=30)


@pytest.fixture
async def start_call():
    """Starts calls in a FakeRoom; a call still running after the test (a failed one) is finished."""
    running: list[tuple[RoomCall, asyncio.Task]] = []

    async def start(models, database, options: RoomOptions = FAST_END, webhook_url: str | None = None):
        room = FakeRoom("test-room")
        config = PipelineConfig(video_fps=4)
        session = await CallSession.open(
            models=models, database=database, room=room.name, source="simulated", config=config
        )
        call = RoomCall(room, session, options, webhook_url=webhook_url)
        task = asyncio.create_task(call.run())
        running.append((call, task))
        await asyncio.sleep(0)  # let run() subscribe to the room before anyone joins
        return room, session, call, task

    yield start
    for call, task in running:
        call.request_end()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 60)


def face_count(session: CallSession, identity: str) -> int:
    return session.stats["participants"].get(identity, {}).get("faces", 0)


def participant_rows(database, call_id: str) -> dict[str, ParticipantRow]:
    with database.session() as s:
        rows = s.scalars(select(ParticipantRow).where(ParticipantRow.call_id == call_id)).all()
        return {row.identity: row for row in rows}


def count(database, model, call_id: str, **where) -> int:
    with database.session() as s:
        query = select(func.count()).select_from(model).where(model.call_id == call_id)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return s.scalar(query)


async def test_join_analyses_face_and_voice_until_the_last_participant_leaves(
    models, database, start_call, live
):
    room, session, call, task = await start_call(models, database)
    alice = live(room, "alice", name="Alice").join()
    await wait_until(lambda: face_count(session, "alice") >= 2, what="face observations")
    assert call.analysis.active_readers == 2
    await asyncio.sleep(3.0)  # a few seconds of speech for the VAD
    await alice.leave()
    outcome = await asyncio.wait_for(task, 30)
    assert outcome.reason == CallEnd.LAST_PARTICIPANT_LEFT
    stats = outcome.room_stats["alice"]
    assert stats["kind"] == "standard" and stats["joins"] == 1
    assert stats["video"]["frames"] > 0 and stats["audio"]["frames"] > 0
    assert stats["video"]["errors"] == stats["audio"]["errors"] == 0
    assert call.analysis.active_readers == 0
    rows = participant_rows(database, session.call_id)
    assert rows["alice"].display_name == "Alice" and rows["alice"].last_left_at is not None
    assert count(database, ObservationRow, session.call_id, modality="face") >= 2
    assert count(database, ObservationRow, session.call_id, modality="voice") >= 1
    assert session.stats["participants"]["alice"]["errors"] == 0
    assert outcome.summary["call_id"] == session.call_id
    await alice.close()


async def test_camera_off_and_on_continues_the_same_participant(models, database, start_call, live):
    room, session, call, task = await start_call(models, database)
    bob = live(room, "bob").join()
    await wait_until(lambda: face_count(session, "bob") >= 1, what="first face")
    bob.camera_off()
    await wait_until(lambda: call.analysis.active_readers == 1, what="video reader closed")
    frames_while_off = call.analysis.stats()["bob"]["video"]["frames"]
    await asyncio.sleep(0.5)
    assert call.analysis.stats()["bob"]["video"]["frames"] == frames_while_off  # nothing read while off
    faces_before = face_count(session, "bob")
    bob.camera_on()
    await wait_until(lambda: face_count(session, "bob") > faces_before, what="faces after camera on")
    stats = call.analysis.stats()["bob"]
    assert stats["video_tracks"] == 2 and stats["joins"] == 1  # a new track, the same participant
    await bob.leave()
    await asyncio.wait_for(task, 30)
    assert len(participant_rows(database, session.call_id)) == 1
    await bob.close()


async def test_leave_and_rejoin_with_the_same_identity_continues_the_record(
    models, database, start_call, live
):
    room, session, call, task = await start_call(
        models, database, RoomOptions(empty_grace_s=60, no_show_timeout_s=60)
    )
    carol = live(room, "carol").join()
    await wait_until(lambda: face_count(session, "carol") >= 1, what="faces before leaving")
    await carol.leave()
    await wait_until(lambda: call.analysis.active_readers == 0, what="readers closed on leave")
    carol.join()  # within the grace period: the call goes on
    await wait_until(lambda: call.analysis.stats()["carol"]["joins"] == 2, what="rejoin")
    faces_before = face_count(session, "carol")
    await wait_until(lambda: face_count(session, "carol") > faces_before, what="faces after rejoin")
    call.request_end()
    outcome = await asyncio.wait_for(task, 30)
    assert outcome.reason == CallEnd.SHUTDOWN
    rows = participant_rows(database, session.call_id)
    assert list(rows) == ["carol"]  # one participant row across both visits
    await carol.close()


async def test_late_joiner_is_analysed_alongside_the_first(models, database, start_call, live):
    room, session, _call, task = await start_call(models, database)
    dave = live(room, "dave").join()
    await wait_until(lambda: face_count(session, "dave") >= 1, what="first participant")
    erin = live(room, "erin").join()
    await wait_until(lambda: face_count(session, "erin") >= 1, what="late joiner")
    await dave.leave()
    await asyncio.sleep(0.5)
    assert not task.done()  # erin is still there
    await erin.leave()
    outcome = await asyncio.wait_for(task, 30)
    assert set(outcome.room_stats) == {"dave", "erin"}
    for p in (dave, erin):
        await p.close()


async def test_screen_share_is_ignored(models, database, start_call, live):
    room, session, call, task = await start_call(models, database)
    frank = live(room, "frank").join(camera=False)
    frank.share_screen()
    await asyncio.sleep(1.0)
    stats = call.analysis.stats()["frank"]
    assert stats["video_tracks"] == 0 and stats["audio_tracks"] == 1
    assert call.analysis.active_readers == 1
    assert face_count(session, "frank") == 0  # the screen shows a face, but it is not a camera
    await frank.leave()
    await asyncio.wait_for(task, 30)
    await frank.close()


async def test_phone_caller_is_analysed_from_audio_only_with_a_masked_number(
    models, database, start_call, live
):
    room, session, call, task = await start_call(models, database)
    caller = live(
        room, "caller-1", kind=SIP, attributes={"sip.phoneNumber": "+4915112345689", "sip.callID": "SCL_1"}
    ).join()  # publishes a camera too: a phone participant's video is never analysed
    await asyncio.sleep(2.5)
    stats = call.analysis.stats()["caller-1"]
    assert stats["kind"] == "sip" and stats["video_tracks"] == 0 and stats["audio_tracks"] == 1
    assert stats["audio"]["frames"] > 0
    await caller.leave()
    await asyncio.wait_for(task, 30)
    row = participant_rows(database, session.call_id)["caller-1"]
    assert row.kind == "sip" and row.role == "caller"
    assert row.phone_number == "+4915*******89"
    assert row.attributes["sip.phoneNumber"] == "+4915*******89"  # not leaked through attributes
    assert "+4915112345689" not in str(row.attributes)
    assert count(database, ObservationRow, session.call_id, modality="face") == 0
    await caller.close()


async def test_other_agents_are_ignored_and_do_not_keep_the_call_alive(models, database, start_call, live):
    room, session, _call, task = await start_call(
        models, database, RoomOptions(empty_grace_s=0.2, no_show_timeout_s=1)
    )
    other_bot = live(room, "agent-AJ_1", kind=AGENT).join()
    outcome = await asyncio.wait_for(task, 30)
    assert outcome.reason == CallEnd.NOBODY_JOINED  # an agent alone is nobody
    assert outcome.room_stats == {}
    assert participant_rows(database, session.call_id) == {}
    await other_bot.close()


async def test_call_ends_once_when_the_last_human_leaves_even_if_shutdown_races(
    models, database, start_call, live
):
    room, session, call, task = await start_call(models, database, webhook_url="http://127.0.0.1:9/hook")
    people = [live(room, name).join() for name in ("gina", "hank")]
    await wait_until(lambda: all(face_count(session, p.identity) >= 1 for p in people), what="both analysed")
    await people[0].leave()
    await asyncio.sleep(0.5)
    assert not task.done()
    await people[1].leave()
    await wait_until(lambda: call.analysis.end_reason is not None, what="grace period over")
    # The job's shutdown callback fires meanwhile (the room closes): both get the same summary.
    shutdown = asyncio.create_task(call.finish(CallEnd.SHUTDOWN))
    outcome = await asyncio.wait_for(task, 30)
    assert (await shutdown).summary is outcome.summary
    assert outcome.reason == CallEnd.LAST_PARTICIPANT_LEFT
    assert count(database, SummaryRow, session.call_id) == 1
    assert count(database, WebhookMessageRow, session.call_id) == 1  # queued once, sent by the outbox
    for p in people:
        await p.close()


async def test_room_closed_by_the_server_ends_the_call(models, database, start_call, live):
    room, session, call, task = await start_call(models, database)
    ivy = live(room, "ivy").join()
    await wait_until(lambda: face_count(session, "ivy") >= 1, what="analysed")
    room.close()
    outcome = await asyncio.wait_for(task, 30)
    assert outcome.reason == CallEnd.ROOM_CLOSED
    assert call.analysis.active_readers == 0
    await ivy.close()


async def test_opt_out_message_stops_analysis_and_deletes_what_was_stored(models, database, start_call, live):
    room, session, _call, task = await start_call(models, database)
    jack = live(room, "jack").join()
    kate = live(room, "kate").join()
    await wait_until(
        lambda: face_count(session, "jack") >= 1 and face_count(session, "kate") >= 1, what="both"
    )
    await asyncio.sleep(1.0)  # let the writer store some of jack's observations
    packet = rtc.DataPacket(
        data=b"opt out",
        kind=rtc.DataPacketKind.KIND_RELIABLE,
        participant=jack.participant,
        topic="lk-chat-topic",
    )
    room.emit("data_received", packet)
    await wait_until(lambda: "jack" in session.stats["excluded"], what="jack excluded")
    kate_faces = face_count(session, "kate")
    await wait_until(lambda: face_count(session, "kate") > kate_faces, what="kate still analysed")
    for p in (jack, kate):
        await p.leave()
    await asyncio.wait_for(task, 30)
    rows = participant_rows(database, session.call_id)
    assert rows["jack"].analysed is False and rows["jack"].not_analysed_reason == "opted_out"
    jack_id = rows["jack"].id
    with database.session() as s:
        assert s.scalar(select(func.count()).where(ObservationRow.participant_id == jack_id)) == 0
    assert count(database, ObservationRow, session.call_id) > 0  # kate's remain
    for p in (jack, kate):
        await p.close()


async def test_consent_policy_skips_participants_without_consent(models, database, start_call, live):
    options = RoomOptions(empty_grace_s=0.2, no_show_timeout_s=30, policy=AnalysisPolicy(mode="consent"))
    room, session, call, task = await start_call(models, database, options)
    yes = live(room, "consenting", attributes={"emotion.consent": "true"}).join()
    no = live(room, "not-asked").join()
    await wait_until(lambda: face_count(session, "consenting") >= 1, what="consenting participant analysed")
    assert call.analysis.stats().get("not-asked", {}).get("video_tracks", 0) == 0
    for p in (yes, no):
        await p.leave()
    await asyncio.wait_for(task, 30)
    rows = participant_rows(database, session.call_id)
    assert rows["not-asked"].analysed is False and rows["not-asked"].not_analysed_reason == "no_consent"
    for p in (yes, no):
        await p.close()


async def test_a_track_unpublished_mid_stream_ends_only_that_track(models, database, start_call, live):
    room, session, call, task = await start_call(models, database)
    liam = live(room, "liam").join()
    mia = live(room, "mia").join()
    await wait_until(
        lambda: face_count(session, "liam") >= 1 and face_count(session, "mia") >= 1, what="both"
    )
    for _ in range(5):  # unpublish/republish while frames are flowing
        liam.camera_off()
        await asyncio.sleep(0.05)
        liam.camera_on()
        await asyncio.sleep(0.05)
    mia_faces = face_count(session, "mia")
    await wait_until(lambda: face_count(session, "mia") > mia_faces, what="mia unaffected")
    assert call.analysis.active_readers == 4
    for p in (liam, mia):
        await p.leave()
    outcome = await asyncio.wait_for(task, 30)
    assert outcome.room_stats["liam"]["video"]["errors"] == 0
    for p in (liam, mia):
        await p.close()


class SlowClassifier:
    """The real face classifier, made slower than the frame rate (an overloaded machine)."""

    def __init__(self, inner, delay_s: float) -> None:
        self.inner, self.delay_s = inner, delay_s

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def predict_batch(self, crops):
        time.sleep(self.delay_s)
        return self.inner.predict_batch(crops)


async def test_a_slow_classifier_drops_and_counts_frames_instead_of_queueing(models, database, live):
    slow = dataclasses.replace(
        models, face_classifier=SlowClassifier(models.face_classifier, 2.0), _engine=None
    )
    room = FakeRoom("slow-room")
    config = PipelineConfig(video_fps=10, adaptive=False, max_queue=1)
    session = await CallSession.open(
        models=slow, database=database, room=room.name, source="simulated", config=config
    )
    call = RoomCall(room, session, FAST_END)
    task = asyncio.create_task(call.run())
    await asyncio.sleep(0)
    nina = live(room, "nina").join()
    try:
        dropped = lambda: session.stats["participants"].get("nina", {}).get("frames_dropped", 0)  # noqa: E731
        await wait_until(lambda: dropped() > 0, what="dropped frames")  # counted, not queued
        stats = session.stats["participants"]["nina"]
        # Every sampled frame is dropped, analysed (face or not) or still waiting: at most max_queue
        # queued plus one in the engine. Nothing else holds frames.
        analysed = stats["faces"] + stats["frames_without_face"]
        assert 0 <= stats["frames_sampled"] - stats["frames_dropped"] - analysed <= config.max_queue + 1
        await nina.leave()
    finally:
        call.request_end()
        await asyncio.wait_for(task, 30)
        slow.engine.close()


async def test_summary_is_retried_while_the_database_is_away(models, database, monkeypatch, start_call, live):
    monkeypatch.setattr("bot.calls.runner.SUMMARY_RETRY_DELAYS_S", (0.05, 0.05, 0.05))
    room, session, _call, task = await start_call(models, database)
    real_finish, failures = session.finish, []

    async def finish_while_db_down(**kwargs):
        if len(failures) < 2:  # the database answers again on the third try
            failures.append(1)
            raise OperationalError("INSERT INTO summaries ...", {}, ConnectionRefusedError("db down"))
        return await real_finish(**kwargs)

    monkeypatch.setattr(session, "finish", finish_while_db_down)
    olga = live(room, "olga").join()
    await wait_until(lambda: face_count(session, "olga") >= 1, what="analysed")
    await olga.leave()
    outcome = await asyncio.wait_for(task, 30)
    assert len(failures) == 2 and outcome.summary["call_id"] == session.call_id
    assert count(database, SummaryRow, session.call_id) == 1
    await olga.close()
