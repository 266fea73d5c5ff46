"""FER+ training, export and evaluation end to end on small generated folders.

The folders have FER2013's layout (`train/`, `validation/`, `ferplus_votes.csv`); the training run
starts from a member of a generated int8 ensemble and spends about a second per phase on the CPU, so
the numbers mean nothing, but every step the real run takes is taken: votes read by image key,
both compare arms, the teacher, distillation, the ONNX export and its check against torch, and
the eval command with FER+ majority labels.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper

from emotion_models.face.classifier import FaceEmotionClassifier
from emotion_models.face.evaluate import run_eval
from emotion_models.face.ferplus import VOTE_COLUMNS
from emotion_models.labels import LABELS
from tests.face.conftest import write_face_dataset
from training.face import export_v2, ferplus_card, ferplus_train
from training.face.ensemble import merge, quantize_int8
from training.face.net import INPUT_SIZE, FaceEmotionInference, FaceEmotionNet, export_onnx
from training.face.recover_member import extract_member
from training.face.warm_start import member_net, start_net

# FER+ column of each of our labels (the CSV's order differs from LABELS).
COLUMN = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happiness",
    "sad": "sadness",
    "surprise": "surprise",
    "neutral": "neutral",
}


def _jpg_folder(root: Path, per_label: int, seed: int) -> None:
    """write_face_dataset's images as FER2013-style 48x48 JPEGs."""
    write_face_dataset(root, per_label, seed)
    for png in root.rglob("*.png"):
        cv2.imwrite(str(png.with_suffix(".jpg")), cv2.imread(str(png), cv2.IMREAD_GRAYSCALE))
        png.unlink()


def _vote_row(split: str, path: Path, label: str, rng: np.random.Generator) -> str:
    counts = dict.fromkeys(VOTE_COLUMNS, 0)
    counts[COLUMN[label]] = 7
    counts[VOTE_COLUMNS[int(rng.integers(0, 10))]] += 3
    return f"{split},{split}/{path.parent.name}/{path.name}," + ",".join(str(counts[c]) for c in VOTE_COLUMNS)


