"""The analysis policy: a frozen value built once from the environment (or by tests directly)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

AnalyseMode = Literal["all", "roles", "consent"]
ANALYSE_MODES: tuple[AnalyseMode, ...] = ("all", "roles", "consent")

# EU AI Act Art. 5(1)(f): no emotion inference on people at work or in education. These roles name
# such people; "host" is included because in this product the host is the teacher or the agent.
EU_PROTECTED_ROLES: frozenset[str] = frozenset({"staff", "agent", "employee", "teacher", "student", "host"})
EU_REFUSED_PURPOSES: frozenset[str] = frozenset({"workplace", "education"})

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


class PolicyConfigError(ValueError):
    """An environment setting the policy cannot use (unknown mode, empty role list, ...)."""


def is_true(value: str | None) -> bool:
    """Attribute/env truthiness: 1, true, yes, on (any case)."""
    return value is not None and value.strip().lower() in TRUE_WORDS


def _csv(value: str) -> frozenset[str]:
    return frozenset(part.strip().lower() for part in value.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class AnalysisPolicy:
    """Whom the bot may analyse, and what happens on opt-out.

    mode: "all" participants; only participants whose role is in `roles`; or only those whose
    `consent_attribute` is true. Whatever the mode, an opt-out (attribute or data message) wins, other
    agents are never analysed, and with jurisdiction "eu" the roles in EU_PROTECTED_ROLES never are.
    """

    mode: AnalyseMode = "all"
    roles: frozenset[str] = field(default_factory=lambda: frozenset({"customer"}))
    consent_attribute: str = "emotion.consent"
    opt_out_attribute: str = "emotion.opt_out"
    opt_out_topic: str = "emotion-bot.opt-out"
    role_attributes: tuple[str, ...] = ("emotion.role", "role")
    delete_on_opt_out: bool = True
    jurisdiction: str | None = None
    purpose: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in ANALYSE_MODES:
            raise PolicyConfigError(f"analyse mode must be one of {ANALYSE_MODES}, got {self.mode!r}")
        if self.mode == "roles" and not self.roles:
            raise PolicyConfigError("analyse mode 'roles' needs at least one role")

    @property
    def eu(self) -> bool:
        return (self.jurisdiction or "").lower() == "eu"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AnalysisPolicy:
        """Read EMOTION_BOT_ANALYSE, _ANALYSE_ROLES, _CONSENT_ATTRIBUTE, _OPT_OUT_ATTRIBUTE,
        _OPT_OUT_TOPIC, _DELETE_ON_OPT_OUT, _JURISDICTION and _PURPOSE (all optional)."""
        source = os.environ if env is None else env
        defaults = cls()

        def get(name: str, default: str) -> str:
            return source.get(f"EMOTION_BOT_{name}", "").strip() or default

        delete = source.get("EMOTION_BOT_DELETE_ON_OPT_OUT")
        return cls(
            mode=cast(AnalyseMode, get("ANALYSE", defaults.mode).lower()),  # checked in __post_init__
            roles=_csv(get("ANALYSE_ROLES", ",".join(sorted(defaults.roles)))),
            consent_attribute=get("CONSENT_ATTRIBUTE", defaults.consent_attribute),
            opt_out_attribute=get("OPT_OUT_ATTRIBUTE", defaults.opt_out_attribute),
            opt_out_topic=get("OPT_OUT_TOPIC", defaults.opt_out_topic),
            delete_on_opt_out=defaults.delete_on_opt_out if delete is None else is_true(delete),
            jurisdiction=get("JURISDICTION", "").lower() or None,
            purpose=get("PURPOSE", "").lower() or None,
        )
