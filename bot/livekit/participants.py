"""Who in a room is analysed, and how a phone caller's number is stored."""

from __future__ import annotations

from typing import Any, Literal

from livekit import rtc

AnalysedKind = Literal["standard", "sip"]
PhoneNumberPolicy = Literal["masked", "full", "none"]

# Only people are analysed: other agents (including other copies of this bot), egress recorders,
# ingress streams and connectors are not someone whose emotion a CRM asked about.
_ANALYSED_KINDS: dict[int, AnalysedKind] = {
    rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD: "standard",
    rtc.ParticipantKind.PARTICIPANT_KIND_SIP: "sip",
}

SIP_PHONE_ATTRIBUTES = ("sip.phoneNumber", "sip.trunkPhoneNumber")


def analysed_kind(participant: Any) -> AnalysedKind | None:
    """ "standard" or "sip" for a participant we analyse; None for agents and other non-humans."""
    return _ANALYSED_KINDS.get(int(participant.kind))


def mask_phone_number(number: str) -> str:
    """Keep the country/area prefix and the last two digits: "+491512345689" -> "+4915******89".

    Enough for a supervisor to tell two callers apart, not enough to call them back. Numbers too
    short to keep a prefix keep only their last two digits.
    """
    digits = [i for i, ch in enumerate(number) if ch.isdigit()]
    if len(digits) <= 2:
        return "*" * len(number)
    keep_head = 4 if len(digits) >= 10 else 0
    shown = set(digits[:keep_head]) | set(digits[-2:])
    return "".join(ch if (i in shown or not ch.isdigit()) else "*" for i, ch in enumerate(number))


def apply_phone_policy(number: str | None, policy: PhoneNumberPolicy) -> str | None:
    """The phone number as it may be stored under `policy` (None: not stored at all)."""
    if not number or policy == "none":
        return None
    return number if policy == "full" else mask_phone_number(number)


def stored_attributes(attributes: dict[str, str], policy: PhoneNumberPolicy) -> dict[str, str]:
    """Participant attributes with the SIP phone numbers rewritten under `policy`.

    Attributes are stored with the participant, so the number must not slip in through them.
    """
    result: dict[str, str] = {}
    for key, value in attributes.items():
        if key in SIP_PHONE_ATTRIBUTES:
            stored = apply_phone_policy(value, policy)
            if stored is not None:
                result[key] = stored
        else:
            result[key] = value
    return result
