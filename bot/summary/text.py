"""A readable rendering of a summary for the terminal (`emotion-bot analyze`, `report`, `demo`)."""

from __future__ import annotations

from typing import Any


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes:d}:{secs:02d}"


def _shares_line(shares: dict[str, float] | None, top: int = 3) -> str:
    if not shares:
        return "-"
    ranked = sorted(shares.items(), key=lambda kv: -kv[1])[:top]
    return ", ".join(f"{label} {share:.0%}" for label, share in ranked if share > 0) or "-"


def _valence_line(valence: dict[str, Any]) -> str:
    if valence["mean"] is None:
        return "-"
    line = f"{valence['mean']:+.2f}"
    if valence["trend"] is not None:
        line += f", {valence['trend']} ({valence['trend_per_min']:+.3f}/min)"
    return line


def _analysis_lines(block: dict[str, Any], indent: str) -> list[str]:
    seconds = block["analysed_seconds"]
    coverage = block.get("face_coverage")
    dominant = block["dominant_emotion"]
    lines = [
        f"{indent}analysed: face {_clock(seconds['face'])}, speech {_clock(seconds['voice'])}"
        + (f", face coverage {coverage:.0%}" if coverage is not None else ""),
        f"{indent}dominant: {dominant['overall'] or '-'}"
        f"  (face {dominant['face'] or '-'}, voice {dominant['voice'] or '-'})",
    ]
    for modality in ("fused", "face", "voice"):
        shares = block["emotion_shares"][modality]
        if shares:
            lines.append(f"{indent}{modality:<6} {_shares_line(shares)}")
    lines.append(f"{indent}valence: {_valence_line(block['valence'])}")
    for episode in block["negative_episodes"]:
        lines.append(
            f"{indent}! {episode['label']} {_clock(episode['start_s'])}-{_clock(episode['end_s'])}"
            f" (peak {episode['peak']:.0%} at {_clock(episode['peak_s'])}, {episode['identity']})"
        )
    return lines


def format_summary_text(summary: dict[str, Any]) -> str:
    """Multi-line plain text: the call, the whole-call picture, then each participant."""
    status = summary["status"] + (
        " (PARTIAL: the bot did not see the whole call)" if summary["partial"] else ""
    )
    lines = [
        f"call {summary['call_id']}  room {summary['room']}  source {summary['source']}",
        f"{summary['started_at']} .. {summary['ended_at']}"
        f"  ({_clock(summary['duration_s'])})  status {status}",
    ]
    if summary["metadata"]:
        lines.append("metadata: " + ", ".join(f"{k}={v}" for k, v in sorted(summary["metadata"].items())))
    lines.append("")
    lines.append("whole call")
    lines.extend(_analysis_lines(summary["overall"], "  "))
    for participant in summary["participants"]:
        name = participant["display_name"] or participant["identity"]
        details = ", ".join(
            part for part in (participant["kind"], participant["role"], participant["phone_number"]) if part
        )
        lines.append("")
        lines.append(f"{name} [{participant['identity']}] ({details})")
        if not participant["analysed"]:
            lines.append(f"  not analysed: {participant['not_analysed_reason'] or 'no reason given'}")
            continue
        lines.extend(_analysis_lines(participant, "  "))
    return "\n".join(lines)
