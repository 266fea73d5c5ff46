"""Train the voice-emotion classifier: LOSO model comparison, cross-corpus transfer, final ONNX export.

    python -m training.voice.train --data DATA/emodb --data DATA/nemo --out runs/voice \
        --model-out emotion_models/assets/voice_emotion.onnx

    # commercially clean model (EmoDB only, CC0):
    python -m training.voice.train --data DATA/emodb --out runs/voice-emodb \
        --model-out emotion_models/assets/voice_emotion_emodb.onnx --skip-cross-corpus

Every approach in models.APPROACHES is scored by leave-one-speaker-out over all speakers of all
corpora (train on the augmented clips of the other speakers, test on the held-out speaker's clean
and phone-channel clips), reported per corpus. The approach with the best mean UAR over the corpora
and the two conditions is retrained on every speaker and exported. Results go to <out>/report.json.

An approach named `<model>+spk` sees each clip's raw features beside the same features normalised
against the speaker's running statistics (training/voice/normalise.py); held-out speakers are
normalised online, as in a live call, and the exported model carries the speaker prior in its
metadata. `mlp-ens+spk` is ENSEMBLE_SIZE `mlp+spk` fits from consecutive seeds, exported as one graph
that averages their probabilities.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emotion_models.labels import LABELS
from emotion_models.metrics import classification_report, format_report
from emotion_models.voice.classifier import SPEAKER_PRIOR_KEY
from emotion_models.voice.speaker_norm import SpeakerPrior
from training.voice.augment import CLEAN, TELEPHONE
from training.voice.dataset import FeatureTable, load_corpus_features
from training.voice.export import save_onnx
from training.voice.models import APPROACHES as MODEL_APPROACHES
from training.voice.models import Classifier, DenseEnsemble, fit
from training.voice.normalise import DEFAULT_PRIOR_STRENGTH, fit_prior, speaker_inputs, speaker_table

log = logging.getLogger("training.voice")

CORPUS_LICENCES = {
    "emodb": "EmoDB: CC0 (free for use)",
    "nemo": "nEMO: CC BY-NC-SA 4.0 (non-commercial, share-alike; the model inherits these terms)",
    "ravdess": "RAVDESS: CC BY-NC-SA 4.0",
    "cremad": "CREMA-D: Open Database License",
}


def _training_rows(table: FeatureTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All versions of every clip as rows (augmented copies share their clip's label and corpus)."""
    n, v, d = table.features.shape
    return table.features.reshape(n * v, d), np.repeat(table.labels, v), np.repeat(table.corpora, v)


SPEAKER_SUFFIX = "+spk"
ENSEMBLE = "mlp-ens"  # ENSEMBLE_SIZE `mlp` fits from consecutive seeds, probabilities averaged
ENSEMBLE_SIZE = 5
# The raw-feature models, and speaker-normalised variants of the stronger ones (the ensemble is only
# worth its five fits on the inputs that won as a single MLP).
APPROACHES: tuple[str, ...] = (
    *MODEL_APPROACHES,
    *(f"{a}{SPEAKER_SUFFIX}" for a in ("logreg", "mlp", ENSEMBLE)),
)


@dataclass(frozen=True)
class Trained:
    """A fitted model and, for a speaker-normalised approach, the prior its speakers start from."""

    model: Classifier
    prior: SpeakerPrior | None

    def predict_proba(self, features: np.ndarray, speakers: np.ndarray, seed: int) -> np.ndarray:
        """(N, 7) for raw clip features; `speakers` names each clip's speaker (running statistics)."""
        if self.prior is not None:
            features = speaker_inputs(features, speakers, self.prior, seed)
        return self.model.predict_proba(features)


