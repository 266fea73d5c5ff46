"""One real epoch of the training recipe on a tiny generated dataset, then the exported ONNX checked
against the torch model it came from."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from emotion_models.face.classifier import FaceEmotionClassifier
from emotion_models.labels import LABELS
from tests.face.conftest import write_face_dataset


@pytest.mark.slow
def test_one_epoch_exports_onnx_matching_torch(tmp_path):
    torch = pytest.importorskip("torch")
    from training.face import model_card, train
    from training.face.net import FaceEmotionInference, FaceEmotionNet

    write_face_dataset(tmp_path / "train", per_label=6, seed=0)
    write_face_dataset(tmp_path / "val", per_label=2, seed=1)
    out = tmp_path / "run"
    train.main(
        [
            "--train", str(tmp_path / "train"),
            "--val", str(tmp_path / "val"),
            "--out", str(out),
            "--epochs", "2",
            "--batch-size", "16",
            "--threads", "1",
            "--ema", "0.9",
            "--eval-from", "0.6",
            "--channels-last",
        ]
    )  # fmt: skip

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and metrics["train_images"] == 42 and metrics["val_images"] == 14
    # Epoch 1 ends before 60% of the schedule, so only epoch 2 is scored (raw and averaged weights).
    assert [h["epoch"] for h in metrics["history"]] == [2] and metrics["best_epoch"] == 2
    assert metrics["best_weights"] == metrics["history"][0]["weights"]
    assert metrics["best_weights"] in {"raw", "ema"}
    assert set(metrics["validation"]["per_class"]) == set(LABELS)

    net = FaceEmotionNet()
    net.load_state_dict(torch.load(out / "best.pt"))
    reference = FaceEmotionInference(net, metrics["temperature"]).eval()
    classifier = FaceEmotionClassifier.load(out / "face_emotion.onnx")
    assert classifier.input_size == 40

    crops = np.random.default_rng(2).integers(0, 256, (5, 40, 40), dtype=np.uint8)
    onnx_probs = classifier.predict_batch(list(crops))
    with torch.no_grad():
        torch_probs = reference(torch.from_numpy(crops).float().unsqueeze(1)).numpy()
    np.testing.assert_allclose(onnx_probs, torch_probs, atol=1e-4)

    card = tmp_path / "card.md"
    model_card.main(
        ["--metrics", str(out / "metrics.json"), "--onnx", str(out / "face_emotion.onnx"), "--out", str(card)]
    )
    text = card.read_text()
    assert hashlib.sha256((out / "face_emotion.onnx").read_bytes()).hexdigest() in text
    assert "confusion matrix" in text and "--epochs 2" in text and "accuracy **not met**" in text
    assert "--ema 0.9" in text and "--channels-last" in text and "moving average" in text
