"""Labelled corpora -> cached feature tensors (clips x versions x features) for training and LOSO.

Featurising ~5k clips in several augmented versions is the slow part of training, so it runs once
(in worker processes) and is cached under the run folder, keyed by the file list and the number of
versions. The cache holds each version's per-frame tracks (features.frame_tracks), not the
statistics: the utterance statistics are recomputed from the tracks in seconds, so a change to the
statistics does not pay for the spectrograms, pitch and augmentation again. Beside the tracks it
holds each version's pooled voice-encoder features (emotion_models/voice/encoder.py), which come
from a frozen network and need no recomputing.
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
from emotion_models.voice.audio import AudioDecodeError, load_audio
from emotion_models.voice.encoder import ENCODER_FEATURES, ENCODER_VERSION, VoiceEncoder
from emotion_models.voice.features import NUM_FEATURES, TRACK_WIDTH, TRACKS_VERSION, utterance_statistics
from emotion_models.voice.inputs import NUM_INPUTS
from training.voice.augment import AUGMENT_VERSION, version
from training.voice.frontend import training_encoder_features, training_tracks

log = logging.getLogger("training.voice")


@dataclass(frozen=True)
class FeatureTable:
    """features[i, v] is version v of clip i (0 clean, 1 telephone, >= 2 augmented)."""

    features: np.ndarray  # (N, V, NUM_INPUTS) float32: statistics, then encoder features
    labels: np.ndarray  # (N,) int64 index into LABELS
    speakers: np.ndarray  # (N,) str speaker_key
    corpora: np.ndarray  # (N,) str

    def subset(self, mask: np.ndarray) -> FeatureTable:
        return FeatureTable(self.features[mask], self.labels[mask], self.speakers[mask], self.corpora[mask])

    @staticmethod
    def concat(tables: list[FeatureTable]) -> FeatureTable:
        return FeatureTable(
            np.concatenate([t.features for t in tables]),
            np.concatenate([t.labels for t in tables]),
            np.concatenate([t.speakers for t in tables]),
            np.concatenate([t.corpora for t in tables]),
        )


_ENCODER: VoiceEncoder | None = None  # one per worker process, loaded by _init_worker


def _clip_tracks(job: tuple[str, int]) -> tuple[list[np.ndarray], np.ndarray] | None:
    """Frame tracks of every version of one clip and (versions, ENCODER_FEATURES) encoder features."""
    path, n_versions = job
    try:
        wave = load_audio(path)
    except AudioDecodeError as exc:
        log.warning("skipping %s", exc)
        return None
    assert _ENCODER is not None
    seed = zlib.crc32(Path(path).name.encode())
    waves = [version(wave, v, seed) for v in range(n_versions)]
    encoded = np.stack([training_encoder_features(w, _ENCODER) for w in waves])
    return [training_tracks(w) for w in waves], encoded


def _statistics(tracks: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(N, V, NUM_FEATURES) utterance statistics from concatenated tracks and (N, V) frame counts."""
    ends = np.cumsum(lengths.reshape(-1))
    rows = [
        utterance_statistics(tracks[end - n : end]) for n, end in zip(lengths.reshape(-1), ends, strict=True)
    ]
    return np.stack(rows).reshape(*lengths.shape, NUM_FEATURES).astype(np.float32)


def _init_worker() -> None:
    global _ENCODER
    torch.set_num_threads(1)
    _ENCODER = VoiceEncoder.load(threads=1)


def _cache_key(items: list[CorpusItem], n_versions: int) -> str:
    # The cache depends on the frame tracks (features.py), the encoder (encoder.py) and the augmentation.
    digest = hashlib.sha256(f"{TRACKS_VERSION}|{ENCODER_VERSION}|{AUGMENT_VERSION}|{n_versions}".encode())
    for item in items:
        digest.update(f"{item.path.name}|{item.label}|{item.speaker_key}\n".encode())
    return digest.hexdigest()[:16]


def _extract_tracks(
    items: list[CorpusItem], n_versions: int, workers: int, desc: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Concatenated frame tracks, (clips, versions) frame counts, (clips, versions, ENCODER_FEATURES)
    encoder features and the indices of readable items."""
    jobs = [(str(item.path), n_versions) for item in items]
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
    return np.concatenate(per_version).astype(np.float32), lengths, encoded, keep


def load_corpus_features(root: Path, n_versions: int, cache_dir: Path, workers: int = 1) -> FeatureTable:
    """Featurise every labelled clip under root (any layout walk_corpus knows), with a disk cache.

    features[i, v] is the classifier input of version v of clip i (emotion_models.voice.inputs)."""
    items, skipped = walk_corpus(root, AUDIO_SUFFIXES)
    if not items:
        raise ValueError(f"no labelled audio under {root} (skipped: {skipped})")
    log.info("%s: %d clips, skipped %s", root, len(items), skipped)
    cache = cache_dir / f"tracks-{root.resolve().name}-{_cache_key(items, n_versions)}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            tracks, lengths, encoded = z["tracks"], z["lengths"], z["encoded"]
            labels, speakers, corpora = z["labels"], z["speakers"], z["corpora"]
    else:
        tracks, lengths, encoded, keep = _extract_tracks(items, n_versions, workers, root.name)
        assert tracks.shape[1] == TRACK_WIDTH and encoded.shape[2] == ENCODER_FEATURES
        labels = np.array([LABEL_INDEX[items[i].label] for i in keep], dtype=np.int64)  # type: ignore[index]
        speakers = np.array([items[i].speaker_key for i in keep])
        corpora = np.array([items[i].corpus for i in keep])
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.savez(
            cache,
            tracks=tracks,
            lengths=lengths,
            encoded=encoded,
            labels=labels,
            speakers=speakers,
            corpora=corpora,
        )
    features = np.concatenate([_statistics(tracks, lengths), encoded], axis=2)
    assert features.shape[2] == NUM_INPUTS
    return FeatureTable(features, labels, speakers, corpora)
