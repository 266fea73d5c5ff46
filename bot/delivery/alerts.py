"""Live alerts: rules evaluated on each participant's fused timeline while the call runs.

`AlertEngine.on_point` is a `CallSession.add_listener` callback. A rule reports an *episode* (e.g.
angry for 10 s); the engine fires once per episode, re-arms only after the condition has cleared,
and waits `cooldown_s` between two alerts of the same rule and participant. Each alert is stored in
`call_alerts` and queued as a `call.alert` webhook in one transaction, off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from bot.delivery.outbox import ALERT_EVENT, enqueue, resolve_url
from emotion_models.labels import LABEL_INDEX
from storage.db import Database
from storage.models import utcnow
from storage.outbox_models import CallAlertRow
from storage.records import FusedPoint

log = logging.getLogger(__name__)

RULES_ENV = "EMOTION_BOT_ALERT_RULES"
ALERT_VERSION = "1.0"  # of the `call.alert` data (bot/schemas/webhook.schema.json)


@dataclass(frozen=True, slots=True)
class Episode:
    """What a rule saw: when the episode began, its value, and a sentence for humans."""

    t_start: float
    value: float
    description: str


class Rule(Protocol):
    name: str
    roles: frozenset[str] | None  # None: every analysed participant
    cooldown_s: float

    def update(self, point: FusedPoint) -> Episode | None:
        """Feed one point; return the episode while the condition holds, None once it does not."""


@dataclass
class SustainedEmotion:
    """`label` is the top label (with at least `min_probability`) for `min_duration_s` without a break.

    Points further apart than `max_gap_s` break the run: a participant who left the camera for a minute
    was not angry for that minute.
    """

    label: str
    min_duration_s: float = 10.0
    min_probability: float = 0.5
    max_gap_s: float = 3.0
    roles: frozenset[str] | None = None
    cooldown_s: float = 60.0
    name: str = ""
    _run_start: float | None = field(default=None, repr=False)
    _last_t: float | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.label not in LABEL_INDEX:
            raise ValueError(f"unknown emotion label {self.label!r}")
        self.name = self.name or f"{self.label}_for_{self.min_duration_s:g}s"

    def update(self, point: FusedPoint) -> Episode | None:
        holds = (
            point.top_label == self.label
            and point.probabilities[LABEL_INDEX[self.label]] >= self.min_probability
        )
        gap = self._last_t is not None and point.t - self._last_t > self.max_gap_s
        self._last_t = point.t
        if not holds:
            self._run_start = None
            return None
        if self._run_start is None or gap:
            self._run_start = point.t
        duration = point.t - self._run_start
        if duration < self.min_duration_s:
            return None
        return Episode(self._run_start, round(duration, 2), f"{self.label} for {duration:.0f} s")


@dataclass
class ValenceDrop:
    """Valence fell by at least `drop` (on the -1..1 scale) within the last `window_s` seconds."""

    drop: float = 0.5
    window_s: float = 30.0
    roles: frozenset[str] | None = None
    cooldown_s: float = 120.0
    name: str = ""
    _window: deque[tuple[float, float]] = field(default_factory=deque, repr=False)

    def __post_init__(self) -> None:
        self.name = self.name or f"valence_drop_{self.drop:g}_in_{self.window_s:g}s"

    def update(self, point: FusedPoint) -> Episode | None:
        self._window.append((point.t, point.valence))
        while self._window and point.t - self._window[0][0] > self.window_s:
            self._window.popleft()
        peak_t, peak = max(self._window, key=lambda item: item[1])
        fall = peak - point.valence
        if fall < self.drop:
            return None
        return Episode(
            peak_t, round(fall, 3), f"valence fell {fall:.2f} ({peak:+.2f} -> {point.valence:+.2f})"
        )


def rules_from_env(env: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """EMOTION_BOT_ALERT_RULES: a JSON list of rule specs, or "off"; unset means the default rules.

    The default: anyone angry for 10 s; anyone whose valence falls by 0.5 within 30 s. `roles` limits a
    rule to participants with those roles, e.g.
    [{"type": "sustained", "label": "angry", "min_duration_s": 10},
     {"type": "valence_drop", "drop": 0.5, "window_s": 30, "roles": ["customer", "caller"]}]
    """
    raw = (os.environ if env is None else env).get(RULES_ENV, "").strip()
    if not raw:
        return [{"type": "sustained", "label": "angry"}, {"type": "valence_drop"}]
    if raw.lower() == "off":
        return []
    try:
        specs = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{RULES_ENV} is not JSON: {exc}") from exc
    if not isinstance(specs, list) or not all(isinstance(s, dict) and "type" in s for s in specs):
        raise ValueError(f"{RULES_ENV} must be a JSON list of objects with a 'type'")
    for spec in specs:
        build_rule(spec)  # fail at start-up, not mid-call
    return specs


def build_rule(spec: Mapping[str, Any]) -> Rule:
    """One fresh rule (rules keep per-participant state, so each participant gets its own)."""
    kinds: dict[str, type[SustainedEmotion] | type[ValenceDrop]] = {
        "sustained": SustainedEmotion,
        "valence_drop": ValenceDrop,
    }
    options = {key: value for key, value in spec.items() if key != "type"}
    if "roles" in options:
        options["roles"] = (
            None if options["roles"] is None else frozenset(r.lower() for r in options["roles"])
        )
    try:
        return kinds[spec["type"]](**options)
    except KeyError as exc:
        raise ValueError(f"unknown alert rule type {spec['type']!r}; known: {sorted(kinds)}") from exc
    except TypeError as exc:
        raise ValueError(f"bad options for alert rule {spec['type']!r}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Alert:
    rule: str
    identity: str
    episode: Episode
    t_detected: float


@dataclass
class _Armed:
    rule: Rule
    armed: bool = True
    last_fired_t: float | None = None


class AlertEngine:
    """Evaluates rules per participant and hands each alert to `on_alert` (sync, on the event loop)."""

    def __init__(self, rule_specs: list[dict[str, Any]], on_alert: Callable[[Alert], None]) -> None:
        self._specs = rule_specs
        self._on_alert = on_alert
        self._state: dict[str, list[_Armed]] = {}
        self._roles: dict[str, str | None] = {}

    def set_role(self, identity: str, role: str | None) -> None:
        """Tell the engine a participant's role (rules may be limited to some roles)."""
        self._roles[identity] = role.lower() if role else None

    def forget(self, identity: str) -> None:
        """Drop a participant's state (they opted out)."""
        self._state.pop(identity, None)

    def on_point(self, point: FusedPoint) -> None:
        identity = point.participant_identity
        states = self._state.get(identity)
        if states is None:
            states = self._state[identity] = [_Armed(build_rule(spec)) for spec in self._specs]
        role = self._roles.get(identity)
        for state in states:
            rule = state.rule
            if rule.roles is not None and role not in rule.roles:
                continue
            episode = rule.update(point)
            if episode is None:
                state.armed = True  # the episode is over: the next one may fire
                continue
            cooling = state.last_fired_t is not None and point.t - state.last_fired_t < rule.cooldown_s
            if not state.armed or cooling:
                continue
            state.armed = False
            state.last_fired_t = point.t
            self._on_alert(Alert(rule.name, identity, episode, point.t))


