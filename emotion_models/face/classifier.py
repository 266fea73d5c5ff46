"""The shipped face-emotion classifier, run with onnxruntime (torch is a training-only dependency).

Normalisation, flip test-time augmentation, the ensemble average and temperature scaling live
inside the ONNX graph (training/face/net.py, training/face/ensemble.py; the shipped graph is int8),
so this wrapper only feeds raw grayscale pixels and checks shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from emotion_models.labels import NUM_LABELS
from emotion_models.model_files import ASSETS_DIR, ModelFileError, read_verified

if TYPE_CHECKING:
    import onnxruntime as ort

FACE_MODEL = ASSETS_DIR / "face_emotion.onnx"


class FaceEmotionClassifier:
    """Aligned grayscale face crops -> (N, 7) probabilities in `LABELS` order."""

    input_size: int

    def __init__(self, session: ort.InferenceSession, input_name: str, input_size: int) -> None:
        self._session = session
        self._input_name = input_name
        self.input_size = input_size

    @classmethod
    def load(cls, path: Path | None = None, threads: int = 1) -> FaceEmotionClassifier:
        """Load the shipped model (or the ONNX file at path) for CPU inference on `threads` cores."""
        import onnxruntime as ort

        path = Path(path) if path is not None else FACE_MODEL
        model = read_verified(path, None)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for unparsable graphs
            raise ModelFileError(f"cannot load face emotion model {path}: {exc}") from exc
        inputs, outputs = session.get_inputs(), session.get_outputs()
        shape = inputs[0].shape if len(inputs) == 1 else None
        if (
            shape is None
            or len(shape) != 4
            or shape[1] != 1
            or not isinstance(shape[2], int)
            or shape[2] != shape[3]
            or len(outputs) != 1
            or outputs[0].shape[-1] != NUM_LABELS
        ):
            raise ModelFileError(
                f"{path} is not a face emotion model: expected input (N,1,S,S) and output (N,{NUM_LABELS}), "
                f"got inputs {[i.shape for i in inputs]} outputs {[o.shape for o in outputs]}"
            )
        return cls(session, inputs[0].name, shape[2])

    def predict_batch(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Probabilities for 2-D uint8 grayscale crops; crops of another size are area-resized first."""
        if len(crops) == 0:
            return np.zeros((0, NUM_LABELS), dtype=np.float32)
        size = self.input_size
        batch = np.empty((len(crops), 1, size, size), dtype=np.float32)
        for i, crop in enumerate(crops):
            if crop.ndim != 2 or crop.dtype != np.uint8:
                raise ValueError(f"crop {i}: expected 2-D uint8 grayscale, got {crop.shape} {crop.dtype}")
            if crop.shape != (size, size):
                crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
            batch[i, 0] = crop
        probs = self._session.run(None, {self._input_name: batch})[0]
        return np.asarray(probs, dtype=np.float32)
