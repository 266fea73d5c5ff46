"""`emotion-bot eval face` on small real folders: output schema, skips, detection accounting."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest

from bot.cli import main as cli_main
from emotion_models.face.align import align_face
from emotion_models.face.evaluate import run_eval
from emotion_models.labels import LABELS

RESULT_SCHEMA = {
    "type": "object",
    "required": ["n", "accuracy", "macro_f1", "uar", "per_class", "skipped", "confusion_matrix"],
    "properties": {
        "n": {"type": "integer", "minimum": 1},
        "accuracy": {"type": "number", "minimum": 0, "maximum": 1},
        "macro_f1": {"type": "number", "minimum": 0, "maximum": 1},
        "uar": {"type": "number", "minimum": 0, "maximum": 1},
        "skipped": {"type": "object", "additionalProperties": {"type": "integer"}},
        "per_class": {
            "type": "object",
            "required": list(LABELS),
            "additionalProperties": {
                "type": "object",
                "required": ["precision", "recall", "f1", "support"],
            },
        },
    },
}


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="module")
def crop_folder(tmp_path_factory, detector, astronaut) -> Path:
    root = tmp_path_factory.mktemp("crops")
    crop = align_face(astronaut, detector.detect(astronaut)[0], 48)
    for label in ("happiness", "anger", "neutral"):  # aliases are accepted
        (root / label).mkdir()
        for i in range(2):
            cv2.imwrite(str(root / label / f"{i}.png"), np.roll(crop, i, axis=1))
    (root / "neutral" / "broken.jpg").write_bytes(b"\xff\xd8\xff this is no jpeg")
    (root / "neutral" / "notes.txt").write_text("not an image")
    (root / "contempt").mkdir()
    cv2.imwrite(str(root / "contempt" / "0.png"), crop)
    return root


def _run(capsys, **kwargs) -> tuple[int, dict, str]:
    args = argparse.Namespace(**{"crops": False, "model": None, "json": True, **kwargs})
    code = run_eval(args)
    out = capsys.readouterr().out
    return code, json.loads(out.strip().splitlines()[-1]) if code == 0 else {}, out


def test_crops_mode_schema_and_skips(capsys, crop_folder):
    code, result, out = _run(capsys, data=str(crop_folder), crops=True)
    assert code == 0
    assert len(out.strip().splitlines()) == 1  # --json: only the JSON line
    jsonschema.validate(result, RESULT_SCHEMA)
    assert result["n"] == 6 and result["mode"] == "crops"
    assert result["skipped"] == {"label:contempt": 1, "unreadable": 1, "not_image": 1}
    assert {name: c["support"] for name, c in result["per_class"].items() if c["support"]} == {
        "angry": 2,
        "happy": 2,
        "neutral": 2,
    }
    assert result["classifier_ms_per_face"] > 0


def test_readable_report_before_json(capsys, crop_folder):
    code, result, out = _run(capsys, data=str(crop_folder), crops=True, json=False)
    assert code == 0
    assert "confusion matrix" in out and "precision" in out
    assert out.strip().splitlines()[-1].startswith("{")
    assert result["n"] == 6


def test_frames_mode_counts_undetected_faces_as_wrong(capsys, tmp_path, astronaut, coffee):
    (tmp_path / "happy").mkdir()
    cv2.imwrite(str(tmp_path / "happy" / "astronaut.png"), _bgr(astronaut))
    cv2.imwrite(str(tmp_path / "happy" / "coffee.jpg"), _bgr(coffee))
    code, result, _ = _run(capsys, data=str(tmp_path))
    assert code == 0
    jsonschema.validate(result, RESULT_SCHEMA)
    assert result["mode"] == "frames" and result["n"] == 2
    assert result["detected"] == 1 and result["detection_rate"] == 0.5
    happy = LABELS.index("happy")
    assert result["confusion_matrix"][happy][-1] == 1  # the coffee frame, in the no_face column
    assert result["per_class"]["happy"]["recall"] <= 0.5


def test_bad_folders_are_clear_errors(capsys, tmp_path):
    assert _run(capsys, data=str(tmp_path / "absent"), crops=True)[0] == 2
    (tmp_path / "hapy").mkdir()  # typo: loud, not silently dropped
    assert _run(capsys, data=str(tmp_path), crops=True)[0] == 2
    empty = tmp_path / "empty"
    (empty / "happy").mkdir(parents=True)
    assert _run(capsys, data=str(empty), crops=True)[0] == 2


def test_cli_entry_point(capsys, crop_folder):
    code = cli_main(["eval", "face", "--data", str(crop_folder), "--crops", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["n"] == 6
