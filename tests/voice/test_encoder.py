"""The pretrained voice encoder: shipped file, the two mel front ends agree, features mean something."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torchaudio

from emotion_models.model_files import ModelFileError
from emotion_models.voice import encoder as E
from emotion_models.voice.audio import load_audio
from emotion_models.voice.inputs import NUM_INPUTS, utterance_inputs
from training.voice.frontend import torch_encoder_mel, training_encoder_features


@pytest.fixture(scope="module")
def encoder() -> E.VoiceEncoder:
    return E.VoiceEncoder.load()


def test_shipped_encoder_is_the_file_the_licence_notice_names() -> None:
    digest = hashlib.sha256(E.DEFAULT_ENCODER.read_bytes()).hexdigest()
    assert digest == E.ENCODER_SHA256
    notice = (E.DEFAULT_ENCODER.parent / "voice_encoder.LICENSE.md").read_text()
    assert digest in notice and "Apache License" in notice


def test_slaney_filterbank_matches_torchaudio() -> None:
    expected = torchaudio.functional.melscale_fbanks(
        E.ENCODER_N_FFT // 2 + 1, 0.0, 8000.0, E.N_ENCODER_MELS, 16000, norm="slaney", mel_scale="slaney"
    )
    np.testing.assert_allclose(E.slaney_mel_filterbank(), expected.numpy(), atol=1e-7)


def test_run_time_and_training_front_ends_agree_on_real_clips(
    encoder: E.VoiceEncoder, emodb_wave: np.ndarray, nemo_wave: np.ndarray
) -> None:
    torch.set_num_threads(1)
    for wave in (emodb_wave, nemo_wave, emodb_wave[:3000] * 0.01):
        runtime, training = E.encoder_mel(wave), torch_encoder_mel(wave)
        assert runtime.shape == training.shape == (len(wave) // E.ENCODER_HOP + 1, E.N_ENCODER_MELS)
        np.testing.assert_allclose(runtime, training, rtol=1e-4, atol=1e-6 * training.max())
        features = encoder.features(wave)
        assert features.shape == (E.ENCODER_FEATURES,) and np.isfinite(features).all()
        np.testing.assert_allclose(features, training_encoder_features(wave, encoder), atol=1e-4)


def test_quiet_audio_is_raised_to_the_encoder_level_but_loud_audio_is_kept(emodb_wave: np.ndarray) -> None:
    def dbfs(x: np.ndarray) -> float:
        return float(20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2))))

    quiet = emodb_wave * 0.001
    assert dbfs(E.level_normalise(quiet)) == pytest.approx(E.TARGET_DBFS, abs=0.01)
    loud = emodb_wave / np.abs(emodb_wave).max()
    assert dbfs(loud) > E.TARGET_DBFS
    np.testing.assert_array_equal(E.level_normalise(loud)[: len(loud)], loud)


def test_embedding_tells_speakers_apart(encoder: E.VoiceEncoder, emodb_dir: Path) -> None:
    # The frozen network is a speaker encoder: neutral clips of one speaker sit closer together than
    # clips of two speakers. If the weights or the mel front end were wrong this would not hold.
    def embeddings(speaker: str) -> np.ndarray:
        clips = sorted((emodb_dir / "wav").glob(f"{speaker}*N*.wav"))[:4]
        assert len(clips) == 4
        return np.stack([encoder.features(load_audio(c))[-256:] for c in clips])

    female, male = embeddings("08"), embeddings("10")

    def mean_cosine(a: np.ndarray, b: np.ndarray, same: bool) -> float:
        sims = a @ b.T  # embeddings are unit length
        return float(sims[~np.eye(len(a), dtype=bool)].mean() if same else sims.mean())

    np.testing.assert_allclose(np.linalg.norm(female, axis=1), 1.0, atol=1e-4)
    within = min(mean_cosine(female, female, True), mean_cosine(male, male, True))
    assert within > mean_cosine(female, male, False) + 0.05


def test_short_silent_and_empty_input(encoder: E.VoiceEncoder) -> None:
    assert np.isfinite(encoder.features(np.zeros(16000, dtype=np.float32))).all()
    assert encoder.features(np.full(10, 0.1, dtype=np.float32)).shape == (E.ENCODER_FEATURES,)
    with pytest.raises(ValueError, match="empty"):
        encoder.features(np.zeros(0, dtype=np.float32))


def test_classifier_inputs_are_statistics_then_encoder(
    encoder: E.VoiceEncoder, emodb_wave: np.ndarray
) -> None:
    inputs = utterance_inputs(emodb_wave, encoder)
    assert inputs.shape == (NUM_INPUTS,) and inputs.dtype == np.float32
    np.testing.assert_allclose(inputs[-E.ENCODER_FEATURES :], encoder.features(emodb_wave), atol=1e-6)


def test_corrupt_or_foreign_encoder_files_are_refused(tmp_path: Path) -> None:
    truncated = tmp_path / "voice_encoder.onnx"
    truncated.write_bytes(E.DEFAULT_ENCODER.read_bytes()[:1000])
    with pytest.raises(ModelFileError, match="not a readable ONNX model"):
        E.VoiceEncoder.load(truncated)
    with pytest.raises(ModelFileError, match="missing"):
        E.VoiceEncoder.load(tmp_path / "absent.onnx")
    proto = onnx.load(str(E.DEFAULT_ENCODER))
    for prop in proto.metadata_props:
        if prop.key == "encoder_version":
            prop.value = "another-encoder"
    foreign = tmp_path / "foreign.onnx"
    onnx.save(proto, str(foreign))
    with pytest.raises(ValueError, match="another-encoder"):
        E.VoiceEncoder.load(foreign)
