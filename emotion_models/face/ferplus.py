"""FER+ crowd votes (Barsoum et al. 2016): parsing, the paper's majority rule, soft targets.

FER+ gave every FER2013 image ten crowd votes over ten classes. Three of them have no class among
our seven labels (contempt, unknown, not a face). The rules here are the ones the training code and
`emotion-bot eval face --labels ferplus-votes CSV` share, so a model is scored exactly as it is
trained to be judged.

- Majority (the paper's rule, `src/ferplus.py`): zero every count of 1 (a lone vote is treated as
  noise), then the top class is the label when it holds more than half of the remaining votes;
  otherwise the image has no label. A majority for contempt, unknown or not-face gives no label of ours.
- Soft target: the same lone-vote rule, then the distribution over our seven labels' votes. An image
  where those votes are not more than half of all (remaining) votes is mostly contempt / unknown /
  not-a-face: it gets no target and is left out of training, because renormalising a 2-vote remainder
  would teach a confident label nobody gave.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emotion_models.labels import LABEL_INDEX, NUM_LABELS

# The CSV's vote columns, in FER+'s order.
VOTE_COLUMNS = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "not_face",
)
# FER+ class -> our label; the three classes absent here have no label of ours.
FERPLUS_TO_LABEL = {
    "neutral": "neutral",
    "happiness": "happy",
    "surprise": "surprise",
    "sadness": "sad",
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
}
# For each vote column, the index into LABELS, or -1.
_COLUMN_TO_INDEX = np.array(
    [LABEL_INDEX[FERPLUS_TO_LABEL[c]] if c in FERPLUS_TO_LABEL else -1 for c in VOTE_COLUMNS]
)


class VotesFileError(ValueError):
    """The votes CSV cannot be used at all (missing, or without the expected columns)."""


@dataclass
class VoteTable:
    """Votes by image, keyed by `<label folder>/<file name>` (e.g. `angry/PublicTest_123.jpg`).

    The folder is part of the key because FER2013 reuses a file name across label folders
    (`train/angry/Training_8475486.jpg` and `train/surprise/Training_8475486.jpg` are two images).
    """

    votes: dict[str, np.ndarray]  # (10,) int counts in VOTE_COLUMNS order
    skipped: dict[str, int] = field(default_factory=dict)

    def get(self, path: str | Path) -> np.ndarray | None:
        return self.votes.get(image_key(path))


def image_key(path: str | Path) -> str:
    parts = Path(path).parts
    return "/".join(parts[-2:])


def read_votes(path: str | Path, split: str | None = None) -> VoteTable:
    """Read `ferplus_votes.csv` (columns split,file,<VOTE_COLUMNS>); rows of another split are ignored.

    Malformed rows are counted in `skipped` and left out; a key seen twice keeps its first row
    (counted as `duplicate_name`), since nothing can tell which row belongs to which copy.
    """
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise VotesFileError(f"cannot read FER+ votes {path}: {exc}") from exc
    table = VoteTable({})
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("file", *VOTE_COLUMNS) if c not in (reader.fieldnames or [])]
        if missing:
            raise VotesFileError(f"{path} is not a FER+ votes file: missing columns {missing}")
        for row in reader:
            if split is not None and row.get("split") not in (split, None):
                continue
            try:
                counts = np.array([int(row[c]) for c in VOTE_COLUMNS], dtype=np.int64)
            except (TypeError, ValueError):
                table.skipped["malformed_row"] = table.skipped.get("malformed_row", 0) + 1
                continue
            if (counts < 0).any() or counts.sum() == 0:
                table.skipped["malformed_row"] = table.skipped.get("malformed_row", 0) + 1
                continue
            name = image_key(row["file"])
            if name in table.votes:
                table.skipped["duplicate_name"] = table.skipped.get("duplicate_name", 0) + 1
                continue
            table.votes[name] = counts
    return table


def _denoised(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.int64)
    out = np.where(counts == 1, 0, counts)
    return out if out.sum() > 0 else counts  # ten different lone votes: nothing is left to drop


def majority_class(counts: np.ndarray) -> str | None:
    """The FER+ class that wins under the paper's rule, or None (no majority)."""
    kept = _denoised(counts)
    top = int(np.argmax(kept))
    return VOTE_COLUMNS[top] if kept[top] * 2 > kept.sum() else None


@dataclass(frozen=True)
class Majority:
    label: int | None  # index into LABELS, or None
    reason: str  # "label", "no_majority", or the FER+ class without a label of ours


def majority(counts: np.ndarray) -> Majority:
    winner = majority_class(counts)
    if winner is None:
        return Majority(None, "no_majority")
    if winner not in FERPLUS_TO_LABEL:
        return Majority(None, winner)
    return Majority(LABEL_INDEX[FERPLUS_TO_LABEL[winner]], "label")


def soft_target(counts: np.ndarray) -> np.ndarray | None:
    """(7,) float32 distribution over LABELS, or None when most votes are outside our labels."""
    kept = _denoised(counts)
    ours = np.zeros(NUM_LABELS, dtype=np.float64)
    for column, index in enumerate(_COLUMN_TO_INDEX):
        if index >= 0:
            ours[index] += kept[column]
    if ours.sum() * 2 <= kept.sum():
        return None
    return (ours / ours.sum()).astype(np.float32)


def soft_targets(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,10) counts -> ((N,7) targets, (N,) bool usable); unusable rows hold zeros."""
    targets = np.zeros((len(votes), NUM_LABELS), dtype=np.float32)
    usable = np.zeros(len(votes), dtype=bool)
    for i, row in enumerate(votes):
        t = soft_target(row) if row.sum() > 0 else None
        if t is not None:
            targets[i], usable[i] = t, True
    return targets, usable


def majority_labels(votes: np.ndarray) -> np.ndarray:
    """(N,10) counts -> (N,) int64 label index, -1 where there is no label of ours."""
    out = np.full(len(votes), -1, dtype=np.int64)
    for i, row in enumerate(votes):
        if row.sum() > 0:
            m = majority(row)
            out[i] = -1 if m.label is None else m.label
    return out


def count_reasons(votes: Mapping[str, np.ndarray] | list[np.ndarray]) -> dict[str, int]:
    """How many images got a label, no majority, or a majority outside our labels."""
    rows = votes.values() if isinstance(votes, Mapping) else votes
    counts: dict[str, int] = {}
    for row in rows:
        reason = majority(row).reason
        counts[reason] = counts.get(reason, 0) + 1
    return counts
