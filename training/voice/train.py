"""Train the voice-emotion classifier: speaker- and corpus-independent comparison, final ONNX export.

    python -m training.voice.train --data DATA/emodb --data DATA/nemo --data DATA/ased \
        --data DATA/emovo --out runs/voice-v3 --model-out runs/voice-v3/voice_emotion.onnx

    # commercially clean model (EmoDB only, CC0):
    python -m training.voice.train --data DATA/emodb --out runs/voice-emodb \
        --model-out emotion_models/assets/voice_emotion_emodb.onnx --skip-cross-corpus

Every candidate (a front end, i.e. a selection of feature blocks of emotion_models.voice.inputs,
times an approach) is scored two ways, on clean and on phone-channel audio:
- speaker-independent folds per corpus (`loso`): one fold per speaker, or for a corpus with many
  speakers (ASED) GROUP_FOLDS folds of whole speakers; training uses all other speakers of all corpora;
- leave-one-corpus-out (`leave_one_corpus_out`): train on all corpora but one, test on that one: the
  honest proxy for a language the model has never heard.
Selection (the issue's rule, `select`): the best leave-one-corpus-out mean UAR (clean) among the
candidates whose LOSO selection score (mean UAR over corpora and the two conditions) is within
one point of the best. The winner is retrained on every speaker and exported. Before any of this the
command prints the duration-only leakage check (leakage.py). Results go to <out>/report.json.

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
from emotion_models.voice.inputs import BLOCKS, STATISTICS, FrontEnd
from emotion_models.voice.speaker_norm import SpeakerPrior
from training.voice.augment import CLEAN, TELEPHONE
from training.voice.dataset import FeatureTable, load_corpus_features
from training.voice.export import save_onnx
from training.voice.leakage import duration_check
from training.voice.models import APPROACHES as MODEL_APPROACHES
from training.voice.models import Classifier, DenseEnsemble, fit
from training.voice.normalise import DEFAULT_PRIOR_STRENGTH, fit_prior, speaker_inputs, speaker_table

log = logging.getLogger("training.voice")

CORPUS_LICENCES = {
    "emodb": "EmoDB: CC0 (free for use)",
    "nemo": "nEMO: CC BY-NC-SA 4.0 (non-commercial, share-alike; the model inherits these terms)",
    "ravdess": "RAVDESS: CC BY-NC-SA 4.0",
    "cremad": "CREMA-D: Open Database License",
    "ased": "ASED v1: no licence stated (the authors call it freely available; cite Retta et al. 2022)",
    "emovo": "EMOVO: Fondazione Ugo Bordoni, research use (cite Costantini et al., LREC 2014)",
}
MAX_LOSO_SPEAKERS = 12  # corpora with more speakers get GROUP_FOLDS speaker-grouped folds
GROUP_FOLDS = 5
LOSO_TOLERANCE = 0.01  # the issue: keep the best LOCO candidate unless it loses more than a point of LOSO
# The front ends compared by default: today's inputs, today's + Whisper, Whisper alone.
DEFAULT_FRONTENDS = ("statistics+resemblyzer", "statistics+resemblyzer+whisper", "whisper")
# Augmented versions heard on the phone line (augment.version): v3 with 6 versions, 2 of them phone
# chains, against 4 versions with none: the model card has the comparison.
DEFAULT_PHONE_CHAINS = 2
CANDIDATE_SEP = "@"  # candidate names: "<approach>@<front end>", e.g. "mlp+spk@whisper"


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


def speaker_folds(
    table: FeatureTable, max_loso_speakers: int = MAX_LOSO_SPEAKERS, group_folds: int = GROUP_FOLDS
) -> list[tuple[str, np.ndarray]]:
    """Speaker-independent test folds: (name, held-out mask), every clip held out exactly once.

    A corpus with at most `max_loso_speakers` speakers gets one fold per speaker (leave-one-speaker-
    out); a bigger one (ASED: 65 speakers) gets `group_folds` folds of whole speakers, balanced by
    clip count, so its 65 fits do not cost twelve times the CPU of the rest for the same answer.
    """
    folds: list[tuple[str, np.ndarray]] = []
    for corpus in np.unique(table.corpora):
        in_corpus = table.corpora == corpus
        speakers = np.unique(table.speakers[in_corpus])
        if len(speakers) <= max_loso_speakers:
            folds += [(str(s), table.speakers == s) for s in speakers]
            continue
        # Greedy balance: largest speakers first, each into the currently smallest fold.
        sizes = {s: int((table.speakers == s).sum()) for s in speakers}
        groups: list[list[str]] = [[] for _ in range(group_folds)]
        totals = [0] * group_folds
        for s in sorted(speakers, key=lambda s: (-sizes[s], s)):
            k = int(np.argmin(totals))
            groups[k].append(str(s))
            totals[k] += sizes[s]
        folds += [(f"{corpus}/fold{k}", np.isin(table.speakers, g)) for k, g in enumerate(groups)]
    return folds


def loso(table: FeatureTable, approach: str, seed: int, steps: int, prior_strength: float) -> dict[str, Any]:
    """Speaker-independent folds (speaker_folds): per-corpus reports on clean and phone-channel clips."""
    clean = np.zeros((len(table.labels), len(LABELS)), dtype=np.float32)
    phone = np.zeros_like(clean)
    per_fold: dict[str, float] = {}
    for name, held in speaker_folds(table):
        model = _train(approach, table.subset(~held), seed, steps, prior_strength)
        names = table.speakers[held]
        clean[held] = model.predict_proba(table.features[held, CLEAN], names, seed)
        phone[held] = model.predict_proba(table.features[held, TELEPHONE], names, seed)
        per_fold[name] = round(_report(table.labels[held], clean[held])["uar"], 4)
        log.info("%s LOSO %s: UAR %.3f", approach, name, per_fold[name])
    result: dict[str, Any] = {"per_speaker_uar": per_fold, "corpora": {}}
    for corpus in np.unique(table.corpora):
        mask = table.corpora == corpus
        result["corpora"][str(corpus)] = {
            "clean": _report(table.labels[mask], clean[mask]),
            "telephone": _report(table.labels[mask], phone[mask]),
        }
    return result


def leave_one_corpus_out(
    table: FeatureTable, approach: str, seed: int, steps: int, prior_strength: float
) -> dict[str, Any]:
    """Train on every corpus but one, test on that one (clean and phone): a language never heard.

    UAR is over the labels the held-out corpus has; `uar_shared_classes` only counts its clips whose
    label the training corpora also have (with three corpora in training, usually all of them).
    """
    results: dict[str, Any] = {}
    for target in np.unique(table.corpora):
        test = table.corpora == target
        model = _train(approach, table.subset(~test), seed, steps, prior_strength)
        seen = np.unique(table.labels[~test])
        conds: dict[str, Any] = {}
        for cond, v in (("clean", CLEAN), ("telephone", TELEPHONE)):
            probs = model.predict_proba(table.features[test, v], table.speakers[test], seed)
            report = _report(table.labels[test], probs)
            report["uar_shared_classes"] = round(_shared_class_uar(table.labels[test], probs, seen), 4)
            report["chance_uar"] = round(1.0 / len(np.unique(table.labels[test])), 4)
            conds[cond] = report
        results[str(target)] = conds
        log.info(
            "%s LOCO %s: UAR clean %.3f, phone %.3f",
            approach,
            target,
            conds["clean"]["uar"],
            conds["telephone"]["uar"],
        )
    return results


def summarise_loco(loco_results: dict[str, Any]) -> dict[str, Any]:
    """candidate -> held-out corpus -> {clean, phone} UAR, the clean mean and the worst corpus vs chance."""
    summary: dict[str, Any] = {}
    for candidate, result in loco_results.items():
        per_corpus = {
            corpus: {cond: round(rep["uar"], 4) for cond, rep in conds.items()}
            | {"chance": conds["clean"]["chance_uar"]}
            for corpus, conds in result.items()
        }
        summary[candidate] = {
            "per_corpus": per_corpus,
            "mean_clean_uar": round(float(np.mean([c["clean"] for c in per_corpus.values()])), 4),
            "mean_phone_uar": round(float(np.mean([c["telephone"] for c in per_corpus.values()])), 4),
            "min_clean_over_chance": round(min(c["clean"] / c["chance"] for c in per_corpus.values()), 3),
        }
    return summary


def select(loso_summary: dict[str, Any], loco_summary: dict[str, Any] | None, tolerance: float) -> str:
    """The issue's rule: best leave-one-corpus-out mean (clean) among the candidates whose LOSO
    selection score is within `tolerance` of the best; LOSO alone when there is no LOCO."""
    best = max(s["selection_score"] for s in loso_summary.values())
    eligible = [c for c, s in loso_summary.items() if s["selection_score"] >= best - tolerance - 1e-9]
    if not loco_summary:
        return max(eligible, key=lambda c: loso_summary[c]["selection_score"])
    return max(
        eligible, key=lambda c: (loco_summary[c]["mean_clean_uar"], loso_summary[c]["selection_score"])
    )


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


def candidate_name(approach: str, frontend: FrontEnd) -> str:
    return f"{approach}{CANDIDATE_SEP}{frontend.name}"


def parse_candidate(name: str, default_frontend: FrontEnd) -> tuple[str, FrontEnd]:
    """`mlp+spk@whisper` -> ("mlp+spk", whisper front end); a bare approach uses `default_frontend`."""
    approach, _, frontend = name.partition(CANDIDATE_SEP)
    return approach, FrontEnd.from_name(frontend) if frontend else default_frontend


def _candidates(frontends: list[FrontEnd], approaches: list[str]) -> list[tuple[str, FrontEnd]]:
    # The baseline reads log-mel statistics: it exists only for front ends that have them.
    return [(a, f) for f in frontends for a in approaches if a != "baseline" or STATISTICS in f.blocks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, action="append", required=True, help="corpus folder (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/voice"), help="run folder (cache, report)")
    parser.add_argument("--model-out", type=Path, help="where to write the final ONNX model")
    parser.add_argument("--approaches", nargs="+", default=["mlp+spk"], choices=APPROACHES)
    parser.add_argument(
        "--frontends",
        nargs="+",
        default=list(DEFAULT_FRONTENDS),
        help=f"feature-block selections to compare, '+'-joined from {', '.join(BLOCKS)}",
    )
    parser.add_argument(
        "--final", default="best", help="candidate to ship (approach[@front end]), or 'best' (see select)"
    )
    parser.add_argument("--versions", type=int, default=6, help="clean + phone + (n-2) augmented per clip")
    parser.add_argument(
        "--phone-chains",
        type=int,
        help="how many augmented versions end on the phone line (default: 2, or all there are if fewer; "
        "v2 was built with 0)",
    )
    parser.add_argument("--workers", type=int, default=2, help="feature-extraction processes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the fits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=800, help="optimiser steps per model fit")
    parser.add_argument(
        "--prior-strength",
        type=float,
        default=DEFAULT_PRIOR_STRENGTH,
        help="speaker prior weight in pseudo-utterances (+spk approaches)",
    )
    parser.add_argument("--skip-loso", action="store_true", help="no LOSO comparison (needs --final)")
    parser.add_argument("--skip-cross-corpus", action="store_true", help="no leave-one-corpus-out")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    if args.skip_loso and args.final == "best":
        parser.error("--skip-loso needs an explicit --final candidate")
    if args.versions < 2:
        parser.error("--versions must be >= 2 (clean and phone channel)")
    if args.phone_chains is None:
        args.phone_chains = max(0, min(DEFAULT_PHONE_CHAINS, args.versions - 2))
    if not 0 <= args.phone_chains <= args.versions - 2:
        parser.error(f"--phone-chains must be 0..{args.versions - 2} with --versions {args.versions}")
    try:
        frontends = [FrontEnd.from_name(f) for f in args.frontends]
    except ValueError as exc:
        parser.error(str(exc))

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    table = FeatureTable.concat(
        [
            load_corpus_features(root, args.versions, args.out / "cache", args.workers, args.phone_chains)
            for root in args.data
        ]
    )
    timings["features_s"] = round(time.perf_counter() - t0, 1)
    corpora = sorted(set(table.corpora.tolist()))
    log.info("%d clips, %d speakers, corpora %s", len(table.labels), len(set(table.speakers)), corpora)
    report: dict[str, Any] = {"corpora": corpora, "clips": len(table.labels), "versions": args.versions}
    report["phone_chains"] = args.phone_chains
    report["speakers"] = len(set(table.speakers.tolist()))
    if table.durations is not None and table.names is not None:
        report["duration_only"] = duration_check(
            table.durations, table.labels, table.speakers, table.corpora, table.names
        )
        log.info("duration-only classifier (UAR): %s", json.dumps(report["duration_only"]))

    loso_results: dict[str, Any] = {}
    loco_results: dict[str, Any] = {}
    for approach, frontend in _candidates(frontends, args.approaches):
        name = candidate_name(approach, frontend)
        view = table.select(frontend)
        if not args.skip_loso:
            t0 = time.perf_counter()
            loso_results[name] = loso(view, approach, args.seed, args.steps, args.prior_strength)
            timings[f"loso_s:{name}"] = round(time.perf_counter() - t0, 1)
        if not args.skip_cross_corpus and len(corpora) > 1:
            t0 = time.perf_counter()
            loco_results[name] = leave_one_corpus_out(
                view, approach, args.seed, args.steps, args.prior_strength
            )
            timings[f"loco_s:{name}"] = round(time.perf_counter() - t0, 1)
        # Written after every candidate: a long comparison that is stopped keeps what it measured.
        _write_report(args.out, report | {"loso": loso_results, "cross_corpus": loco_results}, timings)
    if loso_results:
        report["loso"] = loso_results
        report["loso_summary"] = summarise(loso_results)
        for name, result in loso_results.items():
            for corpus, conds in result["corpora"].items():
                for cond, rep in conds.items():
                    log.info("%s / %s / %s\n%s", name, corpus, cond, format_report(rep))
        log.info("LOSO summary: %s", json.dumps(report["loso_summary"]))
    if loco_results:
        report["cross_corpus"] = loco_results
        report["cross_corpus_summary"] = summarise_loco(loco_results)
        log.info("leave-one-corpus-out summary: %s", json.dumps(report["cross_corpus_summary"]))
    final = args.final
    if final == "best":
        final = select(report["loso_summary"], report.get("cross_corpus_summary"), LOSO_TOLERANCE)
    approach, frontend = parse_candidate(final, frontends[0])
    final = candidate_name(approach, frontend)

    report["final_approach"] = final
    if args.model_out is not None:
        t0 = time.perf_counter()
        trained = _train(approach, table.select(frontend), args.seed, args.steps, args.prior_strength)
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
                "approach": approach,
                "trained_on": ", ".join(corpora),
                "clips": str(len(table.labels)),
                "speakers": str(len(set(table.speakers))),
                "labels_seen": json.dumps(seen),
                "licence": "; ".join(CORPUS_LICENCES.get(c, f"{c}: see the corpus licence") for c in corpora),
                "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            frontend.version,
        )
        timings["final_fit_s"] = round(time.perf_counter() - t0, 1)
        report["model"] = str(args.model_out)
        log.info("wrote %s (%s, labels seen %s)", args.model_out, final, seen)
    _write_report(args.out, report, timings)
    print(
        json.dumps(
            {
                "final_approach": final,
                "duration_only": report.get("duration_only"),
                "loso_summary": report.get("loso_summary"),
                "cross_corpus_summary": report.get("cross_corpus_summary"),
                "timings": timings,
            }
        )
    )
    return 0


def _write_report(out: Path, report: dict[str, Any], timings: dict[str, float]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report | {"timings": timings}, indent=1))


if __name__ == "__main__":
    raise SystemExit(main())
