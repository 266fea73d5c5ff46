"""Face detection with mediapipe's short-range BlazeFace model (Tasks API, model shipped as an asset).

The model sees every image letterboxed to 128x128, so a face that is small relative to the frame
shrinks to a few pixels and is missed (measured: at 640x480 a 40 px face is found only when the
frame is split into tiles). When the whole-frame pass finds nothing, the detector therefore runs
again on overlapping square tiles and merges the results; the common meeting case (one face that
fills much of the picture) costs a single pass.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotion_models.model_files import ASSETS_DIR, ModelFileError, read_verified
from emotion_models.native_log import filtered_native_stderr

DETECTOR_MODEL = ASSETS_DIR / "face_detection_short_range.tflite"
DETECTOR_SHA256 = "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"

# Tile sides in pixels for the small-face passes, coarse to fine: the short-range model finds faces
# down to ~1/8 of the region it sees, so 320 px tiles reach ~40 px faces (see README "Face model").
TILE_SIDES = (640, 320)
# Neighbouring tiles overlap by this fraction of a side, so a face up to that size lies whole in a tile.
TILE_OVERLAP = 0.25
# Tile passes look harder at small regions and so fire on face-like texture (measured on cups, galaxies
# at scores 0.50-0.62, one at 0.70); they keep only detections at least this confident.
TILE_MIN_SCORE = 0.7
# Search square around a previous face (see FaceDetector.detect `near`): side in face sizes, minimum px.
NEAR_REGION_SCALE = 3.0
NEAR_REGION_MIN = 96
# Two detections of the same face (whole frame vs tile, or two overlapping tiles) overlap at least this much.
MERGE_IOU = 0.3

KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")


@dataclass(frozen=True, eq=False)  # eq on an ndarray field is ambiguous: compare boxes by identity
class FaceBox:
    """One detected face in frame pixel coordinates.

    keypoints is (6, 2) float32 pixels in mediapipe order: right eye, left eye, nose tip, mouth,
    right ear, left ear ("right" is the subject's right, i.e. on the image's left for a frontal face).
    """

    x: float
    y: float
    width: float
    height: float
    score: float
    keypoints: np.ndarray

    @property
    def area(self) -> float:
        return self.width * self.height

    def iou(self, other: FaceBox) -> float:
        ix = max(0.0, min(self.x + self.width, other.x + other.width) - max(self.x, other.x))
        iy = max(0.0, min(self.y + self.height, other.y + other.height) - max(self.y, other.y))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


# Frame sizes the warm-up detects on. LiteRT warns once per process when an input tensor's memory
# is not aligned, and whether it is depends on the allocation: one warm-up image left the warning
# to a later, unfiltered detection in about 1 run in 20; one image of each of these sizes, 0 in 60.
WARM_UP_SHAPES = ((128, 128), (240, 320), (480, 640), (720, 1280), (97, 131))


def _warm_up_images() -> list[object]:  # mediapipe is imported lazily, as everywhere in this module
    import mediapipe as mp

    return [
        mp.Image(image_format=mp.ImageFormat.SRGB, data=np.zeros((h, w, 3), dtype=np.uint8))
        for h, w in WARM_UP_SHAPES
    ]


def _close_quietly(detector: object) -> None:
    with filtered_native_stderr():  # LiteRT prints INFO lines as it destroys its accelerators
        detector.close()  # type: ignore[attr-defined]


class FaceDetector:
    """Finds faces in RGB frames of any size. One instance per thread (mediapipe graphs are not shared)."""

    def __init__(
        self, min_score: float = 0.5, model_path: Path | None = None, *, tile_small_faces: bool = True
    ) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        if not 0.0 < min_score < 1.0:
            raise ValueError(f"min_score must be in (0, 1), got {min_score}")
        # The shipped file is checked against its hash; a user-supplied model has no hash to check.
        path = Path(model_path) if model_path is not None else DETECTOR_MODEL
        expected = DETECTOR_SHA256 if model_path is None else None
        model = read_verified(path, expected)
        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_buffer=model),
            running_mode=vision.RunningMode.IMAGE,
            min_detection_confidence=min_score,
        )
        # LiteRT prints INFO lines on creation, and absl a banner and an alignment note on the first
        # detection: both happen here, with that noise filtered out (emotion_models/native_log.py).
        with filtered_native_stderr():
            try:
                self._detector = vision.FaceDetector.create_from_options(options)
            except Exception as exc:  # mediapipe raises bare RuntimeError/ValueError on bad flatbuffers
                raise ModelFileError(f"cannot load face detector model {path}: {exc}") from exc
            for image in _warm_up_images():
                self._detector.detect(image)
        self._tile_small_faces = tile_small_faces
        self._tile_min_score = max(min_score, TILE_MIN_SCORE)
        # Close before interpreter teardown: mediapipe's own __del__ fails once its C bindings are gone.
        self._finalizer = weakref.finalize(self, _close_quietly, self._detector)

    def detect(self, rgb: np.ndarray, near: FaceBox | None = None) -> list[FaceBox]:
        """All faces in an HxWx3 uint8 RGB frame, largest first.

        `near` is where the participant's face was in their previous frame. Faces move little
        between frames, so the detector first looks only in a square around it (one small pass
        instead of a whole-frame pass plus up to ~20 tiles for a small face) and falls back to the
        full search when the face is not there. Only the faces in that square are returned then,
        so callers that want every face in the frame pass no hint.
        """
        if not self._finalizer.alive:
            raise RuntimeError("FaceDetector is closed")
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 RGB frame, got shape {rgb.shape} dtype {rgb.dtype}")
        if near is not None:
            tracked = self._detect_near(rgb, near)
            if tracked:
                return tracked
        faces = self._detect_region(rgb, 0, 0)
        if self._tile_small_faces:
            h, w = rgb.shape[:2]
            # Coarse to fine, stopping at the first scale that finds a face: the participant is the
            # largest face, and finer passes only add cost and false positives.
            for side in (s for s in TILE_SIDES if s < 0.75 * max(h, w)):
                if faces:
                    break
                faces = self._detect_tiles(rgb, min(side, h, w))
        return sorted(faces, key=lambda f: f.area, reverse=True)

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _detect_region(self, rgb: np.ndarray, x0: int, y0: int) -> list[FaceBox]:
        import mediapipe as mp

        h, w = rgb.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        faces = []
        for det in self._detector.detect(image).detections:
            box = det.bounding_box
            kp = np.array([[k.x * w + x0, k.y * h + y0] for k in det.keypoints], dtype=np.float32)
            kp.flags.writeable = False  # the box is frozen; so are its keypoints
            faces.append(
                FaceBox(
                    x=float(box.origin_x + x0),
                    y=float(box.origin_y + y0),
                    width=float(box.width),
                    height=float(box.height),
                    score=float(det.categories[0].score),
                    keypoints=kp.reshape(len(KEYPOINT_NAMES), 2),
                )
            )
        return faces

    def _detect_near(self, rgb: np.ndarray, hint: FaceBox) -> list[FaceBox]:
        h, w = rgb.shape[:2]
        # A square NEAR_REGION_SCALE times the face: the face fills ~1/3 of what the model sees,
        # well inside its range, with room for the head to move between sampled frames.
        side = min(max(round(NEAR_REGION_SCALE * max(hint.width, hint.height)), NEAR_REGION_MIN), h, w)
        cx, cy = hint.x + hint.width / 2, hint.y + hint.height / 2
        x0 = int(min(max(cx - side / 2, 0), w - side))
        y0 = int(min(max(cy - side / 2, 0), h - side))
        faces = [
            face
            for face in self._detect_region(rgb[y0 : y0 + side, x0 : x0 + side], x0, y0)
            if face.score >= self._tile_min_score
        ]
        return sorted(faces, key=lambda f: f.area, reverse=True)

    def _detect_tiles(self, rgb: np.ndarray, side: int) -> list[FaceBox]:
        h, w = rgb.shape[:2]
        merged: list[FaceBox] = []
        for y0 in _starts(h, side):
            for x0 in _starts(w, side):
                for face in self._detect_region(rgb[y0 : y0 + side, x0 : x0 + side], x0, y0):
                    if face.score >= self._tile_min_score:
                        merged = _merge(merged, face)
        return merged


def _starts(length: int, side: int) -> list[int]:
    """Tile origins along one axis, the last tile flush with the far edge."""
    if length <= side:
        return [0]
    stride = max(1, round(side * (1 - TILE_OVERLAP)))
    starts = list(range(0, length - side, stride))
    starts.append(length - side)
    return starts


def _merge(faces: list[FaceBox], new: FaceBox) -> list[FaceBox]:
    """Non-maximum suppression, one face at a time: keep the higher-scoring of overlapping boxes."""
    for i, face in enumerate(faces):
        if face.iou(new) >= MERGE_IOU:
            if new.score > face.score:
                faces[i] = new
            return faces
    faces.append(new)
    return faces
