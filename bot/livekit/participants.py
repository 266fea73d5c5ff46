"""Who in a LiveKit room is analysed, and where a SIP caller's number is."""

from __future__ import annotations

from typing import Any, Literal

from livekit import rtc

AnalysedKind = Literal["standard", "sip"]

# Only people are analysed: other agents (including other copies of this bot), egress recorders,
# ingress streams and connectors are not someone whose emotion a CRM asked about.
_ANALYSED_KINDS: dict[int, AnalysedKind] = {
    rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD: "standard",
    rtc.ParticipantKind.PARTICIPANT_KIND_SIP: "sip",
}

# The caller's own number (LiveKit SIP participant attribute). Like every other attribute, identity
# and name, it is stored redacted under the phone-number policy (bot/policy/pii.py).
SIP_CALLER_NUMBER = "sip.phoneNumber"


def analysed_kind(participant: Any) -> AnalysedKind | None:
    """ "standard" or "sip" for a participant we analyse; None for agents and other non-humans."""
    return _ANALYSED_KINDS.get(int(participant.kind))