def alert_payload(
    alert: Alert, *, call_id: str, room: str, metadata: Mapping[str, Any], role: str | None
) -> dict[str, Any]:
    """The `data` of a `call.alert` webhook: what happened, to whom, in which CRM record."""
    return {
        "version": ALERT_VERSION,
        "call_id": call_id,
        "room": room,
        "metadata": {key: value for key, value in metadata.items() if key != "webhook_url"},
        "rule": alert.rule,
        "participant": {"identity": alert.identity, "role": role},
        "start_s": round(alert.episode.t_start, 2),
        "detected_s": round(alert.t_detected, 2),
        "value": alert.episode.value,
        "description": f"{alert.identity}: {alert.episode.description}",
        "detected_at": utcnow().isoformat().replace("+00:00", "Z"),
    }


def store_alert(session: Session, payload: Mapping[str, Any], url: str | None) -> CallAlertRow:
    """Record the alert and (when an endpoint is known) queue its webhook, in one transaction."""
    row = CallAlertRow(
        call_id=payload["call_id"],
        participant_identity=payload["participant"]["identity"],
        rule=payload["rule"],
        t_start=payload["start_s"],
        t_detected=payload["detected_s"],
        payload=dict(payload),
    )
    session.add(row)
    if url is not None:
        enqueue(session, event_type=ALERT_EVENT, data=payload, url=url, call_id=payload["call_id"])
    return row


