"""The opt-in four-language model loads with the front end it names and runs the live path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emotion_models.voice.classifier import VoiceEmotionClassifier
from emotion_models.voice.inputs import RESEMBLYZER, STATISTICS, WHISPER
from tests.voice.test_evaluate import _parse

MODEL = Path(__file__).resolve().parents[2] / "emotion_models" / "assets" / "voice_multilingual_emotion.onnx"


@pytest.fixture(scope="module")
def classifier() -> VoiceEmotionClassifier:
    return VoiceEmotionClassifier.load(MODEL)


def test_it_names_and_gets_the_trimmed_three_block_front_end(classifier: VoiceEmotionClassifier) -> None:
    assert classifier.frontend.blocks == (STATISTICS, RESEMBLYZER, WHISPER) and classifier.frontend.trim
    assert classifier.encoders.whisper is not None and classifier.encoders.resemblyzer is not None
    assert json.loads(classifier.metadata["labels"])[0] == "angry"
    assert classifier.metadata["trained_on"] == "ased, emodb, emovo, nemo"


def test_a_speakers_utterances_are_scored_against_that_speaker(
    classifier: VoiceEmotionClassifier, emodb_wave: np.ndarray, nemo_wave: np.ndarray
) -> None:
    speaker = classifier.new_normaliser()
    probs = classifier.predict_batch([emodb_wave, nemo_wave], [speaker, speaker])
    assert probs.shape == (2, 7) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert speaker is not None and speaker.count == 2
    # batched rows equal one-by-one rows (the encoders batch equal lengths only)
    alone = classifier.predict_batch([emodb_wave])
    np.testing.assert_allclose(classifier.predict_batch([emodb_wave, emodb_wave])[0], alone[0], atol=1e-5)


def test_eval_voice_takes_it_with_model(
    emodb_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("08a01Wa.wav", "08a01Fd.wav", "09a01Wb.wav"):
        (tmp_path / name).symlink_to(emodb_dir / "wav" / name)
    args = _parse(["eval", "voice", "--data", str(tmp_path), "--model", str(MODEL), "--json"])
    assert args.func(args) == 0
    result = json.loads(capsys.readouterr().out.strip())
    assert result["n"] == 3 and result["model_trained_on"] == "ased, emodb, emovo, nemo"
