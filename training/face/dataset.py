"""Load a `<label>/<image>` folder of face crops into memory as one uint8 array.

FER2013 is 28k 48x48 grayscale images (66 MB as uint8): holding it in RAM and augmenting whole
batches as tensors is far faster on 2 CPU cores than a per-image DataLoader pipeline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from emotion_models.labels import LABEL_INDEX, UnknownLabelError, canonical_label

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass
class FaceArrays:
    images: np.ndarray  # (N, S, S) uint8 grayscale
    labels: np.ndarray  # (N,) int64 indices into LABELS
    groups: np.ndarray  # (N,) str: subject/actor id where known, else "" (for grouped splits)
    skipped: dict[str, int] = field(default_factory=dict)


def load_face_folder(root: Path, size: int) -> FaceArrays:
    """Read every image under root/<label>/, resized to size x size grayscale.

    Unknown label folders raise; skipped classes (contempt) and unreadable files are counted.
    A file name of the form `<group>__<anything>` carries a subject id (written by the video-crop
    extractor) so splits can be grouped by actor.
    """
    images: list[np.ndarray] = []
    labels: list[int] = []
    groups: list[str] = []
    skipped: dict[str, int] = {}
    for label_dir in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        try:
            label = canonical_label(label_dir.name)
        except UnknownLabelError:
            raise
        files = sorted(f for f in label_dir.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if label is None:
            skipped[f"label:{label_dir.name}"] = len(files)
            continue
        for f in files:
            img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
            if img is None:
                skipped["unreadable"] = skipped.get("unreadable", 0) + 1
                log.warning("skipping unreadable image %s", f)
                continue
            if img.shape != (size, size):
                img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
            images.append(img)
            labels.append(LABEL_INDEX[label])
            groups.append(f.name.split("__", 1)[0] if "__" in f.name else "")
    if not images:
        raise ValueError(f"no images found under {root}")
    return FaceArrays(
        images=np.stack(images),
        labels=np.asarray(labels, dtype=np.int64),
        groups=np.asarray(groups),
        skipped=skipped,
    )
