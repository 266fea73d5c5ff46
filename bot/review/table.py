"""A host review as CSV: one row per (call, participant) for spreadsheets and BI tools."""

from __future__ import annotations

import csv
from typing import IO

from bot.policy.decide import reason_text
from bot.review.data import HostReview
from emotion_models.labels import LABELS

CSV_COLUMNS = (
    "host",
    "call_id",
    "started_at",
    "duration_s",
    "deal_id",
    "ticket_id",
    "participant_identity",
    "participant_name",
    "role",
    "is_host",
    "analysed",
    "not_analysed_reason",
    "valence_mean",
    "valence_trend_per_min",
    "negative_share",
    *(f"share_{label}" for label in LABELS),
    "negative_episodes",
    "worst_episode_label",
    "worst_episode_start_s",
    "worst_episode_end_s",
    "alerts",
)


def write_host_csv(review: HostReview, out: IO[str]) -> int:
    """Write the CSV (header + rows); returns the number of data rows."""
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    count = 0
    for call in review.calls:
        for p in call.participants:
            worst = max(p.episodes, key=lambda e: float(e.get("strength", 0.0)), default={})
            shares = p.shares or {}
            writer.writerow(
                {
                    "host": review.host,
                    "call_id": call.call_id,
                    "started_at": call.started_at.isoformat(),
                    "duration_s": round(call.duration_s, 2),
                    "deal_id": call.metadata.get("deal_id", ""),
                    "ticket_id": call.metadata.get("ticket_id", ""),
                    "participant_identity": p.identity,
                    "participant_name": p.display_name or "",
                    "role": p.role or "",
                    "is_host": p.identity == call.host_identity,
                    "analysed": p.analysed,
                    "not_analysed_reason": reason_text(p.not_analysed_reason)
                    if p.not_analysed_reason
                    else "",
                    "valence_mean": "" if p.valence_mean is None else p.valence_mean,
                    "valence_trend_per_min": ""
                    if p.valence_trend_per_min is None
                    else p.valence_trend_per_min,
                    "negative_share": "" if p.negative_share is None else p.negative_share,
                    **{f"share_{label}": shares.get(label, "") for label in LABELS},
                    "negative_episodes": len(p.episodes),
                    "worst_episode_label": worst.get("label", ""),
                    "worst_episode_start_s": worst.get("start_s", ""),
                    "worst_episode_end_s": worst.get("end_s", ""),
                    "alerts": sum(
                        1 for a in call.alerts if a.get("participant", {}).get("identity") == p.identity
                    ),
                }
            )
            count += 1
    return count
