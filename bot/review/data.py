"""Gather what a review shows from the database: stored summaries, timelines and alerts.

Everything is read through the storage helpers; a call without a stored summary (still active, or the
bot died) gets one built on the fly from what was stored, so it is reviewed like any other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select

from bot.delivery.outbox import call_alerts
from bot.summary import build_summary
from emotion_models.affect import NEGATIVE_LABELS, valence_arousal
from emotion_models.labels import LABELS
from storage.db import Database
from storage.models import CallRow, ParticipantRow
from storage.repository import get_call, latest_summary
from storage.timeline import load_call_timeline

# Roles that mark the person a review is about (rather than the people they talk to).
HOST_ROLES = frozenset({"host", "teacher", "agent", "staff", "employee"})
HOST_METADATA_KEYS = ("host_identity", "host")
ROLE_ATTRIBUTES = ("emotion.role", "role")


@dataclass(frozen=True, slots=True)
class ParticipantReview:
    identity: str
    display_name: str | None
    role: str | None
    analysed: bool
    not_analysed_reason: str | None
    shares: dict[str, float] | None  # fused shares, else face, else voice
    valence_mean: float | None
    valence_trend_per_min: float | None
    episodes: list[dict[str, Any]]

    @property
    def negative_share(self) -> float | None:
        return (
            None if self.shares is None else round(sum(self.shares.get(k, 0.0) for k in NEGATIVE_LABELS), 4)
        )

    @property
    def name(self) -> str:
        return self.display_name or self.identity


@dataclass(frozen=True, slots=True)
class CallReview:
    call_id: str
    room: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    duration_s: float
    metadata: dict[str, Any]
    host_identity: str | None
    participants: list[ParticipantReview]  # everyone, host included
    alerts: list[dict[str, Any]]
    # identity -> [(t seconds, valence)], for timeline plots
    valence_series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    @property
    def others(self) -> list[ParticipantReview]:
        """The people the host talked to (everyone when the call has no known host)."""
        return [p for p in self.participants if p.identity != self.host_identity]

    def others_valence(self) -> float | None:
        values = [p.valence_mean for p in self.others if p.analysed and p.valence_mean is not None]
        return round(float(np.mean(values)), 4) if values else None

    def others_shares(self) -> dict[str, float] | None:
        rows = [p.shares for p in self.others if p.analysed and p.shares]
        if not rows:
            return None
        return {label: round(float(np.mean([r.get(label, 0.0) for r in rows])), 4) for label in LABELS}

    def others_negative_share(self) -> float | None:
        shares = self.others_shares()
        return None if shares is None else round(sum(shares[k] for k in NEGATIVE_LABELS), 4)

    def external_ids(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.metadata.items() if k in ("deal_id", "ticket_id")}


@dataclass(frozen=True, slots=True)
class HostReview:
    host: str
    host_name: str | None
    since: datetime | None
    until: datetime | None
    calls: list[CallReview]  # oldest first

    def trend(self) -> list[tuple[CallReview, float]]:
        """(call, others' mean valence) for calls that have one, oldest first."""
        return [(c, v) for c in self.calls if (v := c.others_valence()) is not None]

    def trend_slope_per_call(self) -> float | None:
        """Least-squares slope of the others' valence across calls (per call); None with < 3 calls."""
        points = self.trend()
        if len(points) < 3:
            return None
        y = np.array([v for _, v in points])
        return round(float(np.polyfit(np.arange(len(y)), y, 1)[0]), 4)

    def worst_episodes(self, limit: int = 10) -> list[tuple[CallReview, dict[str, Any]]]:
        """The strongest negative episodes of the other participants over all calls."""
        found = [(c, e) for c in self.calls for p in c.others for e in p.episodes]
        return sorted(found, key=lambda item: -float(item[1].get("strength", 0.0)))[:limit]

    def standout_calls(self, limit: int = 5) -> list[CallReview]:
        """The calls where the others' valence was lowest."""
        return [c for c, _ in sorted(self.trend(), key=lambda item: item[1])[:limit]]


def best_shares(shares: Mapping[str, Any] | None) -> dict[str, float] | None:
    """Fused shares when both modalities were fused, else whichever modality there is."""
    for key in ("fused", "face", "voice"):
        value = (shares or {}).get(key)
        if value:
            return {label: float(value.get(label, 0.0)) for label in LABELS}
    return None


def _participant(block: Mapping[str, Any]) -> ParticipantReview:
    valence = block.get("valence") or {}
    return ParticipantReview(
        identity=block["identity"],
        display_name=block.get("display_name"),
        role=block.get("role"),
        analysed=bool(block.get("analysed")),
        not_analysed_reason=block.get("not_analysed_reason"),
        shares=best_shares(block.get("emotion_shares")) if block.get("analysed") else None,
        valence_mean=valence.get("mean"),
        valence_trend_per_min=valence.get("trend_per_min"),
        episodes=list(block.get("negative_episodes") or []),
    )


def _role(participant: ParticipantRow) -> str | None:
    if participant.role:
        return participant.role.lower()
    for key in ROLE_ATTRIBUTES:
        value = (participant.attributes or {}).get(key)
        if isinstance(value, str) and value:
            return value.lower()
    return None


def host_of(call: CallRow, participants: Sequence[ParticipantRow]) -> str | None:
    """The call's host: dispatch metadata `host_identity`/`host`, else a participant with a host role."""
    for key in HOST_METADATA_KEYS:
        value = (call.metadata_ or {}).get(key)
        if isinstance(value, str) and value:
            return value
    for participant in participants:
        if _role(participant) in HOST_ROLES:
            return participant.identity
    return None


def _valence_series(db: Database, call_id: str, analysed: set[str]) -> dict[str, list[tuple[float, float]]]:
    """Valence over time per analysed participant: the fused timeline, else voice observations."""
    timeline = load_call_timeline(db, call_id)
    series: dict[str, list[tuple[float, float]]] = {}
    for identity in analysed:
        fused = timeline.fused.get(identity, [])
        if fused:
            series[identity] = [(p.t, round(p.valence, 4)) for p in fused]
            continue
        observations = timeline.observations.get(identity, [])
        if observations:
            values = valence_arousal(np.array([o.probabilities for o in observations]))[:, 0]
            series[identity] = [
                (round((o.t_start + o.t_end) / 2, 3), round(float(v), 4))
                for o, v in zip(observations, values, strict=True)
            ]
    return series


def review_call(db: Database, call_id: str, *, with_series: bool = True) -> CallReview:
    """One call's review. Raises storage.repository.CallNotFound."""
    summary = latest_summary(db, call_id) or build_summary(db, call_id, partial=True)
    with db.session() as session:
        call = get_call(session, call_id)
        participants = list(session.scalars(select(ParticipantRow).where(ParticipantRow.call_id == call_id)))
        alerts = call_alerts(session, call_id)
    reviewed = [_participant(block) for block in summary.get("participants", [])]
    analysed = {p.identity for p in reviewed if p.analysed}
    return CallReview(
        call_id=call.id,
        room=call.room,
        status=call.status,
        started_at=call.started_at,
        ended_at=call.ended_at,
        duration_s=float(summary.get("duration_s") or 0.0),
        metadata={k: v for k, v in (call.metadata_ or {}).items() if k != "webhook_url"},
        host_identity=host_of(call, participants),
        participants=reviewed,
        alerts=alerts,
        valence_series=_valence_series(db, call_id, analysed) if with_series else {},
    )


def review_host(
    db: Database, host: str, *, since: datetime | None = None, until: datetime | None = None
) -> HostReview:
    """All calls hosted by `host` that started in [since, until), oldest first.

    The host test needs the metadata and participants of each call in range, so it runs in Python
    over the calls of the period (JSON queries differ between SQLite and PostgreSQL).
    """
    query = select(CallRow).order_by(CallRow.started_at)
    if since is not None:
        query = query.where(CallRow.started_at >= since)
    if until is not None:
        query = query.where(CallRow.started_at < until)
    hosted: list[str] = []
    host_name: str | None = None
    with db.session() as session:
        for call in session.scalars(query):
            participants = list(
                session.scalars(select(ParticipantRow).where(ParticipantRow.call_id == call.id))
            )
            if host_of(call, participants) != host:
                continue
            hosted.append(call.id)
            for participant in participants:
                if participant.identity == host and participant.display_name:
                    host_name = participant.display_name
    calls = [review_call(db, call_id) for call_id in hosted]
    return HostReview(host=host, host_name=host_name, since=since, until=until, calls=calls)
