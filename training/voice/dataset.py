"""Labelled corpora -> cached feature tensors (clips x versions x features) for training and LOSO.

Featurising ~5k clips in several augmented versions is the slow part of training, so it runs once
(in worker processes) and is cached under the run folder, keyed by the file list, the number of
versions and the front-end version.
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
from emotion_models.voice.features import FRONTEND_VERSION, NUM_FEATURES
from training.voice.augment import version
from training.voice.frontend import training_features

log = logging.getLogger("training.voice")


@dataclass(frozen=True)
class FeatureTable:
    """features[i, v] is version v of clip i (0 clean, 1 telephone, >= 2 augmented)."""

    features: np.ndarray  # (N, V, NUM_FEATURES) float32
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


def _clip_features(job: tuple[str, int]) -> np.ndarray | None:
    path, n_versions = job
    try:
        wave = load_audio(path)
    except AudioDecodeError as exc:
        log.warning("skipping %s", exc)
        return None
    seed = zlib.crc32(Path(path).name.encode())
    return np.stack([training_features(version(wave, v, seed)) for v in range(n_versions)])


def _init_worker() -> None:
    torch.set_num_threads(1)


def _cache_key(items: list[CorpusItem], n_versions: int) -> str:
    digest = hashlib.sha256(f"{FRONTEND_VERSION}|{n_versions}".encode())
    for item in items:
        digest.update(f"{item.path.name}|{item.label}|{item.speaker_key}\n".encode())
    return digest.hexdigest()[:16]


def load_corpus_features(root: Path, n_versions: int, cache_dir: Path, workers: int = 1) -> FeatureTable:
    """Featurise every labelled clip under root (any layout walk_corpus knows), with a disk cache."""
    items, skipped = walk_corpus(root, AUDIO_SUFFIXES)
    if not items:
        raise ValueError(f"no labelled audio under {root} (skipped: {skipped})")
    log.info("%s: %d clips, skipped %s", root, len(items), skipped)
    cache = cache_dir / f"features-{root.resolve().name}-{_cache_key(items, n_versions)}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            return FeatureTable(z["features"], z["labels"], z["speakers"], z["corpora"])
    jobs = [(str(item.path), n_versions) for item in items]
    if workers > 1:
        with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
            results = list(
                tqdm(pool.imap(_clip_features, jobs, chunksize=8), total=len(jobs), desc=root.name)
            )
    else:
        _init_worker()
        results = [_clip_features(job) for job in tqdm(jobs, desc=root.name)]
    keep = [i for i, r in enumerate(results) if r is not None]
    table = FeatureTable(
        np.stack([results[i] for i in keep]).astype(np.float32),
        np.array([LABEL_INDEX[items[i].label] for i in keep], dtype=np.int64),  # type: ignore[index]
        np.array([items[i].speaker_key for i in keep]),
        np.array([items[i].corpus for i in keep]),
    )
    assert table.features.shape[2] == NUM_FEATURES
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(
        cache, features=table.features, labels=table.labels, speakers=table.speakers, corpora=table.corpora
    )
    return table
