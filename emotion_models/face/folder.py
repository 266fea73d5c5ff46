"""Read a `<label>/<image>` folder: the one layout every face eval and training command accepts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from emotion_models.labels import canonical_label

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    label: str  # canonical label


def scan_labelled_folder(root: Path) -> tuple[list[LabelledImage], dict[str, int]]:
    """Image files under root/<label>/ with canonical labels, plus counts of what was skipped.

    Label folders may use any alias; an unknown folder name raises UnknownLabelError (a typo must be
    loud). Files in skipped classes (contempt) count as `label:<name>`, non-image files as
    `not_image`. Whether an image decodes is left to the reader.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory of <label>/<image> folders")
    items: list[LabelledImage] = []
    skipped: dict[str, int] = {}
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        label = canonical_label(label_dir.name)
        files = sorted(f for f in label_dir.iterdir() if f.is_file())
        if label is None:
            skipped[f"label:{label_dir.name}"] = len(files)
            continue
        for f in files:
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                skipped["not_image"] = skipped.get("not_image", 0) + 1
                log.warning("skipping non-image file %s", f)
                continue
            items.append(LabelledImage(f, label))
    return items, skipped