def _train(approach: str, table: FeatureTable, seed: int, steps: int, prior_strength: float) -> Trained:
    base = approach.removesuffix(SPEAKER_SUFFIX)
    if base == approach:
        x, y, corpora = _training_rows(table)
        return Trained(fit(base, x, y, corpora, seed=seed, steps=steps), None)
    prior = fit_prior(table, prior_strength)
    if base == ENSEMBLE:
        # One MLP's LOSO UAR moves by about a point with its seed alone; the average of five is steadier
        # and about half a point better (model card). Each member also sees the training speakers'
        # running statistics in its own order, so the noisy first utterances of a speaker differ
        # between members, not just the weights' seed.
        members = []
        for k in range(ENSEMBLE_SIZE):
            x, y, corpora = _training_rows(speaker_table(table, prior, seed + k))
            members.append(fit("mlp", x, y, corpora, seed=seed + k, steps=steps))
        return Trained(DenseEnsemble(tuple(members)), prior)
    x, y, corpora = _training_rows(speaker_table(table, prior, seed))
    return Trained(fit(base, x, y, corpora, seed=seed, steps=steps), prior)


def _report(y_true: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    return classification_report(y_true.tolist(), probs.argmax(axis=1).tolist())


def _shared_class_uar(y_true: np.ndarray, probs: np.ndarray, classes: np.ndarray) -> float:
    """UAR over test clips whose class the training corpus also has (cross-corpus, fair share)."""
    keep = np.isin(y_true, classes)
    return _report(y_true[keep], probs[keep])["uar"] if keep.any() else 0.0


def loso(table: FeatureTable, approach: str, seed: int, steps: int, prior_strength: float) -> dict[str, Any]:
    """Leave-one-speaker-out: per-corpus reports on clean and phone-channel versions of held-out clips."""
    clean = np.zeros((len(table.labels), len(LABELS)), dtype=np.float32)
    phone = np.zeros_like(clean)
    per_speaker: dict[str, float] = {}
    for speaker in np.unique(table.speakers):
        held = table.speakers == speaker
        model = _train(approach, table.subset(~held), seed, steps, prior_strength)
        names = table.speakers[held]
        clean[held] = model.predict_proba(table.features[held, CLEAN], names, seed)
        phone[held] = model.predict_proba(table.features[held, TELEPHONE], names, seed)
        per_speaker[str(speaker)] = round(_report(table.labels[held], clean[held])["uar"], 4)
        log.info("%s LOSO %s: UAR %.3f", approach, speaker, per_speaker[str(speaker)])
    result: dict[str, Any] = {"per_speaker_uar": per_speaker, "corpora": {}}
    for corpus in np.unique(table.corpora):
        mask = table.corpora == corpus
        result["corpora"][str(corpus)] = {
            "clean": _report(table.labels[mask], clean[mask]),
            "telephone": _report(table.labels[mask], phone[mask]),
        }
    return result


def cross_corpus(
    table: FeatureTable, approach: str, seed: int, steps: int, prior_strength: float
) -> dict[str, Any]:
    """Train on all of one corpus, test on every other (clean clips)."""
    results: dict[str, Any] = {}
    corpora = np.unique(table.corpora)
    for source in corpora:
        train_mask = table.corpora == source
        model = _train(approach, table.subset(train_mask), seed, steps, prior_strength)
        seen = np.unique(table.labels[train_mask])
        for target in corpora:
            if target == source:
                continue
            test = table.corpora == target
            probs = model.predict_proba(table.features[test, CLEAN], table.speakers[test], seed)
            report = _report(table.labels[test], probs)
            report["uar_shared_classes"] = round(_shared_class_uar(table.labels[test], probs, seen), 4)
            results[f"{source}->{target}"] = report
    return results


def _headline(report: dict[str, Any]) -> dict[str, float]:
    keys = ("uar", "macro_f1", "accuracy")
    return {k: round(report[k], 4) for k in keys} | {"n": report["n"]}


def summarise(loso_results: dict[str, Any]) -> dict[str, Any]:
    """approach -> corpus -> {clean, telephone} headline numbers, plus the selection score.

    The score is the mean UAR over corpora *and* over the clean and phone-channel conditions: phone
    callers are audio-only, so a model that holds up on the phone line matters as much as one that
    shines on studio audio.
    """
    summary: dict[str, Any] = {}
    for approach, result in loso_results.items():
        per_corpus = {
            corpus: {cond: _headline(rep) for cond, rep in conds.items()}
            for corpus, conds in result["corpora"].items()
        }
        clean = float(np.mean([c["clean"]["uar"] for c in per_corpus.values()]))
        phone = float(np.mean([c["telephone"]["uar"] for c in per_corpus.values()]))
        summary[approach] = {
            "per_corpus": per_corpus,
            "mean_clean_uar": round(clean, 4),
            "selection_score": round((clean + phone) / 2, 4),
        }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, action="append", required=True, help="corpus folder (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/voice"), help="run folder (cache, report)")
    parser.add_argument("--model-out", type=Path, help="where to write the final ONNX model")
    parser.add_argument("--approaches", nargs="+", default=list(APPROACHES), choices=APPROACHES)
    parser.add_argument("--final", default="best", help="approach to ship, or 'best' (by LOSO)")
    parser.add_argument("--versions", type=int, default=6, help="clean + phone + (n-2) augmented per clip")
    parser.add_argument("--workers", type=int, default=2, help="feature-extraction processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=800, help="optimiser steps per model fit")
    parser.add_argument(
        "--prior-strength",
        type=float,
        default=DEFAULT_PRIOR_STRENGTH,
        help="speaker prior weight in pseudo-utterances (+spk approaches)",
    )
    parser.add_argument("--skip-loso", action="store_true", help="no LOSO comparison (needs --final)")
    parser.add_argument("--skip-cross-corpus", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    if args.skip_loso and args.final == "best":
        parser.error("--skip-loso needs an explicit --final approach")
    if args.versions < 2:
        parser.error("--versions must be >= 2 (clean and phone channel)")

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    table = FeatureTable.concat(
        [load_corpus_features(root, args.versions, args.out / "cache", args.workers) for root in args.data]
    )
    timings["features_s"] = round(time.perf_counter() - t0, 1)
    corpora = sorted(set(table.corpora.tolist()))
    log.info("%d clips, %d speakers, corpora %s", len(table.labels), len(set(table.speakers)), corpora)
    report: dict[str, Any] = {"corpora": corpora, "clips": len(table.labels), "versions": args.versions}

    final = args.final
    if not args.skip_loso:
        t0 = time.perf_counter()
        loso_results = {
            a: loso(table, a, args.seed, args.steps, args.prior_strength) for a in args.approaches
        }
        timings["loso_s"] = round(time.perf_counter() - t0, 1)
        report["loso"] = loso_results
        report["loso_summary"] = summarise(loso_results)
        for approach, result in loso_results.items():
            for corpus, conds in result["corpora"].items():
                for cond, rep in conds.items():
                    log.info("%s / %s / %s\n%s", approach, corpus, cond, format_report(rep))
        if final == "best":
            final = max(report["loso_summary"], key=lambda a: report["loso_summary"][a]["selection_score"])
        log.info("LOSO summary: %s", json.dumps(report["loso_summary"]))
    if not args.skip_cross_corpus and len(corpora) > 1:
        t0 = time.perf_counter()
        report["cross_corpus"] = cross_corpus(table, final, args.seed, args.steps, args.prior_strength)
        timings["cross_corpus_s"] = round(time.perf_counter() - t0, 1)
        log.info(
            "cross-corpus (%s): %s",
            final,
            {k: (round(v["uar"], 3), v["uar_shared_classes"]) for k, v in report["cross_corpus"].items()},
        )

    report["final_approach"] = final
    if args.model_out is not None:
        t0 = time.perf_counter()
        trained = _train(final, table, args.seed, args.steps, args.prior_strength)
        seen = [LABELS[i] for i in np.unique(table.labels)]
        speaker_meta = (
            {SPEAKER_PRIOR_KEY: trained.prior.to_json(), "speaker_normalisation": "running z-score"}
            if trained.prior is not None
            else {}
        )
        save_onnx(
            trained.model,
            args.model_out,
            speaker_meta
            | {
                "approach": final,
                "trained_on": ", ".join(corpora),
                "clips": str(len(table.labels)),
                "speakers": str(len(set(table.speakers))),
                "labels_seen": json.dumps(seen),
                "licence": "; ".join(CORPUS_LICENCES.get(c, f"{c}: see the corpus licence") for c in corpora),
                "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        )
        timings["final_fit_s"] = round(time.perf_counter() - t0, 1)
        report["model"] = str(args.model_out)
        log.info("wrote %s (%s, labels seen %s)", args.model_out, final, seen)
    report["timings"] = timings
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    print(
        json.dumps({"final_approach": final, "loso_summary": report.get("loso_summary"), "timings": timings})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
