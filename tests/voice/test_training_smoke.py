"""A training run on a tiny generated corpus produces an ONNX model the run-time classifier loads."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import onnx
import pytest
import soundfile as sf

from emotion_models.labels import LABEL_INDEX
from emotion_models.voice.audio import load_audio
from emotion_models.voice.classifier import ModelMismatchError, VoiceEmotionClassifier
from emotion_models.voice.encoder import VoiceEncoder
from emotion_models.voice.features import NUM_FEATURES
from emotion_models.voice.inputs import NUM_INPUTS
from training.voice import train
from training.voice.augment import version
from training.voice.dataset import load_corpus_features
from training.voice.frontend import training_encoder_features, training_features

SR = 16000
# EmoDB letters -> a synthetic "voice" per class: (f0 Hz, amplitude, vibrato depth)
CLASSES = {"W": (230.0, 0.5, 0.0), "T": (110.0, 0.05, 0.0), "F": (300.0, 0.3, 0.08)}


def _voice(f0: float, amp: float, vibrato: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(1.2 * SR)) / SR
    pitch = f0 * (1 + vibrato * np.sin(2 * np.pi * 5 * t)) * rng.uniform(0.95, 1.05)
    phase = 2 * np.pi * np.cumsum(pitch) / SR
    wave = sum(np.sin(k * phase) / k for k in range(1, 10)) * amp * np.hanning(len(t))
    return (wave + rng.standard_normal(len(t)) * 0.002).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny_emodb")
    rng = np.random.default_rng(0)
    for speaker in ("08", "09"):
        for letter, params in CLASSES.items():
            for take in "abc":
                sf.write(root / f"{speaker}a0{'abc'.index(take)}{letter}{take}.wav", _voice(*params, rng), SR)
    return root


@pytest.mark.slow
def test_training_smoke_produces_loadable_onnx(tiny_corpus: Path, tmp_path: Path) -> None:
    model_path = tmp_path / "voice.onnx"
    argv = ["--data", str(tiny_corpus), "--out", str(tmp_path / "run"), "--model-out", str(model_path)]
    argv += ["--versions", "2", "--workers", "1", "--approaches", "baseline", "mlp+spk"]
    argv += ["--skip-cross-corpus", "--steps", "200", "--final", "mlp+spk"]
    assert train.main(argv) == 0

    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert set(report["loso"]) == {"baseline", "mlp+spk"}
    assert set(report["loso"]["mlp+spk"]["per_speaker_uar"]) == {"emodb/08", "emodb/09"}
    assert report["final_approach"] == "mlp+spk"

    clf = VoiceEmotionClassifier.load(model_path)
    assert clf.metadata["trained_on"] == "emodb"
    assert clf.uses_speaker_normalisation  # raw + speaker-normalised inputs, prior in the metadata
    rng = np.random.default_rng(7)
    waves = [_voice(*CLASSES[letter], rng) for letter in ("W", "T", "F")]
    probs = clf.predict_batch(waves)
    assert probs.shape == (3, 7) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    for unseen in ("disgust", "fear", "surprise", "neutral"):  # never in the training data
        assert probs[:, LABEL_INDEX[unseen]].max() < 1e-6
    # The three synthetic voices are trivially separable: the trained model must get them right.
    assert probs.argmax(axis=1).tolist() == [LABEL_INDEX[x] for x in ("angry", "sad", "happy")]
    assert clf.predict_batch([]).shape == (0, 7)
    assert clf.predict_features(np.zeros((2, NUM_INPUTS))).shape == (2, 7)

    # A participant's running statistics: every utterance updates its own speaker, in order.
    first, second = clf.new_normaliser(), clf.new_normaliser()
    assert first is not None and second is not None
    with_speakers = clf.predict_batch(waves, [first, first, second])
    assert (first.count, second.count) == (2, 1)
    assert with_speakers.shape == (3, 7)
    np.testing.assert_allclose(with_speakers.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="normalisers"):
        clf.predict_batch(waves, [first])


@pytest.mark.slow
def test_ensemble_training_ships_one_graph_of_averaged_members(tiny_corpus: Path, tmp_path: Path) -> None:
    model_path = tmp_path / "voice.onnx"
    argv = ["--data", str(tiny_corpus), "--out", str(tmp_path / "run"), "--model-out", str(model_path)]
    argv += ["--versions", "2", "--workers", "1", "--approaches", "mlp-ens+spk", "--skip-cross-corpus"]
    argv += ["--steps", "200"]
    assert train.main(argv) == 0
    assert json.loads((tmp_path / "run" / "report.json").read_text())["final_approach"] == "mlp-ens+spk"

    clf = VoiceEmotionClassifier.load(model_path)
    assert clf.metadata["approach"] == "mlp-ens+spk" and clf.uses_speaker_normalisation
    graph = onnx.load(str(model_path)).graph
    assert graph.node[-1].op_type == "Mean" and len(graph.node[-1].input) == train.ENSEMBLE_SIZE
    rng = np.random.default_rng(11)
    waves = [_voice(*CLASSES[letter], rng) for letter in ("W", "T", "F")]
    speaker = clf.new_normaliser()
    probs = clf.predict_batch(waves, [speaker] * 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert probs.argmax(axis=1).tolist() == [LABEL_INDEX[x] for x in ("angry", "sad", "happy")]


def test_model_for_another_front_end_is_refused(tiny_corpus: Path, tmp_path: Path) -> None:
    model_path = tmp_path / "voice.onnx"
    argv = ["--data", str(tiny_corpus), "--out", str(tmp_path / "run"), "--model-out", str(model_path)]
    argv += ["--versions", "2", "--workers", "1", "--skip-loso", "--final", "logreg"]
    assert train.main(argv) == 0
    proto = onnx.load(str(model_path))
    for prop in proto.metadata_props:
        if prop.key == "frontend_version":
            prop.value = "something-else"
    onnx.save(proto, str(model_path))
    with pytest.raises(ModelMismatchError):
        VoiceEmotionClassifier.load(model_path)


def test_track_cache_gives_the_training_features_and_is_reused(tiny_corpus: Path, tmp_path: Path) -> None:
    table = load_corpus_features(tiny_corpus, 2, tmp_path, workers=1)
    assert table.features.shape == (18, 2, NUM_INPUTS)
    cached = list(tmp_path.glob("tracks-*.npz"))
    assert len(cached) == 1
    # Statistics from the cached tracks are the statistics of the clip itself, version by version
    # (rows follow the corpus walk: sorted file names).
    path = sorted(tiny_corpus.glob("*.wav"))[0]
    row = int(np.flatnonzero([s.endswith("/08") for s in table.speakers])[0])
    wave = load_audio(path)
    encoder = VoiceEncoder.load()
    for v in range(2):
        clip_version = version(wave, v, zlib.crc32(path.name.encode()))
        statistics, encoded = table.features[row, v, :NUM_FEATURES], table.features[row, v, NUM_FEATURES:]
        np.testing.assert_allclose(statistics, training_features(clip_version), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(encoded, training_encoder_features(clip_version, encoder), atol=1e-5)
    # A second load reads the cache: same rows, no new file.
    again = load_corpus_features(tiny_corpus, 2, tmp_path, workers=1)
    np.testing.assert_array_equal(again.features, table.features)
    assert list(tmp_path.glob("tracks-*.npz")) == cached


def test_selection_counts_the_phone_channel_as_much_as_clean_audio() -> None:
    def result(clean: float, phone: float) -> dict:
        rep = {"uar": clean, "macro_f1": clean, "accuracy": clean, "n": 10}
        tel = {"uar": phone, "macro_f1": phone, "accuracy": phone, "n": 10}
        return {
            "corpora": {"emodb": {"clean": rep, "telephone": tel}, "nemo": {"clean": rep, "telephone": tel}}
        }

    summary = train.summarise({"studio": result(0.80, 0.60), "robust": result(0.78, 0.70)})
    assert summary["studio"]["mean_clean_uar"] > summary["robust"]["mean_clean_uar"]
    assert summary["robust"]["selection_score"] == pytest.approx(0.74)
    assert max(summary, key=lambda a: summary[a]["selection_score"]) == "robust"
