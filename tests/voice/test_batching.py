"""Batched run-time paths give exactly what one utterance / one stream alone gets."""

from __future__ import annotations

import numpy as np
import pytest

from emotion_models.voice.encoder import VoiceEncoder
from emotion_models.voice.inputs import Encoders, utterance_inputs
from emotion_models.voice.vad import StreamingVAD, advance, segment_wave

SR = 16000


def test_encoder_batch_equals_one_by_one(emodb_wave: np.ndarray, nemo_wave: np.ndarray) -> None:
    encoder = VoiceEncoder.load()
    # two utterances of one length (batched together), two of other lengths (alone)
    waves = [
        np.resize(emodb_wave, 4 * SR),
        np.resize(nemo_wave, 4 * SR),
        emodb_wave[SR:],
        nemo_wave[: SR // 2],
    ]
    batched = encoder.features_batch(waves)
    for wave, row in zip(waves, batched, strict=True):
        np.testing.assert_allclose(row, encoder.features(wave), rtol=1e-5, atol=1e-6)
    assert not np.allclose(batched[0], batched[1])  # rows are not mixed up


def test_classifier_batch_equals_utterance_inputs(emodb_wave: np.ndarray, nemo_wave: np.ndarray) -> None:
    from emotion_models.voice.classifier import VoiceEmotionClassifier
    from emotion_models.voice.inputs import batch_inputs

    classifier = VoiceEmotionClassifier.load()
    waves = [np.resize(emodb_wave, 4 * SR), np.resize(nemo_wave, 4 * SR), emodb_wave[:SR]]
    rows = batch_inputs(waves, classifier.encoders, classifier.frontend)
    for wave, row in zip(waves, rows, strict=True):
        np.testing.assert_allclose(
            row, utterance_inputs(wave, classifier.encoders, classifier.frontend), rtol=1e-5, atol=1e-5
        )
    assert isinstance(classifier.encoders, Encoders)


def test_advance_across_streams_equals_each_stream_alone(
    emodb_wave: np.ndarray, nemo_wave: np.ndarray
) -> None:
    silence = np.zeros(SR // 2, np.float32)
    streams = [
        np.concatenate([silence, emodb_wave, silence]),
        np.concatenate([nemo_wave, silence, emodb_wave[: 2 * SR]]),
        np.concatenate([silence, silence, nemo_wave]),
    ]
    alone = [segment_wave(s) for s in streams]
    vads = [StreamingVAD() for _ in streams]
    together: list[list] = [[] for _ in streams]
    rng = np.random.default_rng(3)
    offsets = [0, 0, 0]
    # uneven chunk sizes per stream, so batches mix streams with different numbers of windows
    while any(o < len(s) for o, s in zip(offsets, streams, strict=True)):
        for i, stream in enumerate(streams):
            n = int(rng.integers(100, 5000))
            vads[i].feed(stream[offsets[i] : offsets[i] + n])
            offsets[i] += n
        for i, segments in enumerate(advance(vads)):
            together[i] += segments
    for i, vad in enumerate(vads):
        together[i] += vad.flush()
    for a, b in zip(alone, together, strict=True):
        assert a, "each stream has speech"
        assert [(s.start, s.end) for s in a] == [(s.start, s.end) for s in b]
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x.samples, y.samples)


def test_advance_refuses_a_stream_twice() -> None:
    vad = StreamingVAD()
    with pytest.raises(ValueError, match="twice"):
        advance([vad, vad])
