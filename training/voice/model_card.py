"""Render the measured part of the voice model card from a training report.

    python -m training.voice.model_card --report runs/voice/report.json [--report OTHER_RUN/report.json]

Prints Markdown tables (the duration-only leakage check; LOSO per candidate, corpus and condition;
leave-one-corpus-out per candidate and held-out corpus; the selected candidate's confusion matrices
and per-fold UAR) to paste into emotion_models/assets/voice_emotion.md, so no number in the card is
typed by hand.
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


def _run_tag(report: dict[str, Any]) -> str:
    return f"{report.get('versions', '?')} versions, {report.get('phone_chains', 0)} phone chains"


def _by_candidate(reports: list[dict[str, Any]], section: str) -> dict[str, Any]:
    """candidate -> result over all reports; a candidate measured in several runs (the same model
    trained on other versions of the clips, say) is told apart by its run's training versions."""
    counts: dict[str, int] = {}
    for rep in reports:
        for name in rep.get(section, {}):
            counts[name] = counts.get(name, 0) + 1
    return {
        (name if counts[name] == 1 else f"{name} ({_run_tag(rep)})"): result
        for rep in reports
        for name, result in rep.get(section, {}).items()
    }


def render(reports: list[dict[str, Any]]) -> str:
    main = reports[0]
    loso = _by_candidate(reports, "loso")
    out: list[str] = []
    if "duration_only" in main:
        out += [
            "### Duration-only classifier (UAR; depth-4 tree on clip length, speaker-grouped folds)",
            "",
            "| corpus | chance | recorded length | after trimming | n |",
            "|---|---|---|---|---|",
        ]
        for corpus, row in main["duration_only"].items():
            out.append(
                f"| {corpus} | {row['chance_uar']:.3f} | {row['recorded_uar']:.3f} "
                f"| {row['trimmed_uar']:.3f} | {row['n']} |"
            )
        out.append("")
    speakers = main.get("speakers", "all")
    out += [f"### Speaker-independent folds ({speakers} speakers), per corpus", "", *_loso_table(loso), ""]
    loco = _by_candidate(reports, "cross_corpus")
    if loco and all("clean" in conds for r in loco.values() for conds in r.values()):
        out += [
            "### Leave-one-corpus-out (train on the other corpora; UAR over the held-out corpus' labels)",
            "",
            "| candidate | held out | chance | UAR clean | macro-F1 clean | UAR phone | n |",
            "|---|---|---|---|---|---|---|",
        ]
        for candidate, result in loco.items():
            for corpus, conds in result.items():
                c, t = conds["clean"], conds["telephone"]
                out.append(
                    f"| {candidate} | {corpus} | {c['chance_uar']:.3f} | {c['uar']:.3f} "
                    f"| {c['macro_f1']:.3f} | {t['uar']:.3f} | {c['n']} |"
                )
            means = [conds["clean"]["uar"] for conds in result.values()]
            phones = [conds["telephone"]["uar"] for conds in result.values()]
            out.append(
                f"| {candidate} | **mean** | | **{sum(means) / len(means):.3f}** | "
                f"| {sum(phones) / len(phones):.3f} | |"
            )
        out.append("")
    final = main["final_approach"]
    if final not in loso:  # measured in an earlier run too: the label carries this run's versions
        final = f"{final} ({_run_tag(main)})"
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
            f"#### `{final}` UAR per held-out speaker or speaker group (clean)",
            "",
            "| " + " | ".join(per_speaker) + " |",
            "|---" * len(per_speaker) + "|",
            "| " + " | ".join(f"{v:.2f}" for v in per_speaker.values()) + " |",
            "",
        ]
    final_loco = main.get("cross_corpus", {}).get(main["final_approach"])
    if final_loco:
        for corpus, conds in final_loco.items():
            title = f"#### `{final}` confusion matrix: {corpus} held out, clean (LOCO)"
            out += [title, "", *_confusion(conds["clean"]), ""]
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
