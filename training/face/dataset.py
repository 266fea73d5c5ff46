"""Load a `<label>/<image>` folder of face crops into memory as one uint8 array.

FER2013 is 28k 48x48 grayscale images (66 MB as uint8): holding it in RAM and augmenting whole
batches as tensors is far faster on 2 CPU cores than a per-image DataLoader pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from emotion_models.face.folder import scan_labelled_folder
from emotion_models.labels import LABEL_INDEX

log = logging.getLogger(__name__)


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
    items, skipped = scan_labelled_folder(Path(root))
    images: list[np.ndarray] = []
    labels: list[int] = []
    groups: list[str] = []
    for item in items:
        img = cv2.imread(str(item.path), cv2.IMREAD_GRAYSCALE)
        if img is None:
            skipped["unreadable"] = skipped.get("unreadable", 0) + 1
            log.warning("skipping unreadable image %s", item.path)
            continue
        if img.shape != (size, size):
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        images.append(img)
        labels.append(LABEL_INDEX[item.label])
        groups.append(group_of(item.path.name))
    if not images:
        raise ValueError(f"no images found under {root}")
    return FaceArrays(
        images=np.stack(images),
        labels=np.asarray(labels, dtype=np.int64),
        groups=np.asarray(groups),
        skipped=skipped,
    )


def group_of(file_name: str) -> str:
    """The subject id a `<group>__<rest>` file name carries, or "" when it carries none."""
    return file_name.split("__", 1)[0] if "__" in file_name else ""


def split_groups(groups: Sequence[str], val_fraction: float, seed: int = 0) -> set[str]:
    """The groups (actors) that go to validation: whole groups, never single frames of one.

    Frames of one actor are near-duplicates; splitting them across train and validation would
    measure memorisation of faces, not recognition of expressions.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    unique = sorted(set(groups))
    if len(unique) < 2:
        raise ValueError(f"a grouped split needs at least 2 groups, got {unique}")
    order = np.random.default_rng(seed).permutation(len(unique))
    n_val = min(max(1, round(val_fraction * len(unique))), len(unique) - 1)
    return {unique[i] for i in order[:n_val]}
