"""Can the label be read from clip length alone? A duration-only classifier, before and after trimming.

ASED's clips are padded to a length that follows the label (every happy clip is 2.9 s); a model
could score well there without hearing any emotion. Trimming (emotion_models/voice/trim.py) cuts
the padding; this check shows what is left: a small decision tree on the one number "seconds of
audio", scored by UAR over speaker-grouped folds, on the recorded and on the trimmed length.

After trimming some signal legitimately remains (angry speech is faster, sad speech slower) and, in
ASED, sentences 03-07 are a different text per emotion, so their length follows the label through
the words. The `common_sentences` row (ASED sentences 01-02, the same text in every emotion) isolates
the padding from the text.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import GroupKFold
from sklearn.tree import DecisionTreeClassifier

from emotion_models.metrics import classification_report

FOLDS = 5
MAX_DEPTH = 4  # up to 16 duration bins: plenty for one number, little room to overfit


def duration_only_uar(durations: np.ndarray, labels: np.ndarray, speakers: np.ndarray) -> float:
    """UAR of a depth-4 tree on duration alone, speaker-grouped folds (out-of-fold predictions)."""
    x = np.asarray(durations, dtype=np.float64).reshape(-1, 1)
    pred = np.empty(len(labels), dtype=np.int64)
    folds = min(FOLDS, len(np.unique(speakers)))
    for train, test in GroupKFold(folds).split(x, labels, speakers):
        tree = DecisionTreeClassifier(max_depth=MAX_DEPTH, class_weight="balanced", random_state=0)
        pred[test] = tree.fit(x[train], labels[train]).predict(x[test])
    return float(classification_report(labels.tolist(), pred.tolist())["uar"])


def _row(durations: np.ndarray, labels: np.ndarray, speakers: np.ndarray) -> dict[str, Any]:
    n_classes = len(np.unique(labels))
    return {
        "chance_uar": round(1.0 / n_classes, 4),
        "recorded_uar": round(duration_only_uar(durations[:, 0], labels, speakers), 4),
        "trimmed_uar": round(duration_only_uar(durations[:, 1], labels, speakers), 4),
        "n": len(labels),
    }


def duration_check(
    durations: np.ndarray, labels: np.ndarray, speakers: np.ndarray, corpora: np.ndarray, names: np.ndarray
) -> dict[str, Any]:
    """Per corpus (and ASED's common sentences): chance, duration-only UAR recorded and trimmed."""
    out: dict[str, Any] = {}
    for corpus in np.unique(corpora):
        mask = corpora == corpus
        out[str(corpus)] = _row(durations[mask], labels[mask], speakers[mask])
        if corpus == "ased":
            # Sentence is the 2nd `-` field of the ASED name (01-02: the same text in every emotion).
            sentence = np.array([n.split("-")[1] for n in names[mask]])
            common = np.isin(sentence, ["01", "02"])
            out["ased_common_sentences"] = _row(
                durations[mask][common], labels[mask][common], speakers[mask][common]
            )
    return out
