"""The models one process needs, loaded once and shared by every call and participant."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.pipeline.engine import InferenceEngine
    from emotion_models.face.classifier import FaceEmotionClassifier
    from emotion_models.face.detector import FaceDetector
    from emotion_models.voice.classifier import VoiceEmotionClassifier
    from emotion_models.voice.vad import StreamingVAD

log = logging.getLogger(__name__)


@dataclass
class Models:
    """Face detector + classifier, voice classifier, and a VAD factory (VAD state is per stream).

    `engine` is the process's one InferenceEngine over these models, created on first use.
    """

    face_detector: FaceDetector
    face_classifier: FaceEmotionClassifier
    voice_classifier: VoiceEmotionClassifier
    _engine: InferenceEngine | None = field(default=None, repr=False)
    _engine_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def new_vad(self) -> StreamingVAD:
        """A fresh streaming VAD for one audio stream."""
        from emotion_models.voice.vad import StreamingVAD

        return StreamingVAD()

    @property
    def engine(self) -> InferenceEngine:
        from bot.pipeline.engine import InferenceEngine

        with self._engine_lock:
            if self._engine is None:
                self._engine = InferenceEngine(self)
            return self._engine

    def close(self) -> None:
        """Stop the engine's threads and release the detector."""
        with self._engine_lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
        self.face_detector.close()


def load_models(*, threads: int | None = None) -> Models:
    """Load every shipped model once. `threads`: onnxruntime intra-op threads per model (default 1:
    the engine's face, voice and VAD threads are the parallelism, one core's worth each at most).
    Raises the model packages' own errors (missing or corrupt model file) with their messages.
    """
    from emotion_models.face.classifier import FaceEmotionClassifier
    from emotion_models.face.detector import FaceDetector
    from emotion_models.voice.classifier import VoiceEmotionClassifier
    from emotion_models.voice.vad import shared_session

    n = threads or 1
    # Open the VAD model now, on the calling (main) thread: locating it imports the LiveKit silero
    # plugin, which refuses to register from any other thread, and VADs are created on worker threads.
    shared_session()
    models = Models(
        face_detector=FaceDetector(min_score=0.5),
        face_classifier=FaceEmotionClassifier.load(threads=n),
        voice_classifier=VoiceEmotionClassifier.load(threads=n),
    )
    log.info("models loaded (onnxruntime threads per model: %d)", n)
    return models
