"""Aligned face crops from labelled videos, as a `<label>/<group>__<video>_<frame>.png` training folder.

    python -m training.face.extract_crops --videos DIR --out DIR [--fps 2] [--group-split 0.2]

DIR may hold RAVDESS (`01-01-EE-II-SS-RR-AA.mp4`, `02-...`), CREMA-D (`1001_DFA_ANG_XX.flv`) or
`<label>/*.mp4` videos (file names are read by `emotion_models.corpora`). Frames are sampled with
PyAV, the largest face goes through the run-time detector and aligner (so training crops have
exactly the geometry the product feeds the classifier) and is written at FER2013's 48x48.

The `<group>__` prefix is the actor (or, when the layout names none, the video): training reads it
(`training.face.dataset`) so that splits are made by actor. `--group-split F` writes `train/` and
`val/` folders with a fraction F of the actors held out whole; frames of one actor never straddle.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from emotion_models.corpora import UNKNOWN_SPEAKER, VIDEO_SUFFIXES, CorpusItem, walk_corpus
from emotion_models.face.crops import face_crops
from emotion_models.face.detector import FaceDetector
from training.face.dataset import split_groups

log = logging.getLogger("training.face.extract_crops")

CROP_SIZE = 48  # FER2013's resolution: extracted crops mix with FER2013 without resampling twice


def group_id(item: CorpusItem) -> str:
    """Actor id for the file-name prefix, unique across corpora; the video itself when no actor is known."""
    if item.speaker == UNKNOWN_SPEAKER:
        return f"video-{item.path.stem}".replace("__", "_")
    return f"{item.corpus}-{item.speaker}"


def sample_frames(path: Path, fps: float, max_frames: int) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, RGB frame) pairs, at most `fps` per second of video time and max_frames in all."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.video[0]
        next_t = 0.0
        taken = 0
        for index, frame in enumerate(container.decode(stream)):
            t = float(frame.time) if frame.time is not None else index / float(stream.average_rate or 25)
            if t + 1e-6 < next_t:
                continue
            yield index, frame.to_ndarray(format="rgb24")
            taken += 1
            if taken >= max_frames:
                return
            next_t = (math.floor(t * fps + 1e-6) + 1) / fps  # on the 1/fps grid: no drift


def extract(args: argparse.Namespace) -> dict[str, object]:
    import av

    items, skipped = walk_corpus(Path(args.videos), VIDEO_SUFFIXES)
    if not items:
        raise SystemExit(f"no labelled videos found under {args.videos} (skipped: {skipped})")
    out = Path(args.out)
    groups = {item.path: group_id(item) for item in items}
    val_groups = (
        split_groups(list(groups.values()), args.group_split, args.seed) if args.group_split else set()
    )

    counts: Counter[str] = Counter()
    frames_without_face = 0
    with FaceDetector(min_score=args.min_score) as detector:
        for item in items:
            group = groups[item.path]
            split_dir = out / ("val" if group in val_groups else "train") if args.group_split else out
            target = split_dir / str(item.label)
            target.mkdir(parents=True, exist_ok=True)
            try:
                for index, rgb in sample_frames(item.path, args.fps, args.max_frames):
                    found = face_crops(detector, rgb, args.size)
                    if not found:
                        frames_without_face += 1
                        continue
                    name = f"{group}__{item.path.stem}_{index:06d}.png"
                    cv2.imwrite(str(target / name), found[0][1])
                    counts[str(item.label)] += 1
            except (av.FFmpegError, ValueError) as exc:
                skipped["unreadable_video"] = skipped.get("unreadable_video", 0) + 1
                log.warning("skipping unreadable video %s: %s", item.path, exc)
    summary: dict[str, object] = {
        "videos": len(items),
        "crops": sum(counts.values()),
        "per_label": dict(sorted(counts.items())),
        "frames_without_face": frames_without_face,
        "groups": len(set(groups.values())),
        "val_groups": sorted(val_groups),
        "skipped": skipped,
    }
    return summary


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", required=True, help="RAVDESS / CREMA-D / <label>/*.mp4 folder")
    ap.add_argument("--out", required=True, help="output <label>/<image> folder")
    ap.add_argument("--fps", type=float, default=2.0, help="frames sampled per second of video")
    ap.add_argument("--max-frames", type=int, default=50, help="at most this many frames per video")
    ap.add_argument("--size", type=int, default=CROP_SIZE, help="crop side in pixels")
    ap.add_argument("--min-score", type=float, default=0.5, help="detector confidence threshold")
    ap.add_argument(
        "--group-split",
        type=float,
        metavar="VAL_FRACTION",
        help="write train/ and val/ with this fraction of actors held out whole",
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of the grouped split")
    return ap


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    print(json.dumps(extract(build_parser().parse_args(argv))))


if __name__ == "__main__":
    main()
