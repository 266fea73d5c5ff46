"""Per-speaker normalisation: the running estimate, its prior, and the training-time transform."""

from __future__ import annotations

import numpy as np
import pytest

from emotion_models.voice.speaker_norm import SpeakerNormaliser, SpeakerPrior, with_speaker_features
from training.voice.dataset import FeatureTable
from training.voice.normalise import fit_prior, online_normalise, speaker_inputs, speaker_table

F = 5


def _prior(strength: float = 10.0) -> SpeakerPrior:
    return SpeakerPrior(np.arange(F, dtype=float), np.full(F, 2.0), strength)


def test_before_any_speech_the_prior_is_the_reference() -> None:
    normaliser = SpeakerNormaliser(_prior())
    x = np.array([[1.0, 3.0, 2.0, 7.0, 4.0]])
    np.testing.assert_allclose(normaliser.normalise(x), (x - np.arange(F)) / 2.0, rtol=1e-6)
    assert normaliser.count == 0


def test_the_estimate_moves_from_the_prior_to_the_speaker() -> None:
    rng = np.random.default_rng(0)
    speaker_mean, speaker_std = np.full(F, 50.0), np.full(F, 5.0)
    normaliser = SpeakerNormaliser(_prior(strength=10.0))
    utterances = rng.normal(speaker_mean, speaker_std, size=(2000, F))
    normaliser.update(utterances[:10])
    early_mean, _ = normaliser.statistics()
    # After 10 utterances with a prior worth 10: half way between the prior and the speaker.
    np.testing.assert_allclose(early_mean, (np.arange(F) + utterances[:10].mean(0)) / 2, rtol=1e-9)
    normaliser.update(utterances[10:])
    mean, std = normaliser.statistics()
    np.testing.assert_allclose(mean, speaker_mean, atol=0.6)
    np.testing.assert_allclose(std, speaker_std, rtol=0.1)  # prior spread (2.0) hardly counts now
    z = normaliser.normalise(utterances)
    assert abs(z.mean()) < 0.1 and 0.9 < z.std() < 1.1


def test_call_updates_then_normalises() -> None:
    normaliser = SpeakerNormaliser(_prior(strength=0.0))
    x = np.array([[1.0, 2, 3, 4, 5], [3.0, 4, 5, 6, 7]])
    z = normaliser(x)
    assert normaliser.count == 2
    np.testing.assert_allclose(z, [[-1.0] * F, [1.0] * F], atol=1e-5)


def test_constant_features_stay_finite() -> None:
    normaliser = SpeakerNormaliser(SpeakerPrior(np.zeros(F), np.zeros(F), 0.0))
    z = normaliser(np.ones((3, F)))
    assert np.isfinite(z).all() and np.allclose(z, 0.0)


def test_prior_round_trips_through_json_and_rejects_bad_shapes() -> None:
    prior = _prior(7.0)
    back = SpeakerPrior.from_json(prior.to_json())
    np.testing.assert_allclose(back.mean, prior.mean)
    np.testing.assert_allclose(back.std, prior.std)
    assert back.strength == 7.0
    with pytest.raises(ValueError, match="one length"):
        SpeakerPrior.from_json('{"mean": [1, 2], "std": [1], "strength": 1}')


def test_prior_fit_averages_speakers_not_rows() -> None:
    # Speaker a has 200 rows around 0, speaker b 50 rows around 10: the average speaker sits at 5.
    rng = np.random.default_rng(1)
    rows = np.concatenate([rng.normal(0, 1, (200, F)), rng.normal(10, 3, (50, F))])
    groups = np.array(["a"] * 200 + ["b"] * 50)
    prior = SpeakerPrior.fit(rows, groups, strength=3.0)
    np.testing.assert_allclose(prior.mean, 5.0, atol=0.6)
    np.testing.assert_allclose(prior.std, np.sqrt((1 + 9) / 2), rtol=0.25)


def test_model_input_is_raw_beside_normalised() -> None:
    raw, normalised = np.ones((3, F)), np.zeros((3, F))
    both = with_speaker_features(raw, normalised)
    assert both.shape == (3, 2 * F) and both.dtype == np.float32
    np.testing.assert_array_equal(both[:, :F], 1.0)
    np.testing.assert_array_equal(both[:, F:], 0.0)


def test_training_table_helpers() -> None:
    rng = np.random.default_rng(3)
    n, versions = 120, 3
    speakers = np.array(["emodb/08"] * 60 + ["nemo/EB0"] * 60)
    offset = np.where(speakers == "emodb/08", 0.0, 20.0)[:, None, None]
    table = FeatureTable(
        (rng.normal(0, 1, (n, versions, F)) + offset).astype(np.float32),
        rng.integers(0, 7, n),
        speakers,
        np.array([s.split("/")[0] for s in speakers]),
    )
    prior = fit_prior(table, strength=4.0)
    np.testing.assert_allclose(prior.mean, 10.0, atol=1.0)
    assert prior.strength == 4.0
    # Online: every speaker has its own running statistics, so the +20 offset (z = 20 against the
    # prior alone) is largely removed; only the first few clips of each speaker stay off.
    online = online_normalise(table.features[:, 0], speakers, SpeakerPrior(np.zeros(F), np.ones(F), 1.0))
    assert abs(online[speakers == "nemo/EB0"].mean()) < 3.0
    # Same seed, same order, same numbers: the LOSO tables are reproducible.
    np.testing.assert_array_equal(
        speaker_inputs(table.features[:, 0], speakers, prior, seed=5),
        speaker_inputs(table.features[:, 0], speakers, prior, seed=5),
    )
    inputs = speaker_table(table, prior, seed=0)
    assert inputs.features.shape == (n, versions, 2 * F)
    np.testing.assert_array_equal(inputs.features[:, :, :F], table.features)
    for v in range(versions):  # against the prior alone each speaker would sit at z = -10 or +10
        for speaker in np.unique(speakers):
            assert abs(inputs.features[speakers == speaker, v, F:].mean()) < 3.0
    assert np.isfinite(online).all()
