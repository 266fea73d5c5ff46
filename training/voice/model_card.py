"""Render the measured part of the voice model card from a training report.

    python -m training.voice.model_card --report runs/voice/report.json [--report OTHER_RUN/report.json]

Prints Markdown tables (LOSO per approach, corpus and condition; the shipped approach's confusion
matrices and per-speaker UAR; cross-corpus transfer) to paste into emotion_models/assets/voice_emotion.md,
so no number in the card is typed by hand.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _loso_table(loso: dict[str, Any]) -> list[str]:
    lines = [
        "| approach | corpus | UAR clean | macro-F1 clean | acc clean | UAR phone | macro-F1 phone | n |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for approach, result in loso.items():
        for corpus, conds in result["corpora"].items():
            c, t = conds["clean"], conds["telephone"]
            lines.append(
                f"| {approach} | {corpus} | {c['uar']:.3f} | {c['macro_f1']:.3f} | {c['accuracy']:.3f} "
                f"| {t['uar']:.3f} | {t['macro_f1']:.3f} | {c['n']} |"
            )
    return lines


def _confusion(report: dict[str, Any]) -> list[str]:
    labels = report["labels"]
    present = [i for i, row in enumerate(report["confusion_matrix"]) if sum(row) > 0]
    lines = ["| true \\ predicted | " + " | ".join(labels) + " | recall |", "|---" * (len(labels) + 2) + "|"]
    for i in present:
        row = report["confusion_matrix"][i]
        recall = report["per_class"][labels[i]]["recall"]
        lines.append(f"| {labels[i]} | " + " | ".join(str(v) for v in row) + f" | {recall:.2f} |")
    return lines


def render(reports: list[dict[str, Any]]) -> str:
    main = reports[0]
    loso = {a: r for rep in reports for a, r in rep.get("loso", {}).items()}
    out = ["### Leave-one-speaker-out (17 speakers), per corpus", "", *_loso_table(loso), ""]
    final = main["final_approach"]
    if final in loso:
        for corpus, conds in loso[final]["corpora"].items():
            for cond in ("clean", "telephone"):
                out += [
                    f"#### `{final}` confusion matrix: {corpus}, {cond} (LOSO)",
                    "",
                    *_confusion(conds[cond]),
                    "",
                ]
        per_speaker = loso[final]["per_speaker_uar"]
        out += [
            f"#### `{final}` UAR per held-out speaker (clean)",
            "",
            "| " + " | ".join(per_speaker) + " |",
            "|---" * len(per_speaker) + "|",
            "| " + " | ".join(f"{v:.2f}" for v in per_speaker.values()) + " |",
            "",
        ]
    if "cross_corpus" in main:
        out += [
            f"### Cross-corpus transfer (`{final}`, clean)",
            "",
            "| train -> test | UAR | macro-F1 | UAR over the classes both corpora have | n |",
            "|---|---|---|---|---|",
        ]
        for pair, rep in main["cross_corpus"].items():
            shared = rep["uar_shared_classes"]
            out.append(f"| {pair} | {rep['uar']:.3f} | {rep['macro_f1']:.3f} | {shared:.3f} | {rep['n']} |")
        out.append("")
    out += [f"Timings (s): {json.dumps({i: r.get('timings') for i, r in enumerate(reports)})}", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--report", type=Path, action="append", required=True, help="report.json (first: shipped run)"
    )
    args = parser.parse_args(argv)
    print(render([json.loads(p.read_text()) for p in args.report]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
