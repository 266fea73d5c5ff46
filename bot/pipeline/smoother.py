"""Per-participant fused timeline: smooth each modality over time, then fuse face and voice.

Each modality keeps an exponentially smoothed probability vector in continuous time: an observation
arriving `dt` seconds after the previous one of the same modality gets weight `1 - exp(-dt / tau)`
(never below `MIN_WEIGHT`, so simultaneous observations such as two faces in one frame still count),
so the estimate forgets with time constant `tau` whatever the sampling rate. Face uses a short `tau`
(2 s: expressions change fast and frames come every 0.5 s), voice a longer one (4 s: segments are
sparse). The smoothed confidence (top-class probability) is tracked the same way.

At time t the fused vector is the confidence-weighted average of the modalities still recent:
    w_m = conf_m * exp(-age_m / tau_m),  age_m = t - (time of the last observation of m)
and a modality older than `stale_after_tau * tau_m` leaves the fusion (a participant who stopped
talking is judged by the face alone). Valence and arousal are the expectation of the circumplex
coordinates under the fused vector (emotion_models.affect).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from emotion_models.affect import valence_arousal
from emotion_models.labels import LABELS
from storage.records import FusedPoint, Modality, Observation

MIN_WEIGHT = 0.1


@dataclass
class _ModalityState:
    probabilities: np.ndarray
    confidence: float
    t: float


class Smoother:
    """Turns one participant's observations (any modality, roughly in time order) into FusedPoints."""

    def __init__(
        self,
        identity: str,
        *,
        face_tau_s: float = 2.0,
        voice_tau_s: float = 4.0,
        stale_after_tau: float = 3.0,
    ) -> None:
        self.identity = identity
        self._tau: dict[Modality, float] = {"face": face_tau_s, "voice": voice_tau_s}
        self._stale_after_tau = stale_after_tau
        self._state: dict[Modality, _ModalityState] = {}

    def update(self, obs: Observation) -> FusedPoint:
        """Fold one observation into its modality's estimate; the fused point at the observation's end."""
        tau = self._tau[obs.modality]
        probs = np.asarray(obs.probabilities, dtype=np.float64)
        state = self._state.get(obs.modality)
        if state is None:
            self._state[obs.modality] = _ModalityState(probs, obs.confidence, obs.t_end)
        else:
            weight = max(MIN_WEIGHT, 1.0 - math.exp(-max(0.0, obs.t_end - state.t) / tau))
            state.probabilities = (1.0 - weight) * state.probabilities + weight * probs
            state.confidence = (1.0 - weight) * state.confidence + weight * obs.confidence
            state.t = max(state.t, obs.t_end)
        return self.fused(obs.t_end)

    def fused(self, t: float) -> FusedPoint:
        """The fused estimate at media time t (raises if nothing recent enough is known)."""
        total = np.zeros(len(LABELS))
        weight_sum = 0.0
        sources: list[Modality] = []
        for modality, state in self._state.items():
            tau = self._tau[modality]
            age = max(0.0, t - state.t)
            if age > self._stale_after_tau * tau:
                continue
            weight = max(state.confidence, 1e-6) * math.exp(-age / tau)
            total += weight * state.probabilities
            weight_sum += weight
            sources.append(modality)
        if weight_sum == 0.0:
            raise ValueError(f"no recent observation of {self.identity} at t={t:.2f}")
        probabilities = total / total.sum()
        valence, arousal = valence_arousal(probabilities)
        return FusedPoint(
            participant_identity=self.identity,
            t=t,
            probabilities=tuple(float(p) for p in probabilities),
            top_label=LABELS[int(np.argmax(probabilities))],
            valence=float(valence),
            arousal=float(arousal),
            sources=tuple(sorted(sources)),
        )
