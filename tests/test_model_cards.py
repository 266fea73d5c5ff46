"""Every shipped model file is named in its card by the digest it really has (a retrained model with an
unchanged card would otherwise describe numbers that belong to another file). Models we train have a
card (`*_emotion.md`); third-party files we ship unchanged in their weights (the face detector, the
voice encoder) have a licence notice (`*.LICENSE.md`) instead, which must name their digest too."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

ASSETS = Path(__file__).resolve().parents[1] / "emotion_models" / "assets"
CARDS = sorted(ASSETS.glob("*_emotion.md"))
NOTICES = sorted(ASSETS.glob("*.LICENSE.md"))
MODEL_SUFFIXES = (".onnx", ".tflite")


def _noticed_models(notice: Path) -> list[Path]:
    """The model file(s) a `NAME.LICENSE.md` notice is about: `NAME.onnx` / `NAME.tflite`."""
    stem = notice.name.removesuffix(".LICENSE.md")
    return [ASSETS / f"{stem}{suffix}" for suffix in MODEL_SUFFIXES if (ASSETS / f"{stem}{suffix}").is_file()]


def test_every_model_has_a_card_or_a_licence_notice() -> None:
    models = {p.name for p in ASSETS.iterdir() if p.suffix in MODEL_SUFFIXES}
    trained = {p.with_suffix(".onnx").name for p in CARDS}
    third_party = {m.name for n in NOTICES for m in _noticed_models(n)}
    assert {"voice_emotion.onnx", "face_emotion.onnx", "voice_encoder.onnx"} <= models
    assert models == trained | third_party and not trained & third_party


@pytest.mark.parametrize("notice", NOTICES, ids=lambda p: p.name)
def test_licence_notices_name_the_shipped_files_digest(notice: Path) -> None:
    (model,) = _noticed_models(notice)
    actual = hashlib.sha256(model.read_bytes()).hexdigest()
    assert actual in set(re.findall(r"\b[0-9a-f]{64}\b", notice.read_text())), f"{notice.name} lacks {actual}"


@pytest.mark.parametrize("card", CARDS, ids=lambda p: p.name)
def test_card_digests_match_the_model_file(card: Path) -> None:
    actual = hashlib.sha256(card.with_suffix(".onnx").read_bytes()).hexdigest()
    quoted = set(re.findall(r"\b[0-9a-f]{64}\b", card.read_text()))
    assert quoted == {actual}, f"{card.name} quotes {sorted(quoted)}, the model's sha256 is {actual}"
