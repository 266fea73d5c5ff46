"""Pure decisions: may this participant be analysed, may this deployment run at all.

The LiveKit room handler calls `decide` when a participant joins and again whenever its attributes
change; `opt_out_requested` tells it whether a data message is an opt-out. No I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.policy.config import EU_PROTECTED_ROLES, EU_REFUSED_PURPOSES, AnalysisPolicy, is_true

# Reason codes stored in participants.not_analysed_reason and shown in summaries and reports.
OPTED_OUT = "opted_out"
NO_CONSENT = "no_consent"
ROLE_NOT_ANALYSED = "role_not_analysed"
EU_PROTECTED_ROLE = "eu_ai_act_protected_role"
AGENT = "agent"

REASON_TEXT: dict[str, str] = {
    OPTED_OUT: "the participant opted out",
    NO_CONSENT: "no consent given",
    ROLE_NOT_ANALYSED: "the policy does not analyse this role",
    EU_PROTECTED_ROLE: "EU AI Act Art. 5(1)(f): no emotion inference at work or in education",
    AGENT: "another bot/agent",
}

# LiveKit chat: text streams on "lk.chat" (current components), data packets on "lk-chat-topic" (legacy).
CHAT_TOPICS = frozenset({"lk.chat", "lk-chat-topic"})
CHAT_OPT_OUT_PHRASES = frozenset({"opt out", "opt-out", "optout", "/opt-out"})


class DeploymentRefused(RuntimeError):
    """This deployment's purpose is unlawful in its jurisdiction; the bot must not start."""


@dataclass(frozen=True, slots=True)
class ParticipantInfo:
    """What the policy needs to know about a participant (built by the room handler)."""

    identity: str
    kind: str = "standard"  # standard | sip | agent | ingress | egress
    attributes: Mapping[str, str] = field(default_factory=dict)
    role: str | None = None  # explicit role (e.g. "host" from dispatch metadata); else from attributes
    opted_out: bool = False  # set once an opt-out data message arrived: it is not undone by attributes


@dataclass(frozen=True, slots=True)
class Decision:
    analyse: bool
    reason: str | None = None  # a reason code from REASON_TEXT when analyse is False

    @property
    def text(self) -> str | None:
        return None if self.reason is None else reason_text(self.reason)


def reason_text(reason: str) -> str:
    """A stored reason code ("role_not_analysed:agent") as a sentence; unknown reasons as they are."""
    code, _, detail = reason.partition(":")
    text = REASON_TEXT.get(code)
    if text is None:
        return reason
    return f"{text} ({detail})" if detail else text


def role_of(info: ParticipantInfo, policy: AnalysisPolicy) -> str | None:
    """Explicit role first, then the first role attribute present (lower-cased)."""
    if info.role:
        return info.role.strip().lower()
    for name in policy.role_attributes:
        value = info.attributes.get(name)
        if value and value.strip():
            return value.strip().lower()
    return None


def decide(info: ParticipantInfo, policy: AnalysisPolicy) -> Decision:
    """Whether to analyse `info` now. Order matters: refusals that no consent can lift come first."""
    if info.kind == "agent":
        return Decision(False, AGENT)
    if info.opted_out or is_true(info.attributes.get(policy.opt_out_attribute)):
        return Decision(False, OPTED_OUT)
    role = role_of(info, policy)
    if policy.eu and role in EU_PROTECTED_ROLES:
        return Decision(False, f"{EU_PROTECTED_ROLE}:{role}")
    if policy.mode == "roles" and role not in policy.roles:
        return Decision(False, f"{ROLE_NOT_ANALYSED}:{role or 'none'}")
    if policy.mode == "consent" and not is_true(info.attributes.get(policy.consent_attribute)):
        return Decision(False, NO_CONSENT)
    return Decision(True)


def check_deployment(policy: AnalysisPolicy) -> None:
    """Raise DeploymentRefused when the configured purpose is prohibited in the jurisdiction."""
    if policy.eu and policy.purpose in EU_REFUSED_PURPOSES:
        raise DeploymentRefused(
            f"EMOTION_BOT_PURPOSE={policy.purpose} with EMOTION_BOT_JURISDICTION=eu: emotion inference "
            "in the workplace or in education is prohibited by EU AI Act Art. 5(1)(f)"
        )


def opt_out_requested(topic: str | None, payload: bytes, policy: AnalysisPolicy) -> bool:
    """Is this data message an opt-out by its sender?

    Any message on the opt-out topic counts unless its JSON body says {"opt_out": false}; on the chat
    topic, a message whose text is "opt out" counts (as in Read.ai), so people can opt out by typing.
    """
    if topic == policy.opt_out_topic:
        try:
            body = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            return True
        return not (isinstance(body, dict) and body.get("opt_out") is False)
    if topic in CHAT_TOPICS:
        try:
            body = json.loads(payload)
            text = body.get("message", "") if isinstance(body, dict) else str(body)
        except (ValueError, UnicodeDecodeError):
            text = payload.decode("utf-8", errors="replace")
        return text.strip().lower() in CHAT_OPT_OUT_PHRASES
    return False
