"""`emotion-bot eval face`: the shipped face path scored on a labelled `<label>/<image>` folder.

With --crops the images are face crops and only the classifier runs. Without it every image is a
full frame: the detector picks the largest face, the aligner crops it, and a frame in which no face
is found counts as wrong (it appears in the `no_face` column of the confusion matrix), so the
headline numbers are those of the whole path.

Labels come from the folder names, or with `--labels ferplus-votes CSV` from FER+ crowd votes under
the paper's majority rule (`emotion_models.face.ferplus`): an image without votes, without a
majority, or with a majority for a class we do not have (contempt, unknown, not a face) is counted
in `skipped` and left out. `--exclude-pixels-of DIR` leaves out images whose decoded pixels also
occur under DIR, so a validation score is not flattered by copies of training images.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from emotion_models.face.classifier import FaceEmotionClassifier
from emotion_models.face.crops import face_crops
from emotion_models.face.detector import FaceDetector
from emotion_models.face.ferplus import VotesFileError, VoteTable, majority, read_votes
from emotion_models.face.folder import IMAGE_SUFFIXES, LabelledImage, scan_labelled_folder
from emotion_models.labels import LABEL_INDEX, LABELS, UnknownLabelError
from emotion_models.metrics import classification_report, print_eval_result
from emotion_models.model_files import ModelFileError

log = logging.getLogger(__name__)

NO_FACE = "no_face"
BATCH = 64


def run_eval(args: argparse.Namespace) -> int:
    """Evaluate and print the report; returns the process exit code."""
    labels = list(getattr(args, "labels", None) or ["folder"])
    if not (labels == ["folder"] or (len(labels) == 2 and labels[0] == "ferplus-votes")):
        log.error("--labels takes `folder` or `ferplus-votes CSV`, got %s", " ".join(labels))
        return 2
    try:
        items, skipped = scan_labelled_folder(Path(args.data))
        classifier = FaceEmotionClassifier.load(Path(args.model) if args.model else None)
        votes = read_votes(labels[1]) if labels[0] == "ferplus-votes" else None
        excluded = (
            _digests(Path(args.exclude_pixels_of), args.crops)
            if getattr(args, "exclude_pixels_of", None)
            else None
        )
    except (NotADirectoryError, UnknownLabelError, ModelFileError, VotesFileError) as exc:
        log.error("%s", exc)
        return 2
    if votes is not None:
        items = _with_vote_labels(items, votes, skipped)
    if not items:
        log.error("no images found under %s", args.data)
        return 2

    y_true: list[int] = []
    y_pred: list[int] = []
    detected = 0
    classified = 0
    classify_s = 0.0
    detector = None if args.crops else FaceDetector()
    try:
        for chunk in _chunks(items, BATCH):
            crops: list[np.ndarray] = []
            crop_true: list[int] = []
            for item in chunk:
                image = _read(item.path, gray=args.crops)
                if image is None:
                    skipped["unreadable"] = skipped.get("unreadable", 0) + 1
                    continue
                if excluded is not None and pixel_digest(image) in excluded:
                    skipped["pixels_also_in_excluded_set"] = skipped.get("pixels_also_in_excluded_set", 0) + 1
                    continue
                if detector is not None:
                    found = face_crops(detector, image, classifier.input_size)
                    if not found:
                        y_true.append(LABEL_INDEX[item.label])
                        y_pred.append(len(LABELS))  # the no_face column
                        continue
                    image = found[0][1]
                    detected += 1
                crops.append(image)
                crop_true.append(LABEL_INDEX[item.label])
            start = time.perf_counter()
            probs = classifier.predict_batch(crops)
            classify_s += time.perf_counter() - start
            classified += len(crops)
            y_true.extend(crop_true)
            y_pred.extend(probs.argmax(axis=1).tolist())
    finally:
        if detector is not None:
            detector.close()

    if not y_true:
        log.error("no readable images under %s (skipped: %s)", args.data, skipped)
        return 2
    extra: dict[str, object] = {
        "mode": "crops" if args.crops else "frames",
        "model": str(args.model) if args.model else "shipped",
        "classifier_ms_per_face": round(1000 * classify_s / max(classified, 1), 3),
        "labels": "ferplus-votes" if votes is not None else "folder",
    }
    if votes is not None:
        extra["no_majority"] = skipped.get("ferplus_no_majority", 0)
    if detector is not None:
        extra["detected"] = detected
        extra["detection_rate"] = round(detected / len(y_true), 4)
        report = classification_report(y_true, y_pred, labels=(*LABELS, NO_FACE))
    else:
        report = classification_report(y_true, y_pred)
    print_eval_result(report, skipped, extra, as_json=args.json)
    return 0


def _with_vote_labels(
    items: list[LabelledImage], votes: VoteTable, skipped: dict[str, int]
) -> list[LabelledImage]:
    """The items relabelled by their FER+ majority; those without one are counted and dropped."""
    out = []
    for item in items:
        counts = votes.get(item.path)
        if counts is None:
            reason = "ferplus_no_votes"
        else:
            m = majority(counts)
            if m.label is not None:
                out.append(LabelledImage(item.path, LABELS[m.label]))
                continue
            reason = f"ferplus_{m.reason}"
        skipped[reason] = skipped.get(reason, 0) + 1
    return out


def pixel_digest(image: np.ndarray) -> bytes:
    """Identity of an image by its decoded pixels (the same face saved twice under two names)."""
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


def _digests(root: Path, gray: bool) -> set[bytes]:
    """Pixel digests of every readable image under root (any layout), decoded as the eval decodes."""
    if not root.is_dir():
        raise NotADirectoryError(f"--exclude-pixels-of: {root} is not a directory")
    out = set()
    for path in root.rglob("*"):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            image = _read(path, gray)
            if image is not None:
                out.add(pixel_digest(image))
    return out


def _chunks(items: list[LabelledImage], size: int) -> Iterator[list[LabelledImage]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _read(path: Path, gray: bool) -> np.ndarray | None:
    """Decoded image (2-D gray, or HxWx3 RGB), or None with a warning when it does not decode."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
    if image is None:
        log.warning("skipping unreadable image %s", path)
        return None
    return image if gray else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
