"""The participant lifecycle of a call, the same for every platform.

A source adapter (LiveKit room, Zoom stream, Twilio call) translates its platform's events into
`join`, `update`, `leave` and `opt_out` and asks `analyser_for()` where a participant's media goes.
This class owns what is not specific to a platform: who is present, the policy decision (consent,
roles, opt-out) on first media and on every change, the participant's role (host from the call's
metadata, the platform's own role, a role attribute, "caller" for a phone caller), one analyser per
identity (a rejoin continues the same participant record), and when the call is over (nobody left
for a grace period, nobody ever came, or the adapter says so).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

from bot.policy.config import AnalysisPolicy
from bot.policy.decide import OPTED_OUT, Decision, ParticipantInfo, decide, role_of

logger = logging.getLogger(__name__)

PersonKind = Literal["standard", "sip"]


class CallEnd(StrEnum):
    """Why the analysis of a call stopped."""

    LAST_PARTICIPANT_LEFT = "last_participant_left"
    NOBODY_JOINED = "nobody_joined"
    ROOM_CLOSED = "room_closed"
    SHUTDOWN = "shutdown"
    STREAM_STOPPED = "stream_stopped"  # the platform ended the media stream (Zoom rtms_stopped, Twilio stop)
    CONNECTION_LOST = "connection_lost"  # the platform's sockets stayed away beyond the reconnect window


@dataclass(frozen=True, slots=True)
class Person:
    """What a platform tells us about a participant, as it told us (the session redacts it)."""

    identity: str
    name: str | None = None
    kind: PersonKind = "standard"  # "sip": a phone caller, analysed from the voice only
    role: str | None = None  # a role the platform states (Zoom host, Twilio caller/agent)
    attributes: Mapping[str, str] = field(default_factory=dict)
    phone_number: str | None = None


@dataclass(frozen=True, slots=True)
class LifecycleOptions:
    empty_grace_s: float = 20.0  # no participant left for this long: the call is over
    no_show_timeout_s: float = 300.0  # nobody came this long after the bot arrived: give up
    host_identity: str | None = None  # from the call's metadata: that participant's role is "host"
    policy: AnalysisPolicy = field(default_factory=AnalysisPolicy)


class Analyser(Protocol):
    def push_video(self, rgb: Any, t: float) -> bool: ...
    def push_audio(self, pcm: Any, t: float) -> None: ...


class Session(Protocol):
    """The part of `bot.pipeline.session.CallSession` the lifecycle talks to."""

    def participant(
        self,
        identity: str,
        *,
        display_name: str | None = ...,
        kind: str = ...,
        role: str | None = ...,
        phone_number: str | None = ...,
        attributes: dict[str, str] | None = ...,
    ) -> Analyser: ...

    async def participant_left(self, identity: str) -> None: ...

    async def exclude_participant(self, identity: str, reason: str, delete_stored: bool = False) -> None: ...

    def stored_identity(self, identity: str) -> str: ...


class ParticipantLifecycle:
    """See the module docstring. `start()`, then events, then `await wait_for_end()`, `await aclose()`.

    Call every method from the event loop, one event at a time, in the order the platform sent them.
    `on_excluded(identity)` lets the adapter stop reading that participant's media.
    """

    def __init__(
        self,
        session: Session,
        options: LifecycleOptions | None = None,
        *,
        on_excluded: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._session = session
        self._options = options or LifecycleOptions()
        self._on_excluded = on_excluded
        self._people: dict[str, Person] = {}
        self._present: set[str] = set()
        self._analysers: dict[str, Analyser] = {}
        self._joins: dict[str, int] = {}
        self._excluded: dict[str, str] = {}  # identity -> policy reason code
        self._opted_out: set[str] = set()
        self._anyone_joined = False
        self._end: asyncio.Future[CallEnd] | None = None
        self._timer: asyncio.TimerHandle | None = None

    # -- the call --------------------------------------------------------------------------------

    def start(self) -> None:
        """Begin waiting for participants (the no-show timer starts now)."""
        self._end = asyncio.get_running_loop().create_future()
        self._check_empty()

    async def wait_for_end(self) -> CallEnd:
        """Wait until the call is over (or `request_end()` was called) and say why."""
        assert self._end is not None, "start() first"
        return await asyncio.shield(self._end)

    def request_end(self, reason: CallEnd = CallEnd.SHUTDOWN) -> None:
        """End the call now. The first reason given wins."""
        if self._end is not None and not self._end.done():
            self._end.set_result(reason)

    @property
    def end_reason(self) -> CallEnd | None:
        return self._end.result() if self._end is not None and self._end.done() else None

    async def aclose(self) -> None:
        """Mark everyone still present as left (their queued analysis is finished)."""
        self._cancel_timer()
        for identity in sorted(self._present & set(self._analysers)):
            await self._leave(identity)
        self._present.clear()

    # -- participants ----------------------------------------------------------------------------

    async def join(self, person: Person) -> None:
        """`person` is in the call (again); their details replace what was known."""
        self._people[person.identity] = person
        self._present.add(person.identity)
        self._anyone_joined = True
        self._cancel_timer()

    async def update(self, person: Person) -> None:
        """Attributes or role changed: decide again (an exclusion is final for the call)."""
        if person.identity not in self._present:
            return
        self._people[person.identity] = person
        if person.identity in self._excluded:
            return
        decision = self._decide(person)
        if not decision.analyse:
            await self._exclude(person.identity, decision)
        elif person.identity in self._analysers:
            self._analysers[person.identity] = self._register(person)  # new name/role/attributes stored

    async def analyser_for(self, identity: str) -> Analyser | None:
        """Where `identity`'s media goes, deciding on first use; None while they may not be analysed
        (excluded, or not joined)."""
        analyser = self._analysers.get(identity)
        if analyser is not None or identity in self._excluded:
            return analyser
        person = self._people.get(identity)
        if person is None or identity not in self._present:
            return None
        decision = self._decide(person)
        if not decision.analyse:
            await self._exclude(identity, decision)
            return None
        analyser = self._analysers[identity] = self._register(person)
        self._joins[identity] = self._joins.get(identity, 0) + 1
        return analyser

    def analyser(self, identity: str) -> Analyser | None:
        """The analyser already admitted for `identity` (None: not (yet) analysed). Never blocks."""
        return self._analysers.get(identity)

    async def leave(self, identity: str) -> None:
        """`identity` left; a rejoin with the same identity continues the same participant record."""
        if identity not in self._present:
            return
        self._present.discard(identity)
        if identity in self._analysers:
            await self._leave(identity)
        self._check_empty()

    async def opt_out(self, identity: str) -> None:
        """The participant asked not to be analysed (chat, data message, platform button)."""
        self._opted_out.add(identity)
        await self._exclude(identity, Decision(False, OPTED_OUT))

    def is_present(self, identity: str) -> bool:
        return identity in self._present

    def is_excluded(self, identity: str) -> bool:
        return identity in self._excluded

    def joins(self, identity: str) -> int:
        """How often `identity` was admitted to analysis (a rejoin counts again)."""
        return self._joins.get(identity, 0)

    def role(self, person: Person) -> str:
        """The role stored and used by alert rules: host, the platform's, a role attribute, or the
        kind's default ("caller" for a phone caller, else "participant")."""
        return role_of(self._info(person), self._options.policy) or (
            "caller" if person.kind == "sip" else "participant"
        )

    # -- helpers ---------------------------------------------------------------------------------

    def _info(self, person: Person) -> ParticipantInfo:
        host = self._options.host_identity
        return ParticipantInfo(
            identity=person.identity,
            kind=person.kind,
            attributes=dict(person.attributes),
            role="host" if host and person.identity == host else person.role,
            opted_out=person.identity in self._opted_out,
        )

    def _decide(self, person: Person) -> Decision:
        return decide(self._info(person), self._options.policy)

    def _register(self, person: Person) -> Analyser:
        return self._session.participant(
            person.identity,
            display_name=person.name or None,
            kind=person.kind,
            role=self.role(person),
            phone_number=person.phone_number if person.kind == "sip" else None,
            attributes=dict(person.attributes),
        )

    async def _exclude(self, identity: str, decision: Decision) -> None:
        if identity in self._excluded:
            return
        reason = decision.reason or "excluded"
        self._excluded[identity] = reason
        self._analysers.pop(identity, None)
        if self._on_excluded is not None:
            await self._on_excluded(identity)
        delete = reason == OPTED_OUT and self._options.policy.delete_on_opt_out
        logger.info("not analysing %s: %s", self._session.stored_identity(identity), decision.text)
        await self._session.exclude_participant(identity, reason, delete_stored=delete)

    async def _leave(self, identity: str) -> None:
        # The analyser is forgotten so that a rejoin asks the session again: the session continues
        # the same participant record for the same identity.
        self._analysers.pop(identity, None)
        await self._session.participant_left(identity)

    def _check_empty(self) -> None:
        if self._present or self._timer is not None or self._end is None or self._end.done():
            return
        if self._anyone_joined:
            delay, reason = self._options.empty_grace_s, CallEnd.LAST_PARTICIPANT_LEFT
        else:
            delay, reason = self._options.no_show_timeout_s, CallEnd.NOBODY_JOINED
        logger.info("no participant in the call; ending in %.0f s unless someone joins", delay)
        self._timer = asyncio.get_running_loop().call_later(delay, self.request_end, reason)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
