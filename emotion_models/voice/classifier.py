"""Voice-emotion classifier at run time: utterance inputs (the model names its front end) -> probabilities.

The model's metadata `frontend_version` says which feature blocks it was trained on (inputs.py);
the loader builds exactly that front end and loads only the encoders it needs, once per process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from emotion_models.labels import LABELS
from emotion_models.voice.inputs import Encoders, FrontEnd, FrontEndError, batch_inputs
from emotion_models.voice.session import cpu_session
from emotion_models.voice.speaker_norm import SpeakerNormaliser, SpeakerPrior, with_speaker_features

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "assets" / "voice_emotion.onnx"
# Another model file for every loader in the process (benchmarks, trying a candidate in the bot).
MODEL_ENV = "EMOTION_BOT_VOICE_MODEL"
INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"
# Metadata key of a model trained on per-speaker normalised features (value: the prior, JSON).
SPEAKER_PRIOR_KEY = "speaker_prior"


class ModelMismatchError(ValueError):
    """The ONNX file was trained for other labels or another feature front end than this code's."""


class VoiceEmotionClassifier:
    """Load once per process; `predict_batch` is safe to call from one worker thread at a time.

    A model trained on per-speaker normalised features (metadata `speaker_prior`) needs each
    utterance's speaker: callers keep one `new_normaliser()` per participant and pass it with every
    utterance. Without one, an utterance is normalised with the prior alone ("an average speaker").
    """

    def __init__(self, session: ort.InferenceSession, path: Path, threads: int = 1) -> None:
        self._session = session
        self.path = path
        self.metadata: dict[str, str] = dict(session.get_modelmeta().custom_metadata_map)
        labels = json.loads(self.metadata.get("labels", "[]"))
        if tuple(labels) != LABELS:
            raise ModelMismatchError(f"{path}: labels {labels} differ from {list(LABELS)}")
        try:
            self.frontend = FrontEnd.parse(self.metadata.get("frontend_version", ""))
        except FrontEndError as exc:
            raise ModelMismatchError(f"{path}: built for a front end this code lacks ({exc})") from exc
        self.num_inputs = self.frontend.width
        self.encoders = Encoders.for_frontend(self.frontend, threads)
        prior_json = self.metadata.get(SPEAKER_PRIOR_KEY)
        self.speaker_prior = SpeakerPrior.from_json(prior_json) if prior_json else None
        if self.speaker_prior is not None and self.speaker_prior.mean.shape != (self.num_inputs,):
            raise ModelMismatchError(f"{path}: speaker prior has {self.speaker_prior.mean.shape[0]} features")
        # A speaker-normalised model takes raw and normalised features side by side.
        expected = self.num_inputs * (2 if self.speaker_prior is not None else 1)
        width = session.get_inputs()[0].shape[1]
        if width != expected:
            raise ModelMismatchError(f"{path}: input has {width} columns, expected {expected}")

    @property
    def uses_speaker_normalisation(self) -> bool:
        return self.speaker_prior is not None

    def new_normaliser(self) -> SpeakerNormaliser | None:
        """Running statistics for one new speaker (None: this model does not use them)."""
        return SpeakerNormaliser(self.speaker_prior) if self.speaker_prior is not None else None

    @classmethod
    def load(cls, path: Path | None = None, threads: int = 1) -> VoiceEmotionClassifier:
        """Open `path` (else $EMOTION_BOT_VOICE_MODEL, else the shipped model) and the encoders it
        needs, with `threads` intra-op threads."""
        if path is None:
            path = Path(os.environ.get(MODEL_ENV) or DEFAULT_MODEL)
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"voice model not found: {path}")
        session = cpu_session(str(path), threads)
        return cls(session, path, threads)

    def predict_features(
        self,
        features: np.ndarray,
        normalisers: Sequence[SpeakerNormaliser | None] | None = None,
    ) -> np.ndarray:
        """(N, num_inputs) utterance inputs (inputs.py) -> (N, 7) float32 probabilities in LABELS order.

        `normalisers[i]` is row i's speaker (rows of one speaker in the order they were spoken);
        each is updated with its rows. Ignored by a model without speaker normalisation.
        """
        features = np.asarray(features, dtype=np.float32).reshape(-1, self.num_inputs)
        if features.shape[0] == 0:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        if normalisers is not None and len(normalisers) != features.shape[0]:
            raise ValueError(f"{len(normalisers)} normalisers for {features.shape[0]} utterances")
        if self.speaker_prior is not None:
            features = with_speaker_features(features, self._normalise(features, normalisers))
        (probs,) = self._session.run([OUTPUT_NAME], {INPUT_NAME: features})
        return probs.astype(np.float32)

    def _normalise(
        self, features: np.ndarray, normalisers: Sequence[SpeakerNormaliser | None] | None
    ) -> np.ndarray:
        assert self.speaker_prior is not None
        # Rows without a speaker are an average speaker; the others update their speaker in order.
        out = SpeakerNormaliser(self.speaker_prior).normalise(features)
        for i, normaliser in enumerate(normalisers or ()):
            if normaliser is not None:
                out[i] = normaliser(features[i : i + 1])[0]
        return out

    def predict_batch(
        self,
        waves: Sequence[np.ndarray],
        normalisers: Sequence[SpeakerNormaliser | None] | None = None,
    ) -> np.ndarray:
        """16 kHz mono float32 waveforms (one utterance each) -> (N, 7) float32 probabilities.

        `normalisers`: see `predict_features` (one per wave, or None for "an average speaker").
        """
        if len(waves) == 0:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        return self.predict_features(batch_inputs(waves, self.encoders, self.frontend), normalisers)