class CallSessionLike(Protocol):
    """What `LiveAlerts.attach` needs of bot.pipeline.session.CallSession."""

    call_id: str
    room: str
    metadata: dict[str, Any]

    def add_listener(self, callback: Callable[[FusedPoint], None]) -> None: ...

    def role_of(self, identity: str) -> str | None: ...


class LiveAlerts:
    """Glue for one call: an AlertEngine whose alerts are stored and queued without blocking the loop.

    `attach(session)` registers it as the CallSession's listener; `wake` (e.g. Deliverer.wake) is
    called after each alert is committed so it goes out at once.
    """

    def __init__(
        self,
        db: Database,
        *,
        call_id: str,
        room: str,
        metadata: Mapping[str, Any],
        url: str | None,
        rule_specs: list[dict[str, Any]],
        wake: Callable[[], None] | None = None,
        role_of: Callable[[str], str | None] | None = None,
    ) -> None:
        self._db = db
        # Roles come from the call's participant lifecycle (host, caller, agent, attribute roles):
        # asked for each point, so a role given or changed mid-call applies from then on.
        self._role_of = role_of
        self._call = {"call_id": call_id, "room": room, "metadata": dict(metadata)}
        self._url = url
        self._wake = wake
        self._roles: dict[str, str | None] = {}
        self.engine = AlertEngine(rule_specs, self._fire)
        self._tasks: set[asyncio.Task[None]] = set()

    def set_role(self, identity: str, role: str | None) -> None:
        self._roles[identity] = role
        self.engine.set_role(identity, role)

    def on_point(self, point: FusedPoint) -> None:
        if self._role_of is not None:
            self.set_role(point.participant_identity, self._role_of(point.participant_identity))
        self.engine.on_point(point)

    def _fire(self, alert: Alert) -> None:
        payload = alert_payload(alert, role=self._roles.get(alert.identity), **self._call)
        log.info("call %s alert %s: %s", payload["call_id"], alert.rule, payload["description"])
        task = asyncio.get_running_loop().create_task(self._store(payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _store(self, payload: dict[str, Any]) -> None:
        def write() -> None:
            with self._db.session() as session:
                store_alert(session, payload, self._url)

        try:
            await asyncio.to_thread(write)
        except Exception:
            log.exception("call %s: could not store alert %s", payload["call_id"], payload["rule"])
            return
        if self._wake is not None:
            self._wake()

    @classmethod
    def attach(
        cls,
        session: CallSessionLike,
        db: Database,
        *,
        default_url: str | None,
        wake: Callable[[], None] | None = None,
    ) -> LiveAlerts:
        """Alerts for a running CallSession with the rules from EMOTION_BOT_ALERT_RULES, registered as
        its fused-point listener. Alerts go to the call's webhook URL (metadata, else `default_url`).

        Invalid rules are logged and no alerts run: a configuration typo must not cost the call."""
        try:
            rule_specs = rules_from_env()
        except ValueError as exc:
            log.error("call %s: live alerts off: %s", session.call_id, exc)
            rule_specs = []
        alerts = cls(
            db,
            call_id=session.call_id,
            room=session.room,
            metadata=session.metadata,
            url=resolve_url(session.metadata, default_url),
            rule_specs=rule_specs,
            wake=wake,
            role_of=session.role_of,
        )
        session.add_listener(alerts.on_point)
        return alerts

    async def drain(self) -> None:
        """Wait for alerts still being written (call before finishing the call)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
