"""The project's canonical emotion labels and the one table of dataset aliases.

Every model, dataset reader, report and database row uses `LABELS` in this order: the index of a
label here is the index of its probability in every model output.
"""

from __future__ import annotations

from collections.abc import Iterable

LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_LABELS = len(LABELS)
LABEL_INDEX: dict[str, int] = {name: i for i, name in enumerate(LABELS)}

# Dataset spellings -> canonical label. `None` means "this class has no place in our label set":
# readers skip such items and count the skips (contempt is the only one in common corpora).
LABEL_ALIASES: dict[str, str | None] = {
    **{name: name for name in LABELS},
    "anger": "angry",
    "mad": "angry",
    "disgusted": "disgust",
    "fearful": "fear",
    "afraid": "fear",
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "surprised": "surprise",
    "calm": "neutral",
    "contempt": None,
}


class UnknownLabelError(ValueError):
    """A label name that is neither canonical nor a known alias."""


def canonical_label(name: str) -> str | None:
    """Map any known spelling (case-insensitive) to a canonical label.

    Returns None for classes we deliberately skip (contempt); raises UnknownLabelError for names we
    have never heard of, so a typo in a folder name is loud rather than silently dropped.
    """
    key = name.strip().lower()
    if key not in LABEL_ALIASES:
        raise UnknownLabelError(f"unknown emotion label {name!r}; known: {sorted(LABEL_ALIASES)}")
    return LABEL_ALIASES[key]


def label_counts(labels: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(LABELS, 0)
    for label in labels:
        counts[label] += 1
    return counts
