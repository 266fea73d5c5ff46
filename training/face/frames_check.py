"""How much the run-time path (detector + aligner) costs against clean crops, on labelled crops.

    python -m training.face.frames_check --data DATA/fer2013/validation \
        --model emotion_models/assets/face_emotion.onnx --model other.onnx [--pad 0.5 --scale 4]

Each crop becomes a frame (replicated border of `pad` x its side on every edge, upscaled `scale`
times, RGB), goes through `FaceDetector` + `align_face` as a live frame would, and the aligned crop
is classified by every model given, so the comparison shares one detection pass. Prints one JSON
line: detection rate, and per model the accuracy and macro-F1 on the original crops, on the
detected faces, and over all frames with a missed face counted as wrong.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from emotion_models.face.classifier import FaceEmotionClassifier
from emotion_models.face.crops import face_crops
from emotion_models.face.detector import FaceDetector
from emotion_models.face.evaluate import NO_FACE
from emotion_models.labels import LABELS
from emotion_models.metrics import classification_report
from training.face.benchmark import load_crops

MISSED = len(LABELS)  # the index of the no_face column


def as_frame(crop: np.ndarray, pad: float, scale: float) -> np.ndarray:
    """A grayscale crop -> an RGB frame with the face in the middle, `scale` times larger."""
    border = round(pad * crop.shape[0])
    padded = cv2.copyMakeBorder(crop, border, border, border, border, cv2.BORDER_REPLICATE)
    size = round(padded.shape[0] * scale)
    return cv2.cvtColor(cv2.resize(padded, (size, size), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2RGB)


def _scores(y_true: list[int], y_pred: list[int]) -> dict[str, float]:
    report = classification_report(y_true, y_pred, labels=(*LABELS, NO_FACE))
    return {"accuracy": round(report["accuracy"], 4), "macro_f1": round(report["macro_f1"], 4)}


def run(args: argparse.Namespace) -> dict[str, object]:
    originals, labels, skipped = load_crops(Path(args.data), args.limit)
    classifiers = {str(p): FaceEmotionClassifier.load(Path(p)) for p in args.model}
    sizes = {c.input_size for c in classifiers.values()}
    if len(sizes) != 1:
        raise SystemExit(f"models disagree on input size: {sizes}")
    size = sizes.pop()
    with FaceDetector() as detector:
        aligned: list[np.ndarray | None] = []
        for crop in originals:
            found = face_crops(detector, as_frame(crop, args.pad, args.scale), size)
            aligned.append(found[0][1] if found else None)
    hit = [i for i, a in enumerate(aligned) if a is not None]
    result: dict[str, object] = {
        "n": len(labels),
        "pad": args.pad,
        "scale": args.scale,
        "detection_rate": round(len(hit) / max(len(labels), 1), 4),
        "skipped": skipped,
        "models": {},
    }
    for name, classifier in classifiers.items():
        on_crops = classifier.predict_batch(originals).argmax(1).tolist()
        on_faces = classifier.predict_batch([aligned[i] for i in hit]).argmax(1).tolist()
        with_misses = [MISSED] * len(labels)
        for i, pred in zip(hit, on_faces, strict=True):
            with_misses[i] = pred
        result["models"][name] = {
            "crops": _scores(labels, on_crops),
            "detected_faces": _scores([labels[i] for i in hit], on_faces),
            "frames_misses_wrong": _scores(labels, with_misses),
        }
    return result


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="<label>/<image> folder of face crops")
    ap.add_argument("--model", action="append", required=True, help="ONNX face model (repeat to compare)")
    ap.add_argument("--pad", type=float, default=0.5, help="border on each edge, as a share of the crop side")
    ap.add_argument("--scale", type=float, default=4.0, help="upscaling of the padded crop")
    ap.add_argument("--limit", type=int, help="an evenly spaced subset of about N images (quick look)")
    return ap


def main(argv: list[str] | None = None) -> None:
    print(json.dumps(run(build_parser().parse_args(argv))))


if __name__ == "__main__":
    main()
