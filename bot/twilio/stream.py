"""One Twilio Media Stream (one WebSocket): Twilio's messages translated into the shared call lifecycle.

`start` opens the call (`CallRunner`, source "twilio") and joins one participant per announced
track: `inbound` is the caller (a phone caller, role "caller", the number from the `caller_number`
parameter), `outbound` the agent (role "agent"; named by the `host_identity` parameter when given,
so per-host reports find the call). Media is placed on the timeline by its `timestamp`
(`timeline.py`) and pushed to the participant's analyser. `stop`, the socket closing, a silent
client or the server shutting down end the call through `CallRunner.finish`, exactly once.

Bad input never ends another call and rarely this one: malformed messages are counted and skipped;
only what makes the stream unusable (no `start` in time, a `start` we cannot use, an oversized frame,
a client that answers no ping) closes the socket, with a close reason saying why.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMsgType, web

from bot.calls.lifecycle import CallEnd, LifecycleOptions, Person
from bot.calls.runner import CallRunner
from bot.twilio import messages
from bot.twilio.call_params import parse_parameters
from bot.twilio.timeline import TrackTimeline

if TYPE_CHECKING:
    from bot.gateway.server import GatewayContext

logger = logging.getLogger(__name__)

SOURCE = "twilio"
CALLER, AGENT = "caller", "agent"
# Close codes: 1000 normal, 1001 going away (shutdown), 1003 unsupported data (media format),
# 1008 policy (protocol misuse, timeouts), 1009 too big (aiohttp closes with it itself).
CLOSE_UNSUPPORTED = WSCloseCode.UNSUPPORTED_DATA
CLOSE_POLICY = WSCloseCode.POLICY_VIOLATION


@dataclass(frozen=True, slots=True)
class StreamOptions:
    start_timeout_s: float = 5.0  # Twilio sends `connected` and `start` at once: a silent socket is not it
    idle_timeout_s: float = 30.0  # Twilio sends media continuously (silence too) while the call runs
    heartbeat_s: float = 10.0  # ping interval: a client that stops reading answers none, closed ~1.5x later
    log_bad_every: int = 1000  # a bad message kind is logged the first time, then every N


class TwilioStream:
    def __init__(
        self, ctx: GatewayContext, ws: web.WebSocketResponse, options: StreamOptions, totals: Counter[str]
    ) -> None:
        self.ctx = ctx
        self.ws = ws
        self.options = options
        self.counts: Counter[str] = Counter()  # this stream's skipped messages, by kind
        self._totals = totals  # the source's, across streams (health)
        self.runner: CallRunner | None = None
        self.start: messages.Start | None = None
        self._identities: dict[str, str] = {}  # track -> participant identity
        self._timelines: dict[str, TrackTimeline] = {}
        self._end: CallEnd | None = None
        self._close: tuple[int, str] | None = None
        self.summary: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return self.start.stream_sid if self.start else "stream (no start yet)"

    # -- the read loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Read until the stream ends, then finish the call (if one was opened)."""
        try:
            await self._read()
        finally:
            await self._close_socket()
            await self._finish()

    async def request_close(self, code: int, reason: str, end: CallEnd) -> None:
        """End the stream from outside (shutdown): the read loop then finishes the call."""
        if self._close is None:
            self._close, self._end = (code, reason), end
        # Closing wakes the reader's pending receive() with CLOSING.
        await self._close_socket()

    async def _read(self) -> None:
        while self._close is None:
            started = self.start is not None
            timeout = self.options.idle_timeout_s if started else self.options.start_timeout_s
            try:
                msg = await self.ws.receive(timeout=timeout)
            except TimeoutError:
                if started:
                    self._closing(CLOSE_POLICY, f"no message for {timeout:.0f} s", CallEnd.CONNECTION_LOST)
                else:
                    self._closing(CLOSE_POLICY, f"no start message within {timeout:.0f} s", None)
                return
            if msg.type == WSMsgType.TEXT:
                await self._handle(msg.data)
            elif msg.type == WSMsgType.BINARY:
                self._skip("binary_frame", "binary frame (Twilio sends JSON text)")
            elif msg.type == WSMsgType.ERROR:
                # aiohttp has already closed the socket: 1009 for a message over max_msg_size
                error = msg.data
                too_big = getattr(error, "code", None) == WSCloseCode.MESSAGE_TOO_BIG
                key = "oversized_message" if too_big else "socket_error"
                logger.warning("twilio %s: %s: %s", self.label, key, error)
                code = int(self.ws.close_code or WSCloseCode.ABNORMAL_CLOSURE)
                self._closing(code, key, CallEnd.CONNECTION_LOST)
                return
            else:  # CLOSE / CLOSING / CLOSED: the client went away (a missed pong ends up here too)
                if self._end is None:
                    self._end = CallEnd.CONNECTION_LOST
                return

    def _closing(self, code: int, reason: str, end: CallEnd | None) -> None:
        self._close = (code, reason)
        if self._end is None:
            self._end = end or CallEnd.CONNECTION_LOST
        self._totals[f"closed:{reason.split(':')[0]}"] += 1
        logger.info("twilio %s: closing (%d %s)", self.label, code, reason)

    async def _close_socket(self) -> None:
        if self.ws.closed:
            return
        code, reason = self._close or (WSCloseCode.OK, "stream ended")
        try:
            await self.ws.close(code=code, message=reason.encode()[:123])
        except (ConnectionError, RuntimeError) as exc:  # a client that vanished mid-close
            logger.debug("twilio %s: close failed: %r", self.label, exc)

    # -- messages --------------------------------------------------------------------------------

    async def _handle(self, text: str) -> None:
        try:
            message = messages.parse(text)
        except messages.UnsupportedFormat as exc:
            self._closing(CLOSE_UNSUPPORTED, str(exc), None)
            return
        except messages.BadMessage as exc:
            if exc.key == "bad_start" and self.start is None:
                self._closing(CLOSE_POLICY, f"bad start: {exc}"[:123], None)
            else:
                self._skip(exc.key, str(exc))
            return
        if isinstance(message, messages.Media):
            self._media(message)
        elif isinstance(message, messages.Start):
            await self._start(message)
        elif isinstance(message, messages.Stop):
            self._closing(WSCloseCode.OK, "stream stopped", CallEnd.STREAM_STOPPED)
        elif isinstance(message, messages.Connected):
            self.counts["connected"] += 1
        else:  # mark, dtmf: bidirectional streams only; nothing for an analyser in them
            self.counts[type(message).__name__.lower()] += 1

    def _media(self, media: messages.Media) -> None:
        if self.start is None:
            self._skip("media_before_start", "media before start")
            return
        if media.stream_sid is not None and media.stream_sid != self.start.stream_sid:
            self._skip("wrong_stream_sid", "media for another streamSid")
            return
        timeline = self._timelines.get(media.track)
        if timeline is None:
            self._skip("unannounced_track", f"media for track {media.track[:20]!r} not in start.tracks")
            return
        assert self.runner is not None
        identity = self._identities[media.track]
        blocks = timeline.push(media.payload, media.timestamp_ms)
        analyser = self.runner.lifecycle.analyser(identity)
        if analyser is None:
            return  # excluded by the policy: its audio is decoded for the timeline only
        for block in blocks:
            analyser.push_audio(block.pcm, block.t)

    async def _start(self, start: messages.Start) -> None:
        if self.start is not None:
            self._skip("duplicate_start", "a second start message")
            return
        params = parse_parameters(start.custom_parameters)
        if params.metadata is None:
            error = params.record["error"]
            logger.warning("twilio %s: stream parameters do not validate: %s", start.stream_sid, error)
        host = params.metadata.host_identity if params.metadata else None
        metadata = {
            **params.record,
            SOURCE: {
                "call_sid": start.call_sid,
                "stream_sid": start.stream_sid,
                "account_sid": start.account_sid,
                "tracks": list(start.tracks),
            },
        }
        self.start = start
        self.runner = await CallRunner.open(
            self.ctx,
            room=start.call_sid,
            source=SOURCE,
            metadata=metadata,
            options=LifecycleOptions(host_identity=host, policy=self.ctx.policy),
        )
        people = {
            "inbound": Person(CALLER, kind="sip", role=CALLER, phone_number=params.caller_number),
            "outbound": Person(host or AGENT, kind="sip", role=AGENT),
        }
        for track in start.tracks:
            person = people[track]
            self._identities[track] = person.identity
            self._timelines[track] = TrackTimeline()
            await self.runner.lifecycle.join(person)
            await self.runner.lifecycle.analyser_for(person.identity)  # the policy decides now
        self._totals["calls_started"] += 1
        logger.info(
            "twilio %s: call %s (%s) started, tracks %s",
            start.stream_sid,
            self.runner.session.call_id,
            start.call_sid,
            ",".join(start.tracks),
        )

    def _skip(self, key: str, reason: str) -> None:
        self.counts[key] += 1
        self._totals[f"skipped:{key}"] += 1
        n = self.counts[key]
        if n == 1 or n % self.options.log_bad_every == 0:
            logger.warning("twilio %s: skipped %s (%d so far): %s", self.label, key, n, reason)

    # -- the end ---------------------------------------------------------------------------------

    async def _finish(self) -> None:
        runner = self.runner
        if runner is None:
            return
        for track, timeline in self._timelines.items():
            analyser = runner.lifecycle.analyser(self._identities[track])
            for block in timeline.flush():
                if analyser is not None:
                    analyser.push_audio(block.pcm, block.t)
        self.summary = await runner.finish(self._end or CallEnd.CONNECTION_LOST)
        self._totals["calls_finished"] += 1
        self._totals["audio_dropped_ms"] += round(1000 * runner.session.stats["audio_dropped_s"])
        for timeline in self._timelines.values():
            self._totals["gaps"] += timeline.stats.gaps
            self._totals["late_frames"] += timeline.stats.late_frames
            self._totals["frames"] += timeline.stats.frames
        logger.info(
            "twilio %s: call %s finished (%s): %s",
            self.label,
            runner.session.call_id,
            self._end,
            self.track_stats() | {"skipped": dict(self.counts)},
        )

    def track_stats(self) -> dict[str, dict[str, Any]]:
        return {track: vars_of(t.stats) for track, t in self._timelines.items()}


def vars_of(stats: Any) -> dict[str, Any]:
    return {name: round(getattr(stats, name), 3) for name in stats.__slots__}
