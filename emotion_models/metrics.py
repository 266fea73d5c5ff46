"""Classification metrics over the canonical labels: the numbers every eval command reports.

Macro-F1 and UAR (macro recall) are the headline figures because neutral dominates real data and
accuracy rewards a model that says "neutral" to everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from emotion_models.labels import LABELS


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n: int = len(LABELS)) -> np.ndarray:
    cm = np.zeros((n, n), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        cm[t, p] += 1
    return cm


def classification_report(
    y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str] = LABELS
) -> dict[str, Any]:
    """Per-class precision/recall/F1/support plus accuracy, macro-F1 and UAR.

    Macro averages are taken over classes that have support (a corpus without "surprise" is not
    punished for it), which is how UAR is defined in the speech-emotion literature.
    """
    cm = confusion_matrix(y_true, y_pred, len(labels))
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = support > 0
    n = int(cm.sum())
    return {
        "n": n,
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "uar": float(recall[present].mean()) if present.any() else 0.0,
        "per_class": {
            name: {
                "precision": round(float(precision[i]), 4),
                "recall": round(float(recall[i]), 4),
                "f1": round(float(f1[i]), 4),
                "support": int(support[i]),
            }
            for i, name in enumerate(labels)
        },
        "labels": list(labels),
        "confusion_matrix": cm.tolist(),
    }


def format_report(report: dict[str, Any]) -> str:
    """Human-readable table: per-class rows, the confusion matrix, then the headline numbers."""
    labels = report["labels"]
    lines = [f"{'label':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    for name in labels:
        c = report["per_class"][name]
        lines.append(
            f"{name:<10}{c['precision']:>10.3f}{c['recall']:>10.3f}{c['f1']:>10.3f}{c['support']:>10d}"
        )
    lines.append("")
    lines.append("confusion matrix (rows = true, columns = predicted)")
    lines.append(" " * 10 + "".join(f"{name[:7]:>8}" for name in labels))
    for name, row in zip(labels, report["confusion_matrix"], strict=True):
        lines.append(f"{name:<10}" + "".join(f"{v:>8d}" for v in row))
    lines.append("")
    lines.append(
        f"n={report['n']}  accuracy={report['accuracy']:.4f}  "
        f"macro_f1={report['macro_f1']:.4f}  uar={report['uar']:.4f}"
    )
    return "\n".join(lines)


def print_eval_result(
    report: dict[str, Any], skipped: dict[str, Any], extra: dict[str, Any], as_json: bool
) -> None:
    """The eval commands' output contract: a readable report, then ONE final JSON line.

    The JSON line always holds n, accuracy, macro_f1, uar, per_class and skipped (plus `extra`).
    With as_json the readable part is left out, so the output is just that line.
    """
    import json

    if not as_json:
        print(format_report(report))
        if skipped:
            print(f"skipped: {json.dumps(skipped)}")
    payload = {
        "n": report["n"],
        "accuracy": round(report["accuracy"], 4),
        "macro_f1": round(report["macro_f1"], 4),
        "uar": round(report["uar"], 4),
        "per_class": report["per_class"],
        "confusion_matrix": report["confusion_matrix"],
        "skipped": skipped,
        **extra,
    }
    print(json.dumps(payload))
