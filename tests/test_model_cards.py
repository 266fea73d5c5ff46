"""Every shipped model file is named in its card by the digest it really has (a retrained model with an
unchanged card would otherwise describe numbers that belong to another file)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

ASSETS = Path(__file__).resolve().parents[1] / "emotion_models" / "assets"
CARDS = sorted(ASSETS.glob("*_emotion.md"))


def test_every_model_has_a_card() -> None:
    models = {p.stem for p in ASSETS.glob("*.onnx")}
    assert models and models == {p.stem for p in CARDS}


@pytest.mark.parametrize("card", CARDS, ids=lambda p: p.name)
def test_card_digests_match_the_model_file(card: Path) -> None:
    actual = hashlib.sha256(card.with_suffix(".onnx").read_bytes()).hexdigest()
    quoted = set(re.findall(r"\b[0-9a-f]{64}\b", card.read_text()))
    assert quoted == {actual}, f"{card.name} quotes {sorted(quoted)}, the model's sha256 is {actual}"
