"""The run-time (numpy) front end matches the training (torchaudio) front end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchaudio

from emotion_models.voice import features as F
from emotion_models.voice.audio import resample
from training.voice.frontend import torch_spectrograms, training_features


def test_filterbank_and_dct_match_torchaudio() -> None:
    fb = torchaudio.functional.melscale_fbanks(F.N_FFT // 2 + 1, F.F_MIN, F.F_MAX, F.N_MELS, 16000).numpy()
    np.testing.assert_allclose(F.mel_filterbank(), fb, atol=1e-5)
    dct = torchaudio.functional.create_dct(F.N_MFCC, F.N_MELS, "ortho").numpy()
    np.testing.assert_allclose(F.dct_matrix(), dct, atol=1e-6)


@pytest.mark.parametrize(("orig", "new"), [(22050, 16000), (48000, 16000), (44100, 16000), (8000, 16000)])
def test_resample_matches_torchaudio(orig: int, new: int) -> None:
    x = np.random.default_rng(0).standard_normal(orig // 2).astype(np.float32) * 0.3
    expected = torchaudio.functional.resample(torch.from_numpy(x), orig, new).numpy()
    got = resample(x, orig, new)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=2e-4)


@pytest.mark.parametrize("clip", ["emodb_wave", "nemo_wave"])
def test_spectrograms_and_features_match(clip: str, request: pytest.FixtureRequest) -> None:
    wave = request.getfixturevalue(clip)
    power_t, mel_t = torch_spectrograms(wave)
    power_n = F.power_spectrogram(wave)
    assert power_n.shape == power_t.shape
    np.testing.assert_allclose(power_n, power_t, atol=1e-5 * power_t.max())
    np.testing.assert_allclose(F.mel_spectrogram(power_n), mel_t, atol=1e-5 * mel_t.max())
    runtime, training = F.extract_features(wave), training_features(wave)
    assert runtime.shape == (F.NUM_FEATURES,) == (len(F.FEATURE_NAMES),)
    assert np.isfinite(runtime).all()
    np.testing.assert_allclose(runtime, training, rtol=1e-3, atol=1e-3)


def test_features_ignore_gain_except_level(emodb_wave: np.ndarray) -> None:
    loud, quiet = F.extract_features(emodb_wave), F.extract_features(emodb_wave * 0.25)
    level = F.FEATURE_NAMES.index("energy_level")
    assert quiet[level] < loud[level] - 2.0
    level_features = {"energy_level", "mfcc_mean_0"}
    rest = [i for i, name in enumerate(F.FEATURE_NAMES) if name not in level_features]
    # Not exact: the power floor (EPS) lifts the quietest high bands of the quieter copy a little.
    np.testing.assert_allclose(quiet[rest], loud[rest], atol=0.3)
    pitch_names = ("f0_", "voiced_fraction", "voicing_strength", "voiced_run")
    pitch = [i for i, name in enumerate(F.FEATURE_NAMES) if name.startswith(pitch_names)]
    np.testing.assert_allclose(quiet[pitch], loud[pitch], atol=0.05)


def test_pitch_of_a_synthetic_voice() -> None:
    t = np.arange(16000) / 16000
    wave = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 8)).astype(np.float32) * 0.1
    feats = F.extract_features(wave)
    f0 = feats[F.FEATURE_NAMES.index("f0_p50")]
    assert f0 == pytest.approx(12 * np.log2(150 / 100), abs=0.5)  # semitones above 100 Hz
    assert feats[F.FEATURE_NAMES.index("voiced_fraction")] > 0.9


def test_short_and_empty_inputs() -> None:
    assert F.extract_features(np.full(100, 0.1, dtype=np.float32)).shape == (F.NUM_FEATURES,)
    assert np.isfinite(F.extract_features(np.zeros(16000, dtype=np.float32))).all()
    with pytest.raises(ValueError):
        F.extract_features(np.zeros(0, dtype=np.float32))


def _glide(start_hz: float, end_hz: float, seconds: float = 1.0) -> np.ndarray:
    """A harmonic tone whose pitch glides from start_hz to end_hz (exponentially, like intonation)."""
    t = np.arange(int(16000 * seconds)) / 16000
    f0 = start_hz * (end_hz / start_hz) ** (t / seconds)
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    return (sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.1).astype(np.float32)


def _feature(feats: np.ndarray, name: str) -> float:
    return float(feats[F.FEATURE_NAMES.index(name)])


def test_pitch_contour_tells_a_rise_from_a_fall() -> None:
    rise, fall = F.extract_features(_glide(120, 240)), F.extract_features(_glide(240, 120))
    # one octave in one second: +-12 semitones per second
    assert _feature(rise, "f0_slope") == pytest.approx(12.0, abs=1.5)
    assert _feature(fall, "f0_slope") == pytest.approx(-12.0, abs=1.5)
    assert _feature(rise, "third2_f0") > 3.0 > -3.0 > _feature(rise, "third0_f0")
    # 0.12 semitones per 10 ms frame is below the rise/fall step; a fast glide (0.4 per frame) is above
    assert _feature(rise, "f0_rise_fraction") == _feature(rise, "f0_fall_fraction") == 0.0
    fast_rise = F.extract_features(_glide(120, 240, 0.3))
    assert _feature(fast_rise, "f0_rise_fraction") > 0.9
    assert _feature(fast_rise, "f0_fall_fraction") < 0.05
    assert _feature(rise, "f0_peak_position") > 0.9 > 0.1 > _feature(fall, "f0_peak_position")
    # the level statistics cannot tell them apart: same range, same spread
    assert _feature(rise, "f0_range") == pytest.approx(_feature(fall, "f0_range"), abs=0.5)


def test_rhythm_counts_pauses_and_voiced_runs() -> None:
    syllable = _glide(150, 150, 0.2)
    gap = np.zeros(int(0.2 * 16000), dtype=np.float32)
    halting = np.concatenate([syllable, gap] * 4 + [syllable])  # 5 syllables, 4 pauses, 1.8 s
    feats = F.extract_features(halting)
    assert _feature(feats, "pauses_per_s") == pytest.approx(4 / 1.8, abs=0.4)
    assert _feature(feats, "voiced_runs_per_s") == pytest.approx(5 / 1.8, abs=0.4)
    # each 0.2 s gap looks ~40 ms shorter: the 40 ms analysis window reaches into it from both sides
    assert _feature(feats, "pause_fraction") == pytest.approx((0.8 - 4 * 0.04) / 1.8, abs=0.04)
    # 2.5 syllables a second: the envelope's energy sits in the 2-4 Hz modulation band
    modulation = [_feature(feats, f"energy_modulation_{b}hz") for b in ("1_2", "2_4", "4_8", "8_16")]
    assert int(np.argmax(modulation)) == 1
    steady = F.extract_features(_glide(150, 150, 1.8))
    assert _feature(steady, "pauses_per_s") == 0.0
    assert _feature(steady, "pause_fraction") == 0.0
