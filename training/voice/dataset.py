"""Labelled corpora -> cached feature tensors (clips x versions x features) for training and LOSO.

Featurising ~5k clips in several augmented versions is the slow part of training, so it runs once
(in worker processes) and is cached under the run folder, keyed by the file list, the number of
versions and how many of them are chains heard on the phone line (augment.version). The cache holds
each version's per-frame tracks (features.frame_tracks), not the statistics: the utterance
statistics are recomputed from the tracks in seconds, so a change to the statistics does not pay for
the spectrograms, pitch and augmentation again. Beside the tracks it holds each version's pooled
features of the two frozen encoders (Resemblyzer, emotion_models/voice/encoder.py; Whisper-base,
emotion_models/voice/whisper.py), which need no recomputing, so a table holds every block of
emotion_models.voice.inputs.BLOCKS and each front end compared in training is a selection of its
columns.

Every clip is trimmed (emotion_models/voice/trim.py) before anything else, as at run time; the
clip's length before and after trimming is kept for the duration-only leakage check.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing as mp
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from emotion_models.corpora import AUDIO_SUFFIXES, CorpusItem, walk_corpus
from emotion_models.labels import LABEL_INDEX
from emotion_models.voice.audio import SAMPLE_RATE, AudioDecodeError, load_audio
from emotion_models.voice.encoder import ENCODER_FEATURES, ENCODER_VERSION, VoiceEncoder
from emotion_models.voice.features import NUM_FEATURES, TRACK_WIDTH, TRACKS_VERSION, utterance_statistics
from emotion_models.voice.inputs import BLOCKS, FrontEnd
from emotion_models.voice.trim import TRIM_VERSION, trim_silence
from emotion_models.voice.whisper import WHISPER_FEATURES, WHISPER_VERSION, WhisperEncoder
from training.voice.augment import AUGMENT_VERSION, version
from training.voice.frontend import training_encoder_features, training_tracks

log = logging.getLogger("training.voice")


@dataclass(frozen=True)
class FeatureTable:
    """features[i, v] is version v of clip i (0 clean, 1 telephone, >= 2 augmented)."""

    features: np.ndarray  # (N, V, width) float32: the blocks of `blocks`, side by side
    labels: np.ndarray  # (N,) int64 index into LABELS
    speakers: np.ndarray  # (N,) str speaker_key
    corpora: np.ndarray  # (N,) str
    names: np.ndarray | None = None  # (N,) str file stem
    durations: np.ndarray | None = None  # (N, 2) float32 seconds: as recorded, after trimming
    blocks: tuple[str, ...] = BLOCKS

    def subset(self, mask: np.ndarray) -> FeatureTable:
        return FeatureTable(
            self.features[mask],
            self.labels[mask],
            self.speakers[mask],
            self.corpora[mask],
            None if self.names is None else self.names[mask],
            None if self.durations is None else self.durations[mask],
            self.blocks,
        )

    def select(self, frontend: FrontEnd) -> FeatureTable:
        """The columns of one front end's blocks (the table must hold all of them)."""
        missing = set(frontend.blocks) - set(self.blocks)
        if missing:
            raise ValueError(f"table lacks blocks {sorted(missing)}")
        features = self.features[:, :, frontend.columns(self.blocks)]
        return FeatureTable(
            features, self.labels, self.speakers, self.corpora, self.names, self.durations, frontend.blocks
        )

    @staticmethod
    def concat(tables: list[FeatureTable]) -> FeatureTable:
        def cat(name: str) -> np.ndarray | None:
            parts = [getattr(t, name) for t in tables]
            return None if any(p is None for p in parts) else np.concatenate(parts)

        if len({t.blocks for t in tables}) != 1:
            raise ValueError("tables hold different feature blocks")
        return FeatureTable(
            np.concatenate([t.features for t in tables]),
            np.concatenate([t.labels for t in tables]),
            np.concatenate([t.speakers for t in tables]),
            np.concatenate([t.corpora for t in tables]),
            cat("names"),
            cat("durations"),
            tables[0].blocks,
        )


_ENCODER: VoiceEncoder | None = None  # one per worker process, loaded by _init_worker
_WHISPER: WhisperEncoder | None = None
ClipResult = tuple[list[np.ndarray], np.ndarray, np.ndarray, tuple[float, float]]


def _clip_tracks(job: tuple[str, int, int | None]) -> ClipResult | None:
    """One clip's frame tracks per version, (versions, ENCODER_FEATURES) Resemblyzer and
    (versions, WHISPER_FEATURES) Whisper features, and its (recorded, trimmed) length in seconds."""
    path, n_versions, phone_chains_from = job
    try:
        recorded = load_audio(path)
    except AudioDecodeError as exc:
        log.warning("skipping %s", exc)
        return None
    assert _ENCODER is not None and _WHISPER is not None
    wave = trim_silence(recorded)  # before augmentation: a version never sees the padding either
    seed = zlib.crc32(Path(path).name.encode())
    waves = [version(wave, v, seed, phone_chains_from) for v in range(n_versions)]
    encoded = np.stack([training_encoder_features(w, _ENCODER) for w in waves])
    whispered = np.stack([_WHISPER.features(w) for w in waves])
    lengths = (recorded.size / SAMPLE_RATE, wave.size / SAMPLE_RATE)
    return [training_tracks(w) for w in waves], encoded, whispered, lengths


