"""The face ensemble builder on two real (tiny) training runs: the merged graph computes exactly the
averaged member log-probabilities, int8 quantisation keeps the predictions, and the card renders."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from emotion_models.face.classifier import FaceEmotionClassifier
from tests.face.conftest import write_face_dataset

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from training.face import train

    root = tmp_path_factory.mktemp("ensemble")
    write_face_dataset(root / "train", per_label=6, seed=0)
    write_face_dataset(root / "val", per_label=3, seed=1)
    paths = {"train": root / "train", "val": root / "val", "root": root}
    for seed in (0, 1):
        out = root / f"run{seed}"
        train.main(
            ["--train", str(root / "train"), "--val", str(root / "val"), "--out", str(out),
             "--epochs", "1", "--batch-size", "16", "--threads", "1", "--seed", str(seed)]
        )  # fmt: skip
        paths[f"run{seed}"] = out / "face_emotion.onnx"
    return paths


def _crops(n: int = 12) -> np.ndarray:
    return np.random.default_rng(5).integers(0, 256, (n, 40, 40), dtype=np.uint8)


@pytest.mark.slow
def test_merged_graph_is_the_tempered_mean_of_member_log_probabilities(runs):
    from training.face.ensemble import merge, predict

    members = [onnx.load(str(runs["run0"])), onnx.load(str(runs["run1"]))]
    crops = _crops()
    p0, p1 = predict(members[0], crops), predict(members[1], crops)
    assert not np.allclose(p0, p1, atol=1e-3)  # different seeds: really two models
    temperature = 1.7
    merged = predict(merge(members, temperature), crops)
    logits = (np.log(p0) + np.log(p1)) / 2 / temperature
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(merged, expected, atol=1e-5)
    np.testing.assert_allclose(merged.sum(1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_single_member_at_unit_temperature_reproduces_the_member(runs):
    from training.face.ensemble import merge, predict

    member = onnx.load(str(runs["run0"]))
    np.testing.assert_allclose(predict(merge([member], 1.0), _crops()), predict(member, _crops()), atol=1e-5)


@pytest.mark.slow
def test_members_with_different_input_sizes_are_refused(runs):
    from training.face.ensemble import merge

    small, large = onnx.load(str(runs["run0"])), onnx.load(str(runs["run1"]))
    large.graph.input[0].type.tensor_type.shape.dim[2].dim_value = 48
    with pytest.raises(ValueError, match="input size"):
        merge([small, large], 1.0)
    with pytest.raises(ValueError, match="at least one"):
        merge([], 1.0)


@pytest.mark.slow
def test_build_quantises_reports_and_renders_a_card(runs, tmp_path):
    from training.face import ensemble, model_card

    out = tmp_path / "ensemble" / "face_emotion.onnx"
    ensemble.main(
        ["--member", str(runs["run0"]), "--member", str(runs["run1"]),
         "--calib", str(runs["train"]), "--val", str(runs["val"]), "--out", str(out), "--calib-images", "32",
         "--scales", "1,1.06", "--compare-scales", "1"]
    )  # fmt: skip
    summary = json.loads((out.parent / "ensemble.json").read_text())
    assert summary["int8"] is True and summary["calibration_images"] == 32
    assert summary["view_scales"] == [1.0, 1.06] and set(summary["alternatives_fp32_t1"]) == {"1"}
    assert summary["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert [m["sha256"] for m in summary["members"]] == [
        hashlib.sha256(runs[k].read_bytes()).hexdigest() for k in ("run0", "run1")
    ]
    assert all(m["metrics"]["args"]["seed"] == s for m, s in zip(summary["members"], (0, 1), strict=True))
    assert summary["validation"]["n"] == 21

    ops = Counter(node.op_type for node in onnx.load(str(out)).graph.node)
    # 2 members x 2 flip passes x 8 convs; the zoomed view shares the members' weights (batch axis).
    assert ops["QuantizeLinear"] > 0 and ops["Conv"] == 32 and ops["MatMul"] == 2

    # The shipped-model loader takes it as is; int8 keeps the float ensemble's decisions.
    int8 = FaceEmotionClassifier.load(out).predict_batch(list(_crops(64)))
    fp32 = ensemble.predict(
        ensemble.merge(
            [onnx.load(str(runs[k])) for k in ("run0", "run1")], summary["temperature"], (1.0, 1.06)
        ),
        _crops(64),
    )
    np.testing.assert_allclose(int8.sum(1), 1.0, atol=1e-5)
    assert (int8.argmax(1) == fp32.argmax(1)).mean() >= 0.9
    assert np.abs(int8 - fp32).max() < 0.1

    card = tmp_path / "card.md"
    model_card.main(
        ["--ensemble", str(out.parent / "ensemble.json"), "--onnx", str(out), "--out", str(card)]
    )  # fmt: skip
    text = card.read_text()
    assert summary["sha256"] in text and "ensemble of 2" in text and "int8" in text
    assert "--seed 1" in text and "confusion matrix" in text and "accuracy **" in text


@pytest.mark.parametrize("scale", [0.94, 1.06, 1.2])
def test_resample_matrix_zooms_like_opencv(scale):
    import cv2

    from training.face.ensemble import resample_matrix

    image = np.random.default_rng(0).uniform(0, 255, (40, 40)).astype(np.float32)
    zoom = resample_matrix(40, scale)
    reference = cv2.warpAffine(
        image,
        cv2.getRotationMatrix2D((19.5, 19.5), 0, scale),
        (40, 40),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    np.testing.assert_allclose(zoom @ image @ zoom.T, reference, atol=2e-3)
    np.testing.assert_allclose(resample_matrix(40, 1.0), np.eye(40), atol=1e-6)


@pytest.mark.slow
def test_zoomed_views_are_averaged_per_member_in_log_space(runs):
    from training.face.ensemble import merge, predict, resample_matrix

    members = [onnx.load(str(runs["run0"])), onnx.load(str(runs["run1"]))]
    crops = _crops(6)
    zoom = resample_matrix(40, 1.06)
    zoomed = np.clip(np.rint(np.stack([zoom @ c.astype(np.float64) @ zoom.T for c in crops])), 0, 255)
    # Rounded to uint8 for predict(); the graph zooms in float, so compare at a looser tolerance.
    logs = [np.log(predict(m, x)) for m in members for x in (crops, zoomed.astype(np.uint8))]
    logits = np.mean(logs, axis=0)
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    merged = predict(merge(members, 1.0, (1.0, 1.06)), crops)
    np.testing.assert_allclose(merged, expected, atol=2e-3)
    assert not np.allclose(merged, predict(merge(members, 1.0), crops), atol=1e-4)  # the view matters
    with pytest.raises(ValueError, match="positive"):
        merge(members, 1.0, (1.0, 0.0))


@pytest.mark.slow
def test_members_are_recovered_from_float_and_int8_ensembles(runs, tmp_path):
    from training.face.ensemble import merge, predict, quantize_int8
    from training.face.recover_member import extract_member

    members = [onnx.load(str(runs[k])) for k in ("run0", "run1")]
    crops = _crops(64)
    originals = [predict(m, crops) for m in members]
    merged = merge(members, 1.3)
    for i, original in enumerate(originals):  # float ensemble: the member graph itself comes back
        np.testing.assert_allclose(predict(extract_member(merged, i), crops), original, atol=1e-5)

    int8 = quantize_int8(merged, _crops(32), tmp_path / "q")
    assert Counter(n.op_type for n in int8.graph.node)["Relu"] == 0  # folded into uint8 activations
    for i, original in enumerate(originals):
        recovered = extract_member(int8, i)
        ops = Counter(n.op_type for n in recovered.graph.node)
        assert ops["QuantizeLinear"] == ops["DequantizeLinear"] == 0
        relu_inputs = {n.input[0] for n in recovered.graph.node if n.op_type == "Relu"}
        convs = [n for n in recovered.graph.node if n.op_type == "Conv"]
        assert len(convs) == 16 and all(c.output[0] in relu_inputs for c in convs)  # every ReLU is back
        probs = predict(recovered, crops)
        assert np.abs(probs - original).max() < 0.05  # only the int8 rounding of the weights remains
        assert (probs.argmax(1) == original.argmax(1)).mean() >= 0.9
    with pytest.raises(ValueError, match="no member 2"):
        extract_member(int8, 2)


def test_card_explains_members_with_different_epoch_counts():
    from training.face.model_card import _speed_line

    assert "52 to 91 epochs" in _speed_line([{"epochs_run": 91}, {"epochs_run": 52}, {"epochs_run": 52}])
    assert _speed_line([{"epochs_run": 52}, {"epochs_run": 55}]) == ""  # within run-to-run noise
    assert _speed_line([{"epochs_run": 52}]) == ""
