"""Per-speaker feature normalisation: each voice is compared with itself, not with the population.

Much of what an utterance-statistics vector holds is who is speaking and over which channel: a
speaker's pitch range, timbre (MFCC means), loudness, and a phone line's band limits. Emotion is
largely the *deviation* from that speaker's usual voice. So the classifier's input is the raw
features beside the same features z-scored within the speaker (`with_speaker_features`), and at
run time every participant gets a `SpeakerNormaliser` that estimates the speaker's statistics from
the utterances heard so far.

Before a participant has said much, the estimate leans on a prior: the training speakers' average
mean and within-speaker spread, worth `strength` pseudo-utterances. With n utterances heard, the
estimate is (strength * prior + n * this speaker's) / (strength + n), for the mean and for the
variance alike, so it moves smoothly from "average speaker" to "this speaker".

Caveat (in the model card too): the training corpora are acted and balanced over emotions, so a
speaker's statistics there are an average over all emotions. A real caller who is neutral most of
the call has statistics close to their neutral voice, which is the reference we want; a caller who
is angry from the first word makes anger look like their baseline until more speech arrives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

MIN_STD = 1e-3  # floor on the per-feature spread: constant features (e.g. digital silence) stay finite


@dataclass(frozen=True)
class SpeakerPrior:
    """Population statistics the running estimate starts from, stored in the model's metadata."""

    mean: np.ndarray  # (F,) average of the training speakers' feature means
    std: np.ndarray  # (F,) root-mean within-speaker variance of the training speakers
    strength: float  # pseudo-utterance count of the prior

    def to_json(self) -> str:
        return json.dumps(
            {
                "mean": [round(float(v), 6) for v in self.mean],
                "std": [round(float(v), 6) for v in self.std],
                "strength": self.strength,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> SpeakerPrior:
        data = json.loads(text)
        mean = np.asarray(data["mean"], dtype=np.float64)
        std = np.asarray(data["std"], dtype=np.float64)
        if mean.shape != std.shape or mean.ndim != 1:
            raise ValueError("speaker prior: mean and std must be vectors of one length")
        return cls(mean, std, float(data["strength"]))

    @classmethod
    def fit(cls, features: np.ndarray, groups: np.ndarray, strength: float) -> SpeakerPrior:
        """Prior from (N, F) features of several speakers; `groups` names each row's speaker."""
        means, variances = [], []
        for group in np.unique(groups):
            rows = features[groups == group].astype(np.float64)
            means.append(rows.mean(axis=0))
            variances.append(rows.var(axis=0))
        return cls(np.mean(means, axis=0), np.sqrt(np.mean(variances, axis=0)), strength)


def with_speaker_features(raw: np.ndarray, normalised: np.ndarray) -> np.ndarray:
    """The model input of a speaker-normalised model: (N, F) raw and (N, F) normalised -> (N, 2F)."""
    return np.concatenate([raw, normalised], axis=1).astype(np.float32)


class SpeakerNormaliser:
    """Running per-speaker statistics; one per participant, fed every utterance it classifies.

    Not thread-safe: one participant's utterances are normalised in order by one caller.
    """

    def __init__(self, prior: SpeakerPrior) -> None:
        self.prior = prior
        self.count = 0
        self._sum = np.zeros_like(prior.mean)
        self._sum_sq = np.zeros_like(prior.mean)

    def update(self, features: np.ndarray) -> None:
        """Add (N, F) utterance features to this speaker's statistics."""
        rows = np.asarray(features, dtype=np.float64).reshape(-1, self.prior.mean.shape[0])
        self.count += rows.shape[0]
        self._sum += rows.sum(axis=0)
        self._sum_sq += (rows**2).sum(axis=0)

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) estimate: the prior's pseudo-utterances plus everything heard so far.

        Mean and variance are shrunk separately (each a weighted average of the prior's and the
        speaker's), so a speaker far from the average does not inflate the spread.
        """
        p = self.prior
        total = p.strength + self.count
        if total <= 0:
            return p.mean, np.maximum(p.std, MIN_STD)
        n = max(self.count, 1)
        sample_mean = self._sum / n
        sample_var = np.maximum(self._sum_sq / n - sample_mean**2, 0.0)
        mean = (p.strength * p.mean + self.count * sample_mean) / total
        var = (p.strength * p.std**2 + self.count * sample_var) / total
        return mean, np.maximum(np.sqrt(var), MIN_STD)

    def normalise(self, features: np.ndarray) -> np.ndarray:
        """Z-score (N, F) features with the current estimate (call `update` first to include them)."""
        mean, std = self.statistics()
        return ((np.asarray(features, dtype=np.float64) - mean) / std).astype(np.float32)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Update with these utterances, then normalise them: the run-time step."""
        self.update(features)
        return self.normalise(features)