def _statistics(tracks: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(N, V, NUM_FEATURES) utterance statistics from concatenated tracks and (N, V) frame counts."""
    ends = np.cumsum(lengths.reshape(-1))
    rows = [
        utterance_statistics(tracks[end - n : end]) for n, end in zip(lengths.reshape(-1), ends, strict=True)
    ]
    return np.stack(rows).reshape(*lengths.shape, NUM_FEATURES).astype(np.float32)


def _init_worker() -> None:
    global _ENCODER, _WHISPER
    torch.set_num_threads(1)
    _ENCODER = VoiceEncoder.load(threads=1)
    _WHISPER = WhisperEncoder.shared(threads=1)


def _cache_key(items: list[CorpusItem], n_versions: int, phone_chains: int = 0) -> str:
    # The cache depends on trimming, the frame tracks (features.py), both encoders and the augmentation.
    versions = f"{TRIM_VERSION}|{TRACKS_VERSION}|{ENCODER_VERSION}|{WHISPER_VERSION}|{AUGMENT_VERSION}"
    spec = f"{n_versions}" + (f"|phone-chains={phone_chains}" if phone_chains else "")  # old keys hold
    digest = hashlib.sha256(f"{versions}|{spec}".encode())
    for item in items:
        digest.update(f"{item.path.name}|{item.label}|{item.speaker_key}\n".encode())
    return digest.hexdigest()[:16]


def _extract_tracks(
    items: list[CorpusItem], n_versions: int, phone_chains: int, workers: int, desc: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Concatenated frame tracks, (clips, versions) frame counts, (clips, versions, width) Resemblyzer
    and Whisper features, (clips, 2) lengths and the indices of readable items."""
    phone_chains_from = n_versions - phone_chains if phone_chains else None
    jobs = [(str(item.path), n_versions, phone_chains_from) for item in items]
    if workers > 1:
        with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
            results = list(tqdm(pool.imap(_clip_tracks, jobs, chunksize=8), total=len(jobs), desc=desc))
    else:
        _init_worker()
        results = [_clip_tracks(job) for job in tqdm(jobs, desc=desc)]
    keep = [i for i, r in enumerate(results) if r is not None]
    per_version = [t for i in keep for t in results[i][0]]  # type: ignore[index]
    lengths = np.array([len(t) for t in per_version], dtype=np.int64).reshape(len(keep), n_versions)
    encoded = np.stack([results[i][1] for i in keep]).astype(np.float32)  # type: ignore[index]
    whispered = np.stack([results[i][2] for i in keep]).astype(np.float32)  # type: ignore[index]
    durations = np.array([results[i][3] for i in keep], dtype=np.float32)  # type: ignore[index]
    return np.concatenate(per_version).astype(np.float32), lengths, encoded, whispered, durations, keep


def load_corpus_features(
    root: Path, n_versions: int, cache_dir: Path, workers: int = 1, phone_chains: int = 0
) -> FeatureTable:
    """Featurise every labelled clip under root (any layout walk_corpus knows), with a disk cache.

    features[i, v] holds every block of emotion_models.voice.inputs.BLOCKS for version v of clip i;
    the last `phone_chains` versions are augmentation chains that end on the phone line."""
    if not 0 <= phone_chains <= n_versions - 2:
        raise ValueError(f"phone_chains must be 0..{n_versions - 2} with {n_versions} versions")
    items, skipped = walk_corpus(root, AUDIO_SUFFIXES)
    if not items:
        raise ValueError(f"no labelled audio under {root} (skipped: {skipped})")
    log.info("%s: %d clips, skipped %s", root, len(items), skipped)
    cache = cache_dir / f"tracks-{root.resolve().name}-{_cache_key(items, n_versions, phone_chains)}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            tracks, lengths, encoded, whispered = z["tracks"], z["lengths"], z["encoded"], z["whispered"]
            labels, speakers, corpora = z["labels"], z["speakers"], z["corpora"]
            names, durations = z["names"], z["durations"]
    else:
        tracks, lengths, encoded, whispered, durations, keep = _extract_tracks(
            items, n_versions, phone_chains, workers, root.name
        )
        assert tracks.shape[1] == TRACK_WIDTH and encoded.shape[2] == ENCODER_FEATURES
        assert whispered.shape[2] == WHISPER_FEATURES
        labels = np.array([LABEL_INDEX[items[i].label] for i in keep], dtype=np.int64)  # type: ignore[index]
        speakers = np.array([items[i].speaker_key for i in keep])
        corpora = np.array([items[i].corpus for i in keep])
        names = np.array([items[i].path.stem for i in keep])
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.savez(
            cache,
            tracks=tracks,
            lengths=lengths,
            encoded=encoded,
            whispered=whispered,
            durations=durations,
            names=names,
            labels=labels,
            speakers=speakers,
            corpora=corpora,
        )
    features = np.concatenate([_statistics(tracks, lengths), encoded, whispered], axis=2)
    assert features.shape[2] == NUM_FEATURES + ENCODER_FEATURES + WHISPER_FEATURES
    return FeatureTable(features, labels, speakers, corpora, names, durations)
