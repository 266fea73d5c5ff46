"""Assemble the end-of-call summary (JSON shape: bot/schemas/summary.schema.json, version 1.0)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.summary.analysis import SummaryOptions, Timeline, analyse, negative_episodes, strongest
from emotion_models.labels import LABELS
from storage.db import Database
from storage.models import CallRow, ParticipantRow, utcnow
from storage.repository import finish_call
from storage.timeline import CallTimeline, load_call_timeline

SUMMARY_VERSION = "1.0"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _seconds_between(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0)


def last_activity(timeline: CallTimeline) -> datetime:
    """When the stored data stops: the best end time for a call the bot never got to close."""
    call = timeline.call
    media_end = max(
        [o.t_end for obs in timeline.observations.values() for o in obs]
        + [p.t for points in timeline.fused.values() for p in points]
        + [0.0]
    )
    left = [p.last_left_at for p in timeline.participants if p.last_left_at is not None]
    return max([call.started_at + timedelta(seconds=media_end), *left])


def _participant_block(
    participant: ParticipantRow,
    call: CallRow,
    ended_at: datetime,
    timeline: Timeline,
    options: SummaryOptions,
) -> dict[str, Any]:
    # Presence is first join .. last leave (or call end); a rejoin keeps one row, so brief absences
    # in between count as present. A recording analysed faster than real time has more media time
    # than wall-clock time: presence is at least as long as the data we hold for the person.
    joined = max(participant.first_joined_at, call.started_at)
    wall_s = _seconds_between(joined, participant.last_left_at or ended_at)
    present_s = max(wall_s, timeline.media_end() - _seconds_between(call.started_at, joined))
    block = analyse(timeline, options)
    face_s = block["analysed_seconds"]["face"]
    return {
        "identity": participant.identity,
        "display_name": participant.display_name,
        "kind": participant.kind,
        "role": participant.role,
        "phone_number": participant.phone_number,
        "analysed": participant.analysed,
        "not_analysed_reason": participant.not_analysed_reason,
        "first_joined_at": _iso(participant.first_joined_at),
        "last_left_at": _iso(participant.last_left_at),
        "present_seconds": round(present_s, 2),
        "face_coverage": round(min(face_s / present_s, 1.0), 4)
        if participant.analysed and present_s > 0
        else None,
        **block,
        "negative_episodes": negative_episodes(participant.identity, timeline, options),
    }


def _overall_block(
    participants: list[dict[str, Any]], timelines: list[Timeline], options: SummaryOptions
) -> dict[str, Any]:
    block = analyse(Timeline.pool(timelines), options)
    # Analysed time adds up across people (two faces at once are two face-seconds), so sum the
    # per-participant figures instead of taking the union of pooled intervals.
    block["analysed_seconds"] = {
        modality: round(sum(p["analysed_seconds"][modality] for p in participants), 2)
        for modality in ("face", "voice")
    }
    present = sum(p["present_seconds"] for p in participants)
    block["face_coverage"] = (
        round(min(block["analysed_seconds"]["face"] / present, 1.0), 4) if present else None
    )
    episodes = [episode for p in participants for episode in p["negative_episodes"]]
    block["negative_episodes"] = strongest(episodes, options.max_episodes)
    return block


def build_summary(
    db: Database,
    call_id: str,
    *,
    partial: bool = False,
    ended_at: datetime | None = None,
    options: SummaryOptions | None = None,
    end_reason: str | None = None,
) -> dict[str, Any]:
    """The summary of one call from what is stored (observations, fused points, participants).

    `partial=True` marks a call the bot could not follow to the end (crash, DB outage). `ended_at`
    defaults to the stored end, else (partial) the last stored activity, else now.
    Raises storage.repository.CallNotFound.
    """
    options = options or SummaryOptions()
    data = load_call_timeline(db, call_id)
    call = data.call
    if ended_at is None:
        ended_at = call.ended_at or (last_activity(data) if partial else utcnow())
    if partial:
        status = "partial"
    else:
        status = "finished" if call.status == "active" else call.status

    participants: list[dict[str, Any]] = []
    analysed_timelines: list[Timeline] = []
    for participant in data.participants:
        # An excluded participant's emotions are never reported, even if rows were kept.
        stored = participant.analysed
        timeline = Timeline.of(
            data.observations.get(participant.identity, []) if stored else [],
            data.fused.get(participant.identity, []) if stored else [],
            options,
        )
        participants.append(_participant_block(participant, call, ended_at, timeline, options))
        if participant.analysed:
            analysed_timelines.append(timeline)

    return {
        "version": SUMMARY_VERSION,
        "call_id": call.id,
        "room": call.room,
        "source": call.source,
        "status": status,
        "partial": status == "partial",
        "started_at": _iso(call.started_at),
        "ended_at": _iso(ended_at),
        "duration_s": round(_seconds_between(call.started_at, ended_at), 2),
        "end_reason": end_reason,
        "metadata": call.metadata_,
        "generated_at": _iso(utcnow()),
        "labels": list(LABELS),
        "overall": _overall_block([p for p in participants if p["analysed"]], analysed_timelines, options),
        "participants": participants,
        "not_analysed": [
            {"identity": p["identity"], "display_name": p["display_name"], "reason": p["not_analysed_reason"]}
            for p in participants
            if not p["analysed"]
        ],
    }


def finalize_call(
    db: Database,
    call_id: str,
    *,
    partial: bool = False,
    ended_at: datetime | None = None,
    extra: Callable[[Session, dict[str, Any]], None] | None = None,
    end_reason: str | None = None,
) -> dict[str, Any]:
    """Build the summary, then close the call and store it in one transaction; returns the summary.

    `extra(session, summary)` runs inside that transaction (e.g. to enqueue the webhook delivery).
    For calls found by `find_unfinished_calls` after a crash, pass `partial=True`.
    """
    summary = build_summary(db, call_id, partial=partial, ended_at=ended_at, end_reason=end_reason)
    finish_call(
        db,
        call_id,
        status=summary["status"],
        ended_at=datetime.fromisoformat(summary["ended_at"]),
        summary=summary,
        extra=None if extra is None else (lambda session: extra(session, summary)),
    )
    return summary
