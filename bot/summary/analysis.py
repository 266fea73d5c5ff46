"""The numbers in a summary, computed from one or more participants' stored timelines.

Time weighting, so that a summary reads as "share of analysed time":
- face observations are frames sampled at a steady rate: each counts once;
- voice observations are speech segments of varying length: each counts for its duration;
- a fused point stands for the time until the next point, capped at `fused_gap_s` (a gap in the
  timeline is not time in the last emotion).
Face time is the span covered by face samples, bridging gaps up to `face_gap_s` between samples
(or 1.5x the participant's typical sample spacing when the pipeline sampled slower);
speech time is the union of speech segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from emotion_models.affect import NEGATIVE_LABELS
from emotion_models.labels import LABEL_INDEX, LABELS
from storage.records import FusedPoint, Observation

MODALITY_KEYS = ("face", "voice", "fused")


@dataclass(frozen=True, slots=True)
class SummaryOptions:
    face_gap_s: float = 1.0  # face samples this close (at least) count as continuous face coverage
    fused_gap_s: float = 2.0  # the longest a single fused point may stand for
    episode_min_s: float = 3.0  # a negative episode lasts at least this long (N in the spec)
    episode_merge_gap_s: float = 2.0  # runs of the same label this close merge into one episode
    max_episodes: int = 5  # strongest episodes kept per participant and per call
    min_trend_span_s: float = 20.0  # no valence trend over less time than this
    flat_trend_per_min: float = 0.02  # |slope| below this reads as "flat"


def merge_intervals(
    intervals: Sequence[tuple[float, float]], max_gap: float = 0.0
) -> list[tuple[float, float]]:
    """Union of intervals, also joining neighbours separated by at most `max_gap` seconds."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start - merged[-1][1] <= max_gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def covered_seconds(intervals: Sequence[tuple[float, float]]) -> float:
    return float(sum(end - start for start, end in intervals))


@dataclass(frozen=True, slots=True)
class Timeline:
    """One participant's stored data, or several pooled (`pool`) for call-level numbers."""

    face: list[Observation]
    voice: list[Observation]
    fused: list[FusedPoint]
    fused_weights: np.ndarray  # seconds each fused point stands for

    @classmethod
    def of(
        cls, observations: Sequence[Observation], fused: Sequence[FusedPoint], options: SummaryOptions
    ) -> Timeline:
        points = sorted(fused, key=lambda p: p.t)
        return cls(
            face=[o for o in observations if o.modality == "face"],
            voice=[o for o in observations if o.modality == "voice"],
            fused=points,
            fused_weights=fused_weights([p.t for p in points], options.fused_gap_s),
        )

    def media_end(self) -> float:
        """The last media time (seconds since call start) this timeline has data for; 0 if none."""
        return max([o.t_end for o in (*self.face, *self.voice)] + [p.t for p in self.fused] + [0.0])

    @classmethod
    def pool(cls, timelines: Sequence[Timeline]) -> Timeline:
        return cls(
            face=[o for tl in timelines for o in tl.face],
            voice=[o for tl in timelines for o in tl.voice],
            fused=[p for tl in timelines for p in tl.fused],
            fused_weights=np.concatenate([tl.fused_weights for tl in timelines])
            if timelines
            else np.zeros(0),
        )


def fused_weights(times: Sequence[float], max_gap: float) -> np.ndarray:
    """Seconds each point stands for: until the next one, capped; the last one gets the typical step."""
    t = np.asarray(times, dtype=np.float64)
    if t.size == 0:
        return np.zeros(0)
    if t.size == 1:
        return np.array([max_gap])
    steps = np.minimum(np.diff(t), max_gap)
    return np.append(steps, float(np.median(steps)))


def face_seconds(face: Sequence[Observation], options: SummaryOptions) -> float:
    """Span covered by face samples. The pipeline backs off its frame rate under load (down to
    one sample per few seconds), so the bridged gap grows with this participant's typical spacing."""
    starts = np.sort([o.t_start for o in face])
    typical_step = float(np.median(np.diff(starts))) if starts.size > 2 else 0.0
    bridge = max(options.face_gap_s, 1.5 * typical_step)
    return covered_seconds(merge_intervals([(o.t_start, o.t_end) for o in face], bridge))


def speech_seconds(voice: Sequence[Observation]) -> float:
    return covered_seconds(merge_intervals([(o.t_start, o.t_end) for o in voice]))


def label_shares(labels: Sequence[str], weights: Sequence[float]) -> dict[str, float] | None:
    """Weighted share of each label as the top label; None when there is nothing to share."""
    totals = np.zeros(len(LABELS))
    for label, weight in zip(labels, weights, strict=True):
        totals[LABEL_INDEX[label]] += weight
    total = totals.sum()
    if total <= 0:
        return None
    return {label: round(float(v / total), 4) for label, v in zip(LABELS, totals, strict=True)}


