"""Delivery settings, from the environment."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.delivery.schedule import DEFAULT_SCHEDULE_S, parse_duration, parse_schedule
from bot.delivery.signing import active_secrets

URL_ENV = "EMOTION_BOT_WEBHOOK_URL"


@dataclass(frozen=True)  # no slots: from_env reads the defaults off the class
class DeliveryConfig:
    """How the deliverer sends.

    `default_url` is used for calls whose dispatch metadata names no `webhook_url`. The lease must be
    longer than the HTTP timeout: a sender that dies mid-request frees its rows when the lease ends.
    """

    secrets: tuple[str, ...]
    default_url: str | None = None
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE_S
    timeout_s: float = 10.0
    lease_s: float = 60.0
    batch_size: int = 20
    poll_interval_s: float = 2.0
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

    def __post_init__(self) -> None:
        if self.lease_s <= self.timeout_s:
            raise ValueError("the webhook lease must be longer than the HTTP timeout")
        if not self.secrets:
            raise ValueError(
                "no webhook secret: set EMOTION_BOT_WEBHOOK_SECRET (see `emotion-bot webhooks secret`)"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DeliveryConfig:
        """EMOTION_BOT_WEBHOOK_{SECRET,SECRET_PREVIOUS,URL,RETRY_SCHEDULE,TIMEOUT,LEASE,POLL_INTERVAL}."""
        source = os.environ if env is None else env

        def duration(name: str, default: float) -> float:
            raw = source.get(f"EMOTION_BOT_WEBHOOK_{name}", "").strip()
            return parse_duration(raw) if raw else default

        schedule = source.get("EMOTION_BOT_WEBHOOK_RETRY_SCHEDULE", "").strip()
        return cls(
            secrets=tuple(active_secrets(source)),
            default_url=source.get(URL_ENV, "").strip() or None,
            schedule=parse_schedule(schedule) if schedule else DEFAULT_SCHEDULE_S,
            timeout_s=duration("TIMEOUT", cls.timeout_s),
            lease_s=duration("LEASE", cls.lease_s),
            poll_interval_s=duration("POLL_INTERVAL", cls.poll_interval_s),
        )
