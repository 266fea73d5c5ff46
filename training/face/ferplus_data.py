"""FER2013 images with their FER+ votes, as arrays for training, and as one portable pack file.

    python -m training.face.ferplus_data --data DATA/fer2013 --out runs/ferplus.npz

The pack holds the original JPEG bytes (not re-encoded, so every pixel is the dataset's own), the
folder labels, the ten FER+ vote counts and, for validation, whether an image's pixels also occur
in train (280 do). It exists to carry the data to a training machine that cannot read
../shared/data (a lent GPU); it is written under runs/ and never committed.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emotion_models.face.evaluate import pixel_digest
from emotion_models.face.ferplus import VOTE_COLUMNS, read_votes
from emotion_models.face.folder import scan_labelled_folder
from emotion_models.labels import LABEL_INDEX

log = logging.getLogger(__name__)

SPLITS = ("train", "validation")


@dataclass
class VotedSplit:
    images: np.ndarray  # (N, 48, 48) uint8
    folder_labels: np.ndarray  # (N,) int64, the FER2013 folder label
    votes: np.ndarray  # (N, 10) int64 in VOTE_COLUMNS order; all zero where FER+ has no row
    in_train: np.ndarray  # (N,) bool: the same pixels occur in the train split (False for train itself)


def _read_split(root: Path, votes_csv: Path, split: str) -> tuple[list[bytes], list[int], np.ndarray]:
    items, skipped = scan_labelled_folder(root / split)
    table = read_votes(votes_csv, split)
    blobs, labels, votes = [], [], []
    for item in items:
        blobs.append(item.path.read_bytes())
        labels.append(LABEL_INDEX[item.label])
        row = table.get(item.path)
        votes.append(row if row is not None else np.zeros(len(VOTE_COLUMNS), dtype=np.int64))
    log.info(
        "%s: %d images, %d with votes, skipped %s",
        split,
        len(items),
        sum(v.sum() > 0 for v in votes),
        skipped,
    )
    return blobs, labels, np.stack(votes)


def _decode(blobs: list[bytes]) -> np.ndarray:
    images = [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_GRAYSCALE) for b in blobs]
    bad = [i for i, im in enumerate(images) if im is None or im.shape != (48, 48)]
    if bad:
        raise ValueError(f"{len(bad)} images do not decode to 48x48 grayscale (first: index {bad[0]})")
    return np.stack(images)


def _in_train(train: np.ndarray, other: np.ndarray) -> np.ndarray:
    seen = {pixel_digest(im) for im in train}
    return np.array([pixel_digest(im) in seen for im in other], dtype=bool)


def write_pack(root: Path, votes_csv: Path, out: Path) -> dict[str, int]:
    arrays: dict[str, np.ndarray] = {}
    decoded: dict[str, np.ndarray] = {}
    for split in SPLITS:
        blobs, labels, votes = _read_split(root, votes_csv, split)
        decoded[split] = _decode(blobs)
        arrays[f"{split}_jpg"] = np.frombuffer(b"".join(blobs), dtype=np.uint8)
        arrays[f"{split}_offsets"] = np.cumsum([0, *map(len, blobs)]).astype(np.int64)
        arrays[f"{split}_labels"] = np.array(labels, dtype=np.int64)
        arrays[f"{split}_votes"] = votes
    arrays["validation_in_train"] = _in_train(decoded["train"], decoded["validation"])
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)
    return {split: len(decoded[split]) for split in SPLITS} | {
        "validation_in_train": int(arrays["validation_in_train"].sum())
    }


def read_pack(path: Path) -> dict[str, VotedSplit]:
    with np.load(path) as pack:
        out = {}
        for split in SPLITS:
            jpg, offsets = pack[f"{split}_jpg"], pack[f"{split}_offsets"]
            blobs = [jpg[offsets[i] : offsets[i + 1]].tobytes() for i in range(len(offsets) - 1)]
            images = _decode(blobs)
            in_train = pack["validation_in_train"] if split == "validation" else np.zeros(len(images), bool)
            out[split] = VotedSplit(images, pack[f"{split}_labels"], pack[f"{split}_votes"], in_train)
    return out


def read_folder(root: Path, votes_csv: Path) -> dict[str, VotedSplit]:
    """The same splits straight from `fer2013/` (no pack file)."""
    out: dict[str, VotedSplit] = {}
    for split in SPLITS:
        blobs, labels, votes = _read_split(root, votes_csv, split)
        out[split] = VotedSplit(
            _decode(blobs), np.array(labels, dtype=np.int64), votes, np.zeros(len(blobs), bool)
        )
    out["validation"].in_train = _in_train(out["train"].images, out["validation"].images)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="the fer2013/ folder (train/, validation/)")
    parser.add_argument("--votes", type=Path, help="default: DATA/ferplus_votes.csv")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    counts = write_pack(args.data, args.votes or args.data / "ferplus_votes.csv", args.out)
    log.info("wrote %s (%.1f MB): %s", args.out, args.out.stat().st_size / 1e6, counts)


if __name__ == "__main__":
    main()
