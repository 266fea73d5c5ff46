"""Voice-emotion classifier at run time: numpy utterance features -> ONNX model -> (N, 7) probabilities."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from emotion_models.labels import LABELS
from emotion_models.voice.features import FRONTEND_VERSION, NUM_FEATURES, extract_features

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "assets" / "voice_emotion.onnx"
INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"


class ModelMismatchError(ValueError):
    """The ONNX file was trained for other labels or another feature front end than this code's."""


class VoiceEmotionClassifier:
    """Load once per process; `predict_batch` is safe to call from one worker thread at a time."""

    def __init__(self, session: ort.InferenceSession, path: Path) -> None:
        self._session = session
        self.path = path
        self.metadata: dict[str, str] = dict(session.get_modelmeta().custom_metadata_map)
        labels = json.loads(self.metadata.get("labels", "[]"))
        if tuple(labels) != LABELS:
            raise ModelMismatchError(f"{path}: labels {labels} differ from {list(LABELS)}")
        frontend = self.metadata.get("frontend_version")
        if frontend != FRONTEND_VERSION:
            raise ModelMismatchError(
                f"{path}: built for front end {frontend!r}, this code is {FRONTEND_VERSION!r}"
            )

    @classmethod
    def load(cls, path: Path | None = None, threads: int = 1) -> VoiceEmotionClassifier:
        """Open the shipped model (or `path`) with `threads` intra-op threads."""
        path = Path(path) if path is not None else DEFAULT_MODEL
        if not path.is_file():
            raise FileNotFoundError(f"voice model not found: {path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        return cls(session, path)

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        """(N, NUM_FEATURES) utterance features -> (N, 7) float32 probabilities in LABELS order."""
        features = np.asarray(features, dtype=np.float32).reshape(-1, NUM_FEATURES)
        if features.shape[0] == 0:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        (probs,) = self._session.run([OUTPUT_NAME], {INPUT_NAME: features})
        return probs.astype(np.float32)

    def predict_batch(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        """16 kHz mono float32 waveforms (one utterance each) -> (N, 7) float32 probabilities."""
        if len(waves) == 0:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        return self.predict_features(np.stack([extract_features(w) for w in waves]))
