"""The duration-only classifier finds a label that the clip length gives away, and nothing else."""

from __future__ import annotations

import numpy as np

from training.voice.leakage import duration_check, duration_only_uar


def test_duration_only_classifier_reads_padding_but_not_noise() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 60)
    speakers = np.array([f"s{i % 10}" for i in range(len(labels))])
    padded = 2.0 + 0.3 * labels + rng.normal(0, 0.01, len(labels))  # ASED-like: length per label
    assert duration_only_uar(padded, labels, speakers) > 0.95
    trimmed = rng.uniform(1.5, 2.5, len(labels))  # length unrelated to the label
    assert abs(duration_only_uar(trimmed, labels, speakers) - 0.2) < 0.1


def test_duration_check_reports_per_corpus_and_ased_common_sentences() -> None:
    rng = np.random.default_rng(1)
    n = 200
    labels = rng.integers(0, 5, n)
    speakers = np.array([f"ased/{i % 8:02d}" for i in range(n)])
    names = np.array([f"a5-0{1 + i % 7}-01-01-{i % 8:02d}" for i in range(n)])
    durations = np.stack([2.0 + 0.3 * labels, rng.uniform(1.5, 2.5, n)], axis=1)
    out = duration_check(durations, labels, speakers, np.array(["ased"] * n), names)
    assert set(out) == {"ased", "ased_common_sentences"}
    assert out["ased"]["recorded_uar"] > 0.95 and out["ased"]["chance_uar"] == 0.2
    assert out["ased"]["trimmed_uar"] < 0.35
    assert out["ased_common_sentences"]["n"] == int(
        np.isin([x.split("-")[1] for x in names], ["01", "02"]).sum()
    )
