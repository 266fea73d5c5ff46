"""The shared inference engine: batching across participants, results equal to direct model calls."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from bot.pipeline.demo_media import blank_frame, face_frame, speech, speech_pcm
from bot.pipeline.engine import InferenceEngine
from bot.pipeline.speech import AudioChunk, Speech, SpeechStream
from emotion_models.face.align import align_face
from emotion_models.voice.vad import segment_wave


@pytest.fixture
def engine(models):
    engine = InferenceEngine(models, max_batch=4, max_wait_s=0.2)
    yield engine
    engine.close()


async def test_jobs_from_many_participants_share_one_classifier_call(engine, models):
    frames = [face_frame(t, phase=i) for i, t in enumerate(np.linspace(0, 5, 4))]
    results = await asyncio.gather(*(engine.faces(frame) for frame in frames))
    assert engine.batches == 1 and engine.largest_batch == 4 and engine.face_crops == 4
    for frame, faces in zip(frames, results, strict=True):
        assert len(faces) == 1
        box = models.face_detector.detect(frame)[0]
        crop = align_face(frame, box, size=models.face_classifier.input_size)
        direct = models.face_classifier.predict_batch([crop])[0]
        np.testing.assert_allclose(faces[0].probabilities, direct, atol=1e-5)
        assert faces[0].probabilities.sum() == pytest.approx(1.0, abs=1e-4)


async def test_batches_are_capped_and_frames_without_faces_return_empty(engine):
    jobs = [engine.faces(face_frame(0.0) if i % 2 else blank_frame()) for i in range(10)]
    results = await asyncio.gather(*jobs)
    assert engine.largest_batch == 4 and engine.batches >= 3
    assert [len(r) for r in results] == [0, 1] * 5


async def test_voice_and_face_jobs_run_in_batches_of_their_own(engine, models):
    wave = speech()[16000:48000]
    _face, probs = await asyncio.gather(engine.faces(face_frame(1.0)), engine.voice(wave))
    assert engine.batches == 2 and engine.largest_batch == 1
    np.testing.assert_allclose(probs, models.voice_classifier.predict_batch([wave])[0], atol=1e-5)


async def test_a_slow_voice_batch_never_holds_up_faces(engine, models, monkeypatch):
    classifier = models.voice_classifier
    release = threading.Event()
    original = classifier.predict_batch

    def slow_predict_batch(waves, normalisers=None):  # a long voice batch (many segments at once)
        release.wait(10)
        return original(waves, normalisers)

    monkeypatch.setattr(classifier, "predict_batch", slow_predict_batch)
    voice = asyncio.ensure_future(engine.voice(speech()[16000:48000]))
    await asyncio.sleep(0.05)  # the voice thread is now inside its batch
    faces = await asyncio.wait_for(engine.faces(face_frame(1.0)), 5)
    assert len(faces) == 1 and not voice.done()
    release.set()
    assert (await voice).shape == (7,)


async def test_voice_segments_update_their_own_speakers_statistics(engine, models):
    wave = speech()[16000:48000]
    alice, bob = engine.new_voice_speaker(), engine.new_voice_speaker()
    assert alice is not None and bob is not None  # the shipped voice model is speaker-normalised
    results = await asyncio.gather(
        engine.voice(wave, alice), engine.voice(wave, alice), engine.voice(wave, bob)
    )
    assert (alice.count, bob.count) == (2, 1)
    for probs in results:
        assert probs.shape == (7,) and probs.sum() == pytest.approx(1.0, abs=1e-4)
    # The same audio from a speaker with history is judged against that history, not the prior.
    assert not np.allclose(results[1], models.voice_classifier.predict_batch([wave])[0], atol=1e-4)


async def test_a_bad_frame_fails_only_its_own_job(engine):
    good = engine.faces(face_frame(0.0))
    bad = engine.faces(np.zeros((10, 10), np.uint8))
    results = await asyncio.gather(good, bad, return_exceptions=True)
    assert len(results[0]) == 1
    assert isinstance(results[1], ValueError)


def _chunks(pcm: np.ndarray, t0: float, chunk_s: float = 0.1) -> list[AudioChunk]:
    n = round(chunk_s * 16000)
    return [AudioChunk(pcm[i : i + n], t0 + i / 16000) for i in range(0, len(pcm), n)]


async def test_many_participants_audio_shares_vad_passes_and_matches_one_stream_alone(engine, models):
    pcm = speech_pcm(6.0)
    streams = [SpeechStream(models.new_vad) for _ in range(6)]
    chunks = _chunks(pcm, 0.0)
    results: list[list[Speech]] = [[] for _ in streams]
    for start in range(0, len(chunks), 5):  # half a second of every participant at a time
        batch = chunks[start : start + 5]
        speech_lists = await asyncio.gather(*(engine.speech(s, batch) for s in streams))
        for result, speech_list in zip(results, speech_lists, strict=True):
            result += speech_list
    finals = await asyncio.gather(*(engine.speech(s, [], final=True) for s in streams))
    for result, final in zip(results, finals, strict=True):
        result += final
    # every participant's audio went through in shared passes (one per half second, not six)
    assert engine.largest_vad_batch == 6 and engine.vad_batches < 6 * (len(chunks) // 5 + 2)
    alone = segment_wave(pcm)
    assert alone
    for result in results:
        assert [(s.t_start, s.t_end) for s in result] == [(s.start, s.end) for s in alone]


async def test_audio_after_a_gap_starts_a_new_vad_stream_on_the_timeline(engine, models):
    pcm = speech_pcm(3.0)
    stream = SpeechStream(models.new_vad)
    first = await engine.speech(stream, _chunks(pcm, 10.0))
    # 20 s later (a mute): the open utterance is closed and the new audio is timed from 33 s
    second = await engine.speech(stream, _chunks(pcm, 33.0))
    second += await engine.speech(stream, [], final=True)
    alone = segment_wave(pcm)
    assert [(s.t_start, s.t_end) for s in first + second] == [
        (10.0 + s.start, 10.0 + s.end) for s in alone
    ] + [(33.0 + s.start, 33.0 + s.end) for s in alone]


async def test_bad_audio_fails_only_its_own_participant(engine, models):
    good, bad = SpeechStream(models.new_vad), SpeechStream(models.new_vad)
    pcm = speech_pcm(2.0)
    results = await asyncio.gather(
        engine.speech(good, _chunks(pcm, 0.0)),
        engine.speech(bad, [AudioChunk(np.array(["not audio"]), 0.0)]),
        return_exceptions=True,
    )
    assert isinstance(results[0], list)
    assert isinstance(results[1], Exception)
