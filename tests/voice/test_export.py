"""The exported ONNX graph computes exactly what the trained numpy model computes, ensemble or not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from emotion_models.voice.classifier import INPUT_NAME, VoiceEmotionClassifier
from emotion_models.voice.inputs import FRONTEND_VERSION, NUM_INPUTS
from training.voice.export import save_onnx
from training.voice.models import Classifier, DenseEnsemble, DenseModel, fit


@pytest.fixture(scope="module")
def rows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    x = rng.standard_normal((300, NUM_INPUTS)).astype(np.float32)
    x[:, :3] += 2.0 * np.eye(3, dtype=np.float32)[y]  # learnable signal in three columns
    return x, y, np.array(["emodb"] * 300)


def _ensemble(rows: tuple, seed: int = 0, size: int = 3) -> DenseEnsemble:
    x, y, corpora = rows
    return DenseEnsemble(tuple(fit("mlp", x, y, corpora, seed=seed + k, steps=60) for k in range(size)))


@pytest.mark.parametrize("approach", ["mlp", "ensemble"])
def test_onnx_matches_numpy(approach: str, rows: tuple, tmp_path: Path) -> None:
    x, y, corpora = rows
    model: Classifier = _ensemble(rows) if approach == "ensemble" else fit("mlp", x, y, corpora, steps=60)
    path = tmp_path / "voice.onnx"
    save_onnx(model, path, {"approach": approach}, FRONTEND_VERSION)

    clf = VoiceEmotionClassifier.load(path)
    np.testing.assert_allclose(clf.predict_features(x[:50]), model.predict_proba(x[:50]), atol=1e-5)
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == [INPUT_NAME]
    if isinstance(model, DenseEnsemble):
        assert [n.op_type for n in graph.node].count("Softmax") == len(model.members) == 3
        assert graph.node[-1].op_type == "Mean"
    else:
        assert isinstance(model, DenseModel)


def test_ensemble_members_differ_and_average(rows: tuple) -> None:
    x = rows[0]
    model = _ensemble(rows, seed=3)
    member_probs = [m.predict_proba(x[:20]) for m in model.members]
    assert not np.allclose(member_probs[0], member_probs[1])  # consecutive seeds, not copies
    np.testing.assert_allclose(model.predict_proba(x[:20]), np.mean(member_probs, axis=0), atol=1e-6)
    # Unseen classes stay impossible in the average as in every member.
    assert model.predict_proba(x[:20])[:, 3:].max() < 1e-6


def test_ensemble_rejects_mismatched_members(rows: tuple) -> None:
    x, y, corpora = rows
    one = fit("mlp", x, y, corpora, steps=20)
    other = fit("mlp", np.concatenate([x, x], axis=1), y, corpora, steps=20)
    with pytest.raises(ValueError, match="input width"):
        DenseEnsemble((one, other))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        DenseEnsemble(())
