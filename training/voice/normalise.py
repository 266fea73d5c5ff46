"""Per-speaker normalisation in training and in the speaker-independent evaluation.

A speaker-normalised model sees every utterance twice: its raw features (what the voice is like in
absolute terms: loud, high, fast) and the same features z-scored against the speaker's running
statistics (how this utterance departs from this speaker's usual voice). With both, LOSO UAR rose
on both corpora and the phone channel costs much less (the model card has the comparison).

Training rows are normalised exactly as the live bot normalises a participant: a running
`SpeakerNormaliser` per (speaker, version), starting from the prior, clips in a seeded shuffled
order, so the early, noisy estimates of a call are in the training data too. Every version of the
corpus (clean, phone channel, each augmentation index) counts as its own recording condition, as a
call is one condition for one participant.
"""

from __future__ import annotations

import numpy as np

from emotion_models.voice.speaker_norm import SpeakerNormaliser, SpeakerPrior, with_speaker_features
from training.voice.augment import CLEAN, TELEPHONE
from training.voice.dataset import FeatureTable

DEFAULT_PRIOR_STRENGTH = 4.0  # pseudo-utterances; chosen by a LOSO sweep (see the model card)


def fit_prior(table: FeatureTable, strength: float = DEFAULT_PRIOR_STRENGTH) -> SpeakerPrior:
    """The average training speaker, over the clean and the phone-channel condition."""
    versions = (CLEAN, TELEPHONE)
    features = np.concatenate([table.features[:, v] for v in versions])
    groups = np.concatenate([np.char.add(table.speakers.astype(str), f"|{v}") for v in versions])
    return SpeakerPrior.fit(features, groups, strength)


def online_normalise(
    features: np.ndarray, speakers: np.ndarray, prior: SpeakerPrior, seed: int = 0
) -> np.ndarray:
    """Normalise (N, F) clips as the live bot would: one running normaliser per speaker.

    Clips are visited in a seeded random order (a corpus sorted by emotion would otherwise feed a
    speaker's statistics one class at a time); each clip is normalised with the statistics of the
    clips before it plus itself.
    """
    out = np.empty(features.shape, dtype=np.float32)
    normalisers: dict[str, SpeakerNormaliser] = {}
    for i in np.random.default_rng(seed).permutation(len(features)):
        normaliser = normalisers.setdefault(str(speakers[i]), SpeakerNormaliser(prior))
        out[i] = normaliser(features[i : i + 1])[0]
    return out


def speaker_inputs(features: np.ndarray, speakers: np.ndarray, prior: SpeakerPrior, seed: int) -> np.ndarray:
    """(N, F) raw clip features -> (N, 2F) model inputs: raw beside speaker-normalised."""
    return with_speaker_features(features, online_normalise(features, speakers, prior, seed))


def speaker_table(table: FeatureTable, prior: SpeakerPrior, seed: int) -> FeatureTable:
    """Every version of every clip as model inputs (each version its own condition and order)."""
    features = np.stack(
        [
            speaker_inputs(table.features[:, v], table.speakers, prior, seed + v)
            for v in range(table.features.shape[1])
        ],
        axis=1,
    )
    return FeatureTable(features, table.labels, table.speakers, table.corpora)