def dominant(shares: dict[str, float] | None) -> str | None:
    return None if shares is None else max(LABELS, key=lambda label: shares[label])


def modality_shares(timeline: Timeline) -> dict[str, dict[str, float] | None]:
    return {
        "face": label_shares([o.top_label for o in timeline.face], [1.0] * len(timeline.face)),
        "voice": label_shares(
            [o.top_label for o in timeline.voice], [o.t_end - o.t_start for o in timeline.voice]
        ),
        "fused": label_shares([p.top_label for p in timeline.fused], timeline.fused_weights.tolist()),
    }


def valence_stats(timeline: Timeline, options: SummaryOptions) -> dict[str, Any]:
    """Time-weighted mean valence and its least-squares trend in valence units per minute."""
    if not timeline.fused or timeline.fused_weights.sum() <= 0:
        return {"mean": None, "trend_per_min": None, "trend": None}
    t = np.array([p.t for p in timeline.fused])
    v = np.array([p.valence for p in timeline.fused])
    mean = float(np.average(v, weights=timeline.fused_weights))
    slope: float | None = None
    trend: str | None = None
    if len(t) >= 3 and t.max() - t.min() >= options.min_trend_span_s:
        minutes = (t - t.mean()) / 60.0
        slope = float((minutes * (v - v.mean())).sum() / (minutes**2).sum())
        if abs(slope) < options.flat_trend_per_min:
            trend = "flat"
        else:
            trend = "rising" if slope > 0 else "falling"
    return {
        "mean": round(mean, 4),
        "trend_per_min": None if slope is None else round(slope, 4),
        "trend": trend,
    }


def arousal_mean(timeline: Timeline) -> float | None:
    if not timeline.fused or timeline.fused_weights.sum() <= 0:
        return None
    return round(float(np.average([p.arousal for p in timeline.fused], weights=timeline.fused_weights)), 4)


def negative_episodes(identity: str, timeline: Timeline, options: SummaryOptions) -> list[dict[str, Any]]:
    """Runs where one negative label tops the fused timeline for >= episode_min_s, strongest first.

    Runs of the same label separated by at most episode_merge_gap_s (another label, or no data) are
    one episode. Strength = the label's probability integrated over the seconds it was on top.
    """
    episodes: list[dict[str, Any]] = []
    if not timeline.fused:
        return episodes
    t = np.array([p.t for p in timeline.fused])
    probabilities = np.array([p.probabilities for p in timeline.fused])
    top = np.array([LABEL_INDEX[p.top_label] for p in timeline.fused])
    weights = timeline.fused_weights
    for label in sorted(NEGATIVE_LABELS):
        index = LABEL_INDEX[label]
        on_top = top == index
        runs = list(zip(t[on_top].tolist(), (t[on_top] + weights[on_top]).tolist(), strict=True))
        for start, end in merge_intervals(runs, options.episode_merge_gap_s):
            if end - start < options.episode_min_s:
                continue
            inside = slice(*np.searchsorted(t, [start, end]))
            label_p = probabilities[inside, index]
            peak = int(np.argmax(label_p))
            episodes.append(
                {
                    "identity": identity,
                    "label": label,
                    "start_s": round(start, 2),
                    "end_s": round(end, 2),
                    "duration_s": round(end - start, 2),
                    "peak": round(float(label_p[peak]), 4),
                    "peak_s": round(float(t[inside][peak]), 2),
                    "strength": round(float((label_p * weights[inside] * on_top[inside]).sum()), 3),
                }
            )
    return strongest(episodes, options.max_episodes)


def strongest(episodes: Sequence[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    return sorted(episodes, key=lambda episode: -episode["strength"])[:limit]


def analyse(timeline: Timeline, options: SummaryOptions) -> dict[str, Any]:
    """The analysis block shared by each participant and the whole call (episodes added by caller)."""
    shares = modality_shares(timeline)
    dominants = {key: dominant(shares[key]) for key in MODALITY_KEYS}
    face_s = face_seconds(timeline.face, options)
    voice_s = speech_seconds(timeline.voice)
    # One headline label: the fused one, else the modality that saw this person longest.
    fallback = "face" if face_s >= voice_s else "voice"
    return {
        "analysed_seconds": {"face": round(face_s, 2), "voice": round(voice_s, 2)},
        "observation_counts": {
            "face": len(timeline.face),
            "voice": len(timeline.voice),
            "fused": len(timeline.fused),
        },
        "emotion_shares": shares,
        "dominant_emotion": {**dominants, "overall": dominants["fused"] or dominants[fallback]},
        "valence": valence_stats(timeline, options),
        "arousal_mean": arousal_mean(timeline),
    }
