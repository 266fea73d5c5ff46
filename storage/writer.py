"""The one writer task per call: batches observations and fused points into the database.

The pipeline calls `submit_*` (non-blocking: an append to an in-memory buffer). Every
`flush_interval_s` (at most 1 s) the task moves the whole buffer into the database (one
transaction per `batch_size` items), on a worker thread so the event loop never waits on disk
or network. A crash therefore loses at most the last interval.

When the database is unreachable the batch goes back to the front of the buffer and is retried at
the next tick; the buffer is bounded (`max_buffer`), and when it is full the OLDEST items are dropped
and counted, so a long outage keeps the most recent part of the call rather than blocking the
pipeline or growing memory without limit.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError, OperationalError

from emotion_models.labels import LABEL_INDEX, NUM_LABELS
from storage.db import Database
from storage.models import MODALITIES, PROBABILITY_COLUMNS, FusedPointRow, ObservationRow, ParticipantRow
from storage.records import FusedPoint, Observation
from storage.repository import get_or_create_participant

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_FLUSH_INTERVAL_S = 1.0
Item = Observation | FusedPoint


def is_transient(exc: BaseException) -> bool:
    """Connection trouble or a lock (worth retrying) as opposed to bad data (never will succeed)."""
    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
    )


def invalid_reason(item: Item) -> str | None:
    """Why an item cannot be stored, or None. Checked at submit so one bad item never jams a batch."""
    probs = item.probabilities
    if len(probs) != NUM_LABELS or not all(math.isfinite(p) for p in probs):
        return f"need {NUM_LABELS} finite probabilities, got {probs!r}"
    if item.top_label not in LABEL_INDEX:
        return f"unknown top_label {item.top_label!r}"
    if isinstance(item, Observation):
        if item.modality not in MODALITIES:
            return f"unknown modality {item.modality!r}"
        if not (math.isfinite(item.t_start) and math.isfinite(item.t_end)) or item.t_end < item.t_start:
            return f"bad time span {item.t_start}..{item.t_end}"
    elif not (math.isfinite(item.t) and math.isfinite(item.valence) and math.isfinite(item.arousal)):
        return "non-finite t/valence/arousal"
    return None


class ObservationWriter:
    """Batches one call's observations and fused points into the database (see module doc).

    `on_written(observations)` runs on the event loop after each commit, so the pipeline can
    measure frame-to-database latency from `Observation.captured_at`.
    """

    def __init__(
        self,
        db: Database,
        call_id: str,
        *,
        flush_interval_s: float = 0.5,
        max_buffer: int = 100_000,
        close_timeout_s: float = 10.0,
        batch_size: int = 5_000,
        on_written: Callable[[list[Observation]], None] | None = None,
    ) -> None:
        if not 0 < flush_interval_s <= MAX_FLUSH_INTERVAL_S:
            raise ValueError(
                f"flush_interval_s must be in (0, {MAX_FLUSH_INTERVAL_S}], got {flush_interval_s}"
            )
        if max_buffer < 1:
            raise ValueError(f"max_buffer must be >= 1, got {max_buffer}")
        self.db = db
        self.call_id = call_id
        self.flush_interval_s = flush_interval_s
        self.max_buffer = max_buffer
        self.close_timeout_s = close_timeout_s
        # Bounded transactions: catching up after an outage commits progress step by step.
        self.batch_size = batch_size
        self.on_written = on_written
        self._buffer: collections.deque[Item] = collections.deque()
        self._participants: dict[str, tuple[int, bool]] = {}  # identity -> (row id, analysed)
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self._failing_since: float | None = None
        self._overflowing = False  # warn once per outage, not once per dropped item
        self._stats: dict[str, Any] = {
            "written_observations": 0,
            "written_fused": 0,
            "dropped": 0,  # buffer overflow during an outage, or still unwritten at close
            "rejected": 0,  # invalid items refused at submit, or permanent DB errors
            "skipped_not_analysed": 0,  # participant opted out / excluded before the flush
            "flushes": 0,
            "failed_flushes": 0,
            "last_flush_latency_s": None,
            "max_flush_latency_s": 0.0,
            "last_error": None,
        }

    # -- producer side (non-blocking) ---------------------------------------------------------

    def submit_observation(self, obs: Observation) -> None:
        self._submit(obs)

    def submit_fused(self, point: FusedPoint) -> None:
        self._submit(point)

    def _submit(self, item: Item) -> None:
        if self._closed:
            raise RuntimeError("ObservationWriter is closed")
        reason = invalid_reason(item)
        if reason is not None:
            self._stats["rejected"] += 1
            log.warning("not storing an item for %s: %s", item.participant_identity, reason)
            return
        self._buffer.append(item)
        self._trim()

    def _trim(self) -> None:
        overflow = len(self._buffer) - self.max_buffer
        for _ in range(max(overflow, 0)):
            self._buffer.popleft()
        if overflow > 0:
            if not self._overflowing:
                self._overflowing = True
                log.warning(
                    "call %s: write buffer full (%d items), dropping the oldest",
                    self.call_id,
                    self.max_buffer,
                )
            self._stats["dropped"] += overflow

    # -- the task -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the flush loop on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"writer-{self.call_id}")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            # Shielded: aclose() cancels this task, and a batch already handed to the DB thread
            # must finish (and be counted) rather than vanish from the buffer half-written.
            await asyncio.shield(self.flush())

    async def flush(self) -> bool:
        """Write everything buffered now, `batch_size` items per transaction.

        True when the buffer was emptied (or already empty); False when the database refused.
        """
        async with self._lock:
            while self._buffer:
                batch = [self._buffer.popleft() for _ in range(min(len(self._buffer), self.batch_size))]
                started = time.perf_counter()
                try:
                    written = await asyncio.to_thread(self._write, batch)
                except Exception as exc:
                    self._on_failure(batch, exc)
                    return False
                self._on_success(time.perf_counter() - started, written)
        return True

    async def run_exclusive(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on a worker thread while no flush is in flight.

        An opt-out's delete must not interleave with a flush that read the participant as still
        analysed before the delete and commits its rows after it: those rows would survive.
        """
        async with self._lock:
            return await asyncio.to_thread(fn, *args)

    def _on_success(self, latency: float, written: list[Observation]) -> None:
        self._stats["flushes"] += 1
        self._stats["last_flush_latency_s"] = latency
        self._stats["max_flush_latency_s"] = max(self._stats["max_flush_latency_s"], latency)
        if self._failing_since is not None:
            log.info(
                "database back after %.1f s outage (%d items dropped so far)",
                time.monotonic() - self._failing_since,
                self._stats["dropped"],
            )
            self._failing_since = None
            self._overflowing = False
        if written and self.on_written is not None:
            try:
                self.on_written(written)
            except Exception:
                log.exception("on_written callback failed")

    def _on_failure(self, batch: list[Item], exc: Exception) -> None:
        self._stats["failed_flushes"] += 1
        self._stats["last_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if not is_transient(exc):
            # Bad data or schema: retrying would fail forever and block every later item.
            self._stats["rejected"] += len(batch)
            log.error(
                "dropping %d items for call %s: %s", len(batch), self.call_id, self._stats["last_error"]
            )
            return
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            log.warning("database unreachable, buffering in memory: %s", self._stats["last_error"])
        self._buffer.extendleft(reversed(batch))
        self._trim()

    def _write(self, batch: Sequence[Item]) -> list[Observation]:
        """One transaction (runs on a worker thread). Returns the observations that were stored."""
        observations: list[dict[str, Any]] = []
        fused: list[dict[str, Any]] = []
        stored: list[Observation] = []
        skipped = 0
        with self.db.session() as session:
            self._refresh_participants(session, {item.participant_identity for item in batch})
            for item in batch:
                participant_id, analysed = self._participants[item.participant_identity]
                if not analysed:
                    skipped += 1
                    continue
                row = {
                    "call_id": self.call_id,
                    "participant_id": participant_id,
                    "top_label": item.top_label,
                    **dict(zip(PROBABILITY_COLUMNS, map(float, item.probabilities), strict=True)),
                }
                if isinstance(item, Observation):
                    observations.append(_observation_row(item, row))
                    stored.append(item)
                else:
                    fused.append(_fused_row(item, row))
            if observations:
                session.execute(insert(ObservationRow), observations)
            if fused:
                session.execute(insert(FusedPointRow), fused)
        self._stats["written_observations"] += len(observations)
        self._stats["written_fused"] += len(fused)
        self._stats["skipped_not_analysed"] += skipped
        return stored

    def _refresh_participants(self, session: Any, identities: set[str]) -> None:
        # Re-read every flush: an opt-out (analysed=False) must stop storage within one interval.
        rows = session.execute(
            select(ParticipantRow.identity, ParticipantRow.id, ParticipantRow.analysed).where(
                ParticipantRow.call_id == self.call_id
            )
        )
        self._participants = {identity: (pid, analysed) for identity, pid, analysed in rows}
        for identity in identities - self._participants.keys():
            # The pipeline normally registers participants first; never lose data if it did not.
            row = get_or_create_participant(session, self.call_id, identity)
            self._participants[identity] = (row.id, row.analysed)

    # -- shutdown -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop the loop and flush what is left, retrying up to `close_timeout_s` if the DB is down."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        deadline = time.monotonic() + self.close_timeout_s
        while not await self.flush() and self._buffer and time.monotonic() < deadline:
            await asyncio.sleep(min(self.flush_interval_s, max(deadline - time.monotonic(), 0)))
        if self._buffer:
            self._stats["dropped"] += len(self._buffer)
            log.error(
                "call %s: %d items could not be written before close (%s)",
                self.call_id,
                len(self._buffer),
                self._stats["last_error"],
            )
            self._buffer.clear()

    @property
    def stats(self) -> dict[str, Any]:
        """Counters for logs and the bench: written, dropped, pending, flush latency, last error."""
        return {
            **self._stats,
            "written": self._stats["written_observations"] + self._stats["written_fused"],
            "pending": len(self._buffer),
        }


def _observation_row(obs: Observation, common: dict[str, Any]) -> dict[str, Any]:
    return {
        **common,
        "modality": obs.modality,
        "t_start": float(obs.t_start),
        "t_end": float(obs.t_end),
        "confidence": float(obs.confidence),
        "face_size": _finite_or_none(obs.face_size),
        "speech_level_db": _finite_or_none(obs.speech_level_db),  # digital silence is -inf dBFS
    }


def _fused_row(point: FusedPoint, common: dict[str, Any]) -> dict[str, Any]:
    return {
        **common,
        "t": float(point.t),
        "valence": float(point.valence),
        "arousal": float(point.arousal),
        "sources": "+".join(point.sources),
    }


def _finite_or_none(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
