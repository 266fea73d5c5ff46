"""What the voice classifier sees per utterance: named blocks of features, in a fixed order.

Blocks (each computed from the same 16 kHz utterance):
- `statistics` (NUM_FEATURES): our hand-made utterance statistics (features.py, dynamics.py);
- `resemblyzer` (ENCODER_FEATURES): the pooled states of Resemblyzer's voice encoder (encoder.py);
- `whisper` (WHISPER_FEATURES): the pooled states of Whisper-base's encoder (whisper.py).
A `FrontEnd` is a selection of blocks, optionally after trimming edge silence (trim.py). Its
`version` string is stored in every exported model and parsed back when the model loads, so a
model always gets the inputs it was trained on: the v2 model (statistics + resemblyzer, untrimmed)
keeps working beside models built on other selections.

The statistics and Resemblyzer blocks add up: on nEMO's held-out speakers one speaker-normalised
MLP scored 0.606 UAR on the statistics alone and 0.652 with both (model card).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emotion_models.voice.encoder import ENCODER_FEATURES, ENCODER_VERSION, VoiceEncoder
from emotion_models.voice.features import NUM_FEATURES, STATISTICS_VERSION, extract_features
from emotion_models.voice.trim import TRIM_VERSION, trim_silence
from emotion_models.voice.whisper import WHISPER_FEATURES, WHISPER_VERSION, WhisperEncoder

STATISTICS = "statistics"
RESEMBLYZER = "resemblyzer"
WHISPER = "whisper"
BLOCKS: tuple[str, ...] = (STATISTICS, RESEMBLYZER, WHISPER)  # the column order of every selection
BLOCK_WIDTH = {STATISTICS: NUM_FEATURES, RESEMBLYZER: ENCODER_FEATURES, WHISPER: WHISPER_FEATURES}
BLOCK_VERSION = {STATISTICS: STATISTICS_VERSION, RESEMBLYZER: ENCODER_VERSION, WHISPER: WHISPER_VERSION}


class FrontEndError(ValueError):
    """A front-end version string this code does not know."""


@dataclass(frozen=True)
class FrontEnd:
    """A selection of feature blocks (in BLOCKS order), with or without edge trimming first."""

    blocks: tuple[str, ...]
    trim: bool = True

    def __post_init__(self) -> None:
        if not self.blocks or tuple(b for b in BLOCKS if b in self.blocks) != self.blocks:
            raise FrontEndError(f"blocks {self.blocks} must be a non-empty selection of {BLOCKS}, in order")

    @property
    def version(self) -> str:
        parts = [BLOCK_VERSION[b] for b in self.blocks]
        return "+".join(([TRIM_VERSION] if self.trim else []) + parts)

    @property
    def width(self) -> int:
        return sum(BLOCK_WIDTH[b] for b in self.blocks)

    @property
    def name(self) -> str:
        """Short name for reports: `statistics+resemblyzer`."""
        return "+".join(self.blocks)

    @classmethod
    def parse(cls, version: str) -> FrontEnd:
        """The front end a model's `frontend_version` names (FrontEndError if unknown)."""
        parts = version.split("+")
        trim = parts[0] == TRIM_VERSION
        by_version = {v: b for b, v in BLOCK_VERSION.items()}
        blocks = parts[1:] if trim else parts
        if not blocks or any(p not in by_version for p in blocks):
            raise FrontEndError(f"unknown front end {version!r} (blocks known: {sorted(by_version)})")
        return cls(tuple(by_version[p] for p in blocks), trim)

    @classmethod
    def from_name(cls, name: str, trim: bool = True) -> FrontEnd:
        """`statistics+whisper` -> FrontEnd((statistics, whisper))."""
        return cls(tuple(b for b in BLOCKS if b in name.split("+")), trim)

    def columns(self, blocks: tuple[str, ...] = BLOCKS) -> np.ndarray:
        """Indices of this front end's columns inside a table holding `blocks` side by side."""
        starts = np.cumsum([0, *(BLOCK_WIDTH[b] for b in blocks)])
        return np.concatenate(
            [np.arange(starts[i], starts[i + 1]) for i, b in enumerate(blocks) if b in self.blocks]
        )


# The v2 model's inputs (no trimming): what `voice_emotion.onnx` of 2026-11 was built on.
LEGACY_FRONTEND = FrontEnd((STATISTICS, RESEMBLYZER), trim=False)
NUM_INPUTS = LEGACY_FRONTEND.width
FRONTEND_VERSION = LEGACY_FRONTEND.version


@dataclass
class Encoders:
    """The frozen encoders a front end needs, loaded once per process (None: not needed)."""

    resemblyzer: VoiceEncoder | None = None
    whisper: WhisperEncoder | None = None

    @classmethod
    def for_frontend(cls, frontend: FrontEnd, threads: int = 1) -> Encoders:
        return cls(
            VoiceEncoder.load(threads=threads) if RESEMBLYZER in frontend.blocks else None,
            WhisperEncoder.shared(threads) if WHISPER in frontend.blocks else None,
        )


def block_features(wave: np.ndarray, block: str, encoders: Encoders) -> np.ndarray:
    """One block's (BLOCK_WIDTH[block],) float32 features of an (already trimmed) utterance."""
    if block == STATISTICS:
        return extract_features(wave)
    if block == RESEMBLYZER:
        assert encoders.resemblyzer is not None, "front end needs the Resemblyzer encoder"
        return encoders.resemblyzer.features(wave)
    assert encoders.whisper is not None, "front end needs the Whisper encoder"
    return encoders.whisper.features(wave)


def utterance_inputs(
    wave: np.ndarray, encoders: Encoders | VoiceEncoder, frontend: FrontEnd = LEGACY_FRONTEND
) -> np.ndarray:
    """(frontend.width,) float32 classifier inputs of one 16 kHz mono utterance (numpy front end)."""
    if isinstance(encoders, VoiceEncoder):
        encoders = Encoders(resemblyzer=encoders)
    return batch_inputs([wave], encoders, frontend)[0]


def batch_inputs(waves: Sequence[np.ndarray], encoders: Encoders, frontend: FrontEnd) -> np.ndarray:
    """(N, frontend.width) float32: `utterance_inputs` of each wave, the Resemblyzer block batched
    across utterances (VoiceEncoder.features_batch); every row equals `utterance_inputs` of its wave."""
    if frontend.trim:
        waves = [trim_silence(w) for w in waves]
    blocks = []
    for block in frontend.blocks:
        if block == RESEMBLYZER:
            assert encoders.resemblyzer is not None, "front end needs the Resemblyzer encoder"
            blocks.append(encoders.resemblyzer.features_batch(waves))
        else:
            blocks.append(np.stack([block_features(w, block, encoders) for w in waves]))
    return np.concatenate(blocks, axis=1).astype(np.float32)
