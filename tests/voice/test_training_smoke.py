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
from emotion_models.voice.encoder import ENCODER_FEATURES, VoiceEncoder
from emotion_models.voice.features import NUM_FEATURES
from emotion_models.voice.inputs import BLOCKS, FrontEnd
from emotion_models.voice.trim import trim_silence
from emotion_models.voice.whisper import WHISPER_FEATURES, WhisperEncoder
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
    argv += ["--frontends", "statistics+resemblyzer+whisper", "whisper"]
    argv += ["--skip-cross-corpus", "--steps", "200", "--final", "mlp+spk@statistics+resemblyzer+whisper"]
    assert train.main(argv) == 0

    report = json.loads((tmp_path / "run" / "report.json").read_text())
    full = "mlp+spk@statistics+resemblyzer+whisper"
    # The baseline reads log-mel statistics, so it runs only on the front end that has them.
    assert set(report["loso"]) == {"baseline@statistics+resemblyzer+whisper", full, "mlp+spk@whisper"}
    assert set(report["loso"][full]["per_speaker_uar"]) == {"emodb/08", "emodb/09"}
    assert report["final_approach"] == full
    assert set(report["duration_only"]) == {"emodb"}

    clf = VoiceEmotionClassifier.load(model_path)
    assert clf.metadata["trained_on"] == "emodb"
    assert clf.frontend == FrontEnd(BLOCKS, trim=True) and clf.encoders.whisper is not None
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
    assert clf.predict_features(np.zeros((2, clf.num_inputs))).shape == (2, 7)

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
    argv += ["--steps", "200", "--frontends", "statistics+resemblyzer"]
    assert train.main(argv) == 0
    final = json.loads((tmp_path / "run" / "report.json").read_text())["final_approach"]
    assert final == "mlp-ens+spk@statistics+resemblyzer"

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
    argv += ["--versions", "2", "--workers", "1", "--skip-loso", "--final", "logreg@statistics"]
    assert train.main(argv) == 0
    proto = onnx.load(str(model_path))
    for prop in proto.metadata_props:
        if prop.key == "frontend_version":
            prop.value = "something-else"
    onnx.save(proto, str(model_path))
    with pytest.raises(ModelMismatchError):
        VoiceEmotionClassifier.load(model_path)


def test_track_cache_gives_the_training_features_and_is_reused(tiny_corpus: Path, tmp_path: Path) -> None:
    # Three versions, the last an augmentation chain heard on the phone line.
    table = load_corpus_features(tiny_corpus, 3, tmp_path, workers=1, phone_chains=1)
    assert table.features.shape == (18, 3, NUM_FEATURES + ENCODER_FEATURES + WHISPER_FEATURES)
    assert table.durations is not None and table.durations.shape == (18, 2)
    cached = list(tmp_path.glob("tracks-*.npz"))
    assert len(cached) == 1
    # Statistics from the cached tracks are the statistics of the clip itself, version by version
    # (rows follow the corpus walk: sorted file names).
    path = sorted(tiny_corpus.glob("*.wav"))[0]
    row = int(np.flatnonzero([s.endswith("/08") for s in table.speakers])[0])
    wave = trim_silence(load_audio(path))  # training trims before everything, as run time does
    encoder, whisper = VoiceEncoder.load(), WhisperEncoder.shared()
    end = NUM_FEATURES + ENCODER_FEATURES
    for v in range(3):
        clip_version = version(wave, v, zlib.crc32(path.name.encode()), phone_chains_from=2)
        statistics, encoded = table.features[row, v, :NUM_FEATURES], table.features[row, v, NUM_FEATURES:end]
        np.testing.assert_allclose(statistics, training_features(clip_version), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(encoded, training_encoder_features(clip_version, encoder), atol=1e-5)
        np.testing.assert_allclose(table.features[row, v, end:], whisper.features(clip_version), atol=1e-5)
    # A second load reads the cache: same rows, no new file.
    again = load_corpus_features(tiny_corpus, 3, tmp_path, workers=1, phone_chains=1)
    np.testing.assert_array_equal(again.features, table.features)
    assert list(tmp_path.glob("tracks-*.npz")) == cached
    with pytest.raises(ValueError, match="phone_chains"):
        load_corpus_features(tiny_corpus, 3, tmp_path, workers=1, phone_chains=2)


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


def test_selection_prefers_corpus_transfer_within_a_point_of_loso() -> None:
    loso = {"a": {"selection_score": 0.700}, "b": {"selection_score": 0.692}, "c": {"selection_score": 0.65}}
    loco = {"a": {"mean_clean_uar": 0.45}, "b": {"mean_clean_uar": 0.50}, "c": {"mean_clean_uar": 0.60}}
    assert train.select(loso, loco, 0.01) == "b"  # c transfers best but loses 5 points of LOSO
    assert train.select(loso, None, 0.01) == "a"


def test_speaker_folds_hold_out_every_clip_once() -> None:
    from training.voice.dataset import FeatureTable

    speakers = [f"emodb/{i:02d}" for i in range(3) for _ in range(4)]
    speakers += [f"ased/{i:02d}" for i in range(20) for _ in range(1 + i % 3)]
    n = len(speakers)
    table = FeatureTable(
        np.zeros((n, 2, 1), np.float32),
        np.zeros(n, np.int64),
        np.array(speakers),
        np.array([s.split("/")[0] for s in speakers]),
    )
    folds = train.speaker_folds(table, max_loso_speakers=12, group_folds=5)
    names = [name for name, _ in folds]
    assert names[:5] == [f"ased/fold{k}" for k in range(5)] and names[5:] == [
        "emodb/00",
        "emodb/01",
        "emodb/02",
    ]
    held = np.sum([mask for _, mask in folds], axis=0)
    assert (held == 1).all()
    for _, mask in folds:  # a speaker is never split between folds
        assert all(set(np.array(speakers)[mask]).isdisjoint(np.array(speakers)[~mask]) for _ in [0])