@pytest.fixture(scope="module")
def fer_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fer2013")
    _jpg_folder(root / "train", per_label=12, seed=0)
    _jpg_folder(root / "validation", per_label=3, seed=1)
    # one validation image is a copy of a training image (FER2013 has 280 of those)
    copy = next((root / "train" / "happy").glob("*.jpg"))
    (root / "validation" / "happy" / "copy_of_train.jpg").write_bytes(copy.read_bytes())
    rng = np.random.default_rng(0)
    rows = ["split,file," + ",".join(VOTE_COLUMNS)]
    for split in ("train", "validation"):
        for path in sorted((root / split).rglob("*.jpg")):
            rows.append(_vote_row(split, path, path.parent.name, rng))
    (root / "ferplus_votes.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def ensemble_file(tmp_path_factory) -> Path:
    """An int8 two-member ensemble as training.face.ensemble writes it (random, distinct members)."""
    root = tmp_path_factory.mktemp("ensemble")
    members = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        net = FaceEmotionNet()
        for m in net.modules():  # batch norm that is not the identity, so folding it is tested
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.data.uniform_(0.5, 1.5)
        path = root / f"m{seed}.onnx"
        export_onnx(FaceEmotionInference(net.eval(), 1.3), str(path))
        members.append(onnx.load(str(path)))
    calibration = np.random.default_rng(0).integers(0, 256, (32, INPUT_SIZE, INPUT_SIZE), dtype=np.uint8)
    merged = quantize_int8(merge(members, 1.0), calibration, root / "quant")
    out = root / "ensemble.onnx"
    onnx.save(merged, str(out))
    return out


def test_warm_start_reproduces_the_ensemble_member(ensemble_file):
    net = member_net(ensemble_file, 1).eval()
    member = extract_member(onnx.load(str(ensemble_file)), 1)
    temperature = next(
        float(numpy_helper.to_array(t)) for t in member.graph.initializer if t.name.endswith("temperature")
    )
    session = ort.InferenceSession(member.SerializeToString(), providers=["CPUExecutionProvider"])
    pixels = np.random.default_rng(0).uniform(0, 255, (4, 1, INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
    expected = session.run(None, {"pixels": pixels})[0]
    with torch.no_grad():
        got = FaceEmotionInference(net, temperature)(torch.from_numpy(pixels)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    with pytest.raises(ValueError, match="no member 7"):
        member_net(ensemble_file, 7)
    with pytest.raises(ValueError, match="expected ENSEMBLE"):
        start_net(str(ensemble_file))


def test_training_phases_export_and_eval(tmp_path, fer_folder, ensemble_file):
    out = tmp_path / "run"
    result = ferplus_train.run(
        ferplus_train.build_parser().parse_args(
            [
                "--data", str(fer_folder), "--out", str(out), "--device", "cpu",
                "--budget", "compare=1.5,teacher=1,distil=1", "--batch", "16", "--lr", "0.01",
                "--init", f"{ensemble_file}:1", "--threads", "1",
            ]
        )
    )  # fmt: skip
    assert result["train_images"] == 12 * len(LABELS)
    assert result["validation_scored_ferplus"] == 3 * len(LABELS)  # the copy of a train image is left out
    assert set(result["phases"]) == {
        "compare_folder", "compare_votes", "teacher", "distil_s32", "distil_s48",
    }  # fmt: skip
    for name, phase in result["phases"].items():
        assert phase["steps"] >= 1, name
        assert 0 <= phase["ferplus_accuracy"] <= 1 and phase["weights"] in ("raw", "ema")
    assert result["phases"]["compare_votes"]["init_scores"]["ferplus_n"] == 3 * len(LABELS)
    assert json.loads((out / "metrics.json").read_text())["phases"].keys() == result["phases"].keys()

    onnx_path = tmp_path / "face_emotion.onnx"
    report = export_v2.export(
        export_v2.build_parser().parse_args(
            [
                "--weights", str(out / "compare_votes.pt"), "--data", str(fer_folder),
                "--out", str(onnx_path), "--report", str(tmp_path / "export" / "export.json"),
            ]
        )
    )  # fmt: skip
    # the float graph is the torch network (the export raises above 1e-3)
    assert report["agreement"]["fp32_onnx_vs_torch_max_abs"] < 1e-4
    assert report["widths"] == [32, 64, 128, 256]
    assert report["int8"]["ferplus_majority"]["n"] == 3 * len(LABELS)
    assert report["ms_per_face_batch8_one_core"]["int8"] > 0
    card = tmp_path / "card.md"
    versus = {
        "command": "ms_per_face", "this_ms": 1.0, "previous_ms": 3.0, "participants": "30",
        "previous_ferplus": {"accuracy": 0.7, "macro_f1": 0.6, "neutral_recall": 0.5},
        "previous_folder_accuracy": 0.7,
        "labels_agree": {"n": 10, "this": 0.9, "previous": 0.8},
        "labels_disagree": {
            "this_matches_folder": 0.1, "previous_matches_folder": 0.4,
            "this_matches_ferplus": 0.8, "previous_matches_ferplus": 0.3,
        },
    }  # fmt: skip
    (tmp_path / "versus.json").write_text(json.dumps(versus))
    ferplus_card.main(
        [
            "--export", str(tmp_path / "export" / "export.json"), "--run", f"votes={out / 'metrics.json'}",
            "--shipped-run", "votes", "--versus", str(tmp_path / "versus.json"),
            "--onnx", str(onnx_path), "--out", str(card),
        ]
    )  # fmt: skip
    text = card.read_text()
    assert hashlib.sha256(onnx_path.read_bytes()).hexdigest() in text
    assert f"accuracy **{report['int8']['ferplus_majority']['accuracy']:.4f}**" in text
    assert "confusion matrix" in text and "(0.33 x)" in text
    classifier = FaceEmotionClassifier.load(onnx_path)
    # a later run can start from this one's saved weights
    assert (
        start_net(str(out / "compare_votes.pt")).state_dict().keys()
        == member_net(ensemble_file, 0).state_dict().keys()
    )
    crop = cv2.imread(str(next((fer_folder / "validation" / "sad").glob("*.jpg"))), cv2.IMREAD_GRAYSCALE)
    probs = classifier.predict_batch([cv2.resize(crop, (INPUT_SIZE, INPUT_SIZE))])
    assert probs.shape == (1, len(LABELS)) and probs.sum() == pytest.approx(1.0, abs=1e-4)


def _eval(capsys, **kwargs) -> tuple[int, dict]:
    args = argparse.Namespace(**{"crops": True, "model": None, "json": True, **kwargs})
    code = run_eval(args)
    out = capsys.readouterr().out
    return code, json.loads(out.strip().splitlines()[-1]) if code == 0 else {}


def test_eval_with_ferplus_labels_counts_what_it_leaves_out(tmp_path, fer_folder, capsys):
    val = tmp_path / "validation"
    rows = ["split,file," + ",".join(VOTE_COLUMNS)]

    def add(label: str, name: str, which: int = 0, **counts: int) -> Path:
        src = sorted((fer_folder / "validation" / label).glob("*.jpg"))[which]
        dst = val / label / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(src.read_bytes())
        if counts:
            row = [str(counts.get(c, 0)) for c in VOTE_COLUMNS]
            rows.append(f"validation,validation/{label}/{name}," + ",".join(row))
        return dst

    add("happy", "a.jpg", happiness=9, neutral=1)  # FER+ agrees with the folder
    add("sad", "b.jpg", neutral=8, sadness=2)  # FER+ says neutral: relabelled, not dropped
    add("angry", "c.jpg", anger=5, neutral=5)  # no majority
    add("fear", "d.jpg", contempt=7, fear=3)  # a majority for a class we do not have
    add("surprise", "e.jpg")  # no votes at all
    add("neutral", "dup.jpg", neutral=10)
    rows.append("validation,validation/neutral/dup.jpg,0,0,0,0,10,0,0,0,0,0")  # the same key twice
    (val / "neutral" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    rows.append("validation,validation/neutral/broken.jpg,10,0,0,0,0,0,0,0,0,0")
    copy = add("happy", "copy.jpg", which=1, happiness=10)
    (tmp_path / "train" / "happy").mkdir(parents=True)
    (tmp_path / "train" / "happy" / "t.jpg").write_bytes(copy.read_bytes())
    csv = tmp_path / "votes.csv"
    csv.write_text("\n".join(rows) + "\n")

    code, result = _eval(capsys, data=str(val), labels=["ferplus-votes", str(csv)])
    assert code == 0
    assert result["labels"] == "ferplus-votes" and result["no_majority"] == 1
    assert result["n"] == 4  # a, b, dup, copy
    assert result["skipped"] == {
        "ferplus_no_majority": 1, "ferplus_contempt": 1, "ferplus_no_votes": 1, "unreadable": 1,
    }  # fmt: skip
    support = {k: v["support"] for k, v in result["per_class"].items() if v["support"]}
    assert support == {"happy": 2, "neutral": 2}  # b counts as neutral; dup keeps its first row

    code, result = _eval(
        capsys, data=str(val), labels=["ferplus-votes", str(csv)], exclude_pixels_of=str(tmp_path / "train")
    )
    assert code == 0 and result["n"] == 3
    assert result["skipped"]["pixels_also_in_excluded_set"] == 1

    code, result = _eval(capsys, data=str(val), labels=["folder"])
    assert code == 0 and result["labels"] == "folder" and result["n"] == 7
    assert _eval(capsys, data=str(val), labels=["ferplus-votes"])[0] == 2  # no CSV given
    assert _eval(capsys, data=str(val), labels=["ferplus-votes", str(tmp_path / "absent.csv")])[0] == 2
