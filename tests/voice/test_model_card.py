"""The voice model card's tables: one candidate measured in two runs shows up twice, told apart."""

from __future__ import annotations

from typing import Any

from training.voice.model_card import render

NAME = "mlp-ens+spk@statistics+resemblyzer+whisper"


def _rep(uar: float) -> dict[str, Any]:
    return {
        "uar": uar,
        "macro_f1": uar,
        "accuracy": uar,
        "n": 4,
        "chance_uar": 0.5,
        "labels": ["angry", "neutral"],
        "confusion_matrix": [[2, 0], [1, 1]],
        "per_class": {"angry": {"recall": 1.0}, "neutral": {"recall": 0.5}},
    }


def _report(versions: int, phone_chains: int | None, clean: float, phone: float) -> dict[str, Any]:
    conds = {"clean": _rep(clean), "telephone": _rep(phone)}
    report = {
        "versions": versions,
        "speakers": 2,
        "final_approach": NAME,
        "loso": {NAME: {"corpora": {"emodb": conds}, "per_speaker_uar": {"03": clean}}},
        "cross_corpus": {NAME: {"emodb": conds}},
        "timings": {},
    }
    if phone_chains is not None:  # reports written before the option have no such key
        report["phone_chains"] = phone_chains
    return report


def test_a_candidate_from_two_runs_is_labelled_by_each_runs_versions() -> None:
    text = render([_report(6, 2, 0.91, 0.87), _report(4, None, 0.90, 0.82)])
    assert f"| {NAME} (6 versions, 2 phone chains) | emodb | 0.910 |" in text
    assert f"| {NAME} (4 versions, 0 phone chains) | emodb | 0.900 |" in text
    # The confusion matrices are the shipped (first) run's.
    shipped = f"{NAME} (6 versions, 2 phone chains)"
    assert f"#### `{shipped}` confusion matrix: emodb, telephone (LOSO)" in text
    assert f"#### `{shipped}` confusion matrix: emodb held out, clean (LOCO)" in text


def test_a_candidate_from_one_run_keeps_its_plain_name() -> None:
    text = render([_report(6, 2, 0.91, 0.87)])
    assert f"| {NAME} | emodb | 0.910 |" in text
    assert "phone chains" not in text
