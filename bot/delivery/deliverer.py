"""The sender: claims due outbox rows, signs and POSTs them, records the outcome. At-least-once.

Runs as an asyncio task inside the bot (`Deliverer.run`) or as `emotion-bot webhooks deliver`.
Several senders may run against one database: rows are leased, never sent by two at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from contextlib import suppress

import httpx

from bot.delivery import outbox
from bot.delivery.config import DeliveryConfig
from bot.delivery.schedule import Outcome, classify, next_delay, parse_retry_after
from bot.delivery.signing import build_headers
from storage.db import Database
from storage.models import utcnow

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 8

# Errors no retry can fix: the URL itself is unusable.
_PERMANENT_TRANSPORT_ERRORS = (httpx.UnsupportedProtocol, httpx.InvalidURL)


class Deliverer:
    """Delivers the outbox of one database."""

    def __init__(
        self, db: Database, config: DeliveryConfig, *, client: httpx.AsyncClient | None = None
    ) -> None:
        self.db = db
        self.config = config
        self._client = client
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Check the outbox now instead of at the next poll (call after enqueueing)."""
        self._wake.set()

    async def deliver_due(self) -> Counter[str]:
        """One pass: claim due messages (one batch) and send them concurrently. Returns outcome counts."""
        async with self._client_context() as client:
            return await self._deliver_batch(client)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Deliver until `stop` is set (or the task is cancelled), polling when idle."""
        stop = stop or asyncio.Event()
        async with self._client_context() as client:
            while not stop.is_set():
                try:
                    counts = await self._deliver_batch(client)
                except Exception:  # a database hiccup must not kill the sender; the rows stay pending
                    log.exception("webhook delivery pass failed; retrying after the poll interval")
                    counts = Counter()
                if counts.total() >= self.config.batch_size:
                    continue  # a full batch: there is probably more due right now
                await self._sleep_until_woken(stop)

    async def _deliver_batch(self, client: httpx.AsyncClient) -> Counter[str]:
        claimed = await asyncio.to_thread(
            outbox.claim_due,
            self.db,
            worker_id=self.config.worker_id,
            lease_s=self.config.lease_s,
            limit=self.config.batch_size,
        )
        outcomes = await asyncio.gather(*(self._deliver_one(client, message) for message in claimed))
        return Counter(outcome.value for outcome in outcomes)

    async def _sleep_until_woken(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        with suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED), self.config.poll_interval_s
            )
        for waiter in waiters:
            waiter.cancel()
        self._wake.clear()

    def _client_context(self) -> httpx.AsyncClient | _Borrowed:
        if self._client is not None:
            return _Borrowed(self._client)
        # No redirects: a 3xx is the receiver's misconfiguration and counts as a permanent failure.
        # A few connections per sender: a CRM endpoint should not see a burst of a whole batch at once.
        return httpx.AsyncClient(follow_redirects=False, limits=httpx.Limits(max_connections=MAX_CONNECTIONS))

    async def _deliver_one(self, client: httpx.AsyncClient, message: outbox.ClaimedMessage) -> Outcome:
        body = message.body.encode("utf-8")
        headers = build_headers(self.config.secrets, message.msg_id, body)
        attempt = message.attempts + 1
        status_code: int | None = None
        retry_after: float | None = None
        try:
            response = await client.post(
                message.url, content=body, headers=headers, timeout=self.config.timeout_s
            )
        except _PERMANENT_TRANSPORT_ERRORS as exc:
            outcome, error = Outcome.PERMANENT_FAILURE, f"{type(exc).__name__}: {exc}"
        except httpx.HTTPError as exc:  # timeouts, refused connections, resets
            outcome, error = Outcome.RETRY, f"{type(exc).__name__}: {exc}"
        else:
            status_code = response.status_code
            outcome, error = classify(status_code), f"HTTP {status_code}"
            retry_after = parse_retry_after(response.headers.get("retry-after"), utcnow())

        if outcome is Outcome.DELIVERED:
            await asyncio.to_thread(outbox.record_delivered, self.db, message, status_code or 0)
            log.info("webhook %s delivered (attempt %d, HTTP %s)", message.msg_id, attempt, status_code)
            return outcome
        retry_in = (
            next_delay(self.config.schedule, attempt, retry_after) if outcome is Outcome.RETRY else None
        )
        await asyncio.to_thread(
            outbox.record_failure, self.db, message, status_code=status_code, error=error, retry_in_s=retry_in
        )
        if retry_in is None:
            log.warning("webhook %s failed for good after %d attempt(s): %s", message.msg_id, attempt, error)
            return Outcome.PERMANENT_FAILURE
        log.info("webhook %s attempt %d: %s; next in %.1f s", message.msg_id, attempt, error, retry_in)
        return Outcome.RETRY


class _Borrowed:
    """An async context manager around a client someone else owns (and closes)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def __aenter__(self) -> httpx.AsyncClient:
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        return None
