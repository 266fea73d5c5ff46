"""A bounded FIFO that drops its oldest items instead of growing or blocking a live producer."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class DropOldestQueue(Generic[T]):
    """Bounded queue for one consumer task on the event loop.

    Capacity is measured in `weight` units (1 per item by default; seconds of audio for audio chunks).
    `offer` never blocks: when the queue would exceed its capacity the oldest items go, and `dropped`
    / `dropped_weight` count them, so a slow consumer costs stale data, never memory. `put` is the
    back-pressure variant for producers that can wait (a file being decoded). The newest item is
    always kept, even when it alone exceeds the capacity.
    """

    def __init__(self, capacity: float, weight: Callable[[T], float] | None = None) -> None:
        self.capacity = capacity
        self._weight = weight or (lambda _item: 1.0)
        self._items: deque[tuple[T, float]] = deque()
        self._load = 0.0
        self._readable = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._closed = False
        self.dropped = 0
        self.dropped_weight = 0.0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def load(self) -> float:
        return self._load

    def offer(self, item: T) -> int:
        """Append without waiting; returns how many older items were dropped to make room."""
        weight = self._weight(item)
        self._items.append((item, weight))
        self._load += weight
        dropped = 0
        while self._load > self.capacity and len(self._items) > 1:
            _, old_weight = self._items.popleft()
            self._load -= old_weight
            dropped += 1
            self.dropped_weight += old_weight
        self.dropped += dropped
        self._readable.set()
        self._update_room()
        return dropped

    async def put(self, item: T) -> None:
        """Append once there is room (never drops): for producers that may wait."""
        weight = self._weight(item)
        while self._items and self._load + weight > self.capacity:
            self._room.clear()
            await self._room.wait()
        self.offer(item)

    async def get(self) -> T | None:
        """The oldest item; None once the queue is closed and empty."""
        while not self._items:
            if self._closed:
                return None
            self._readable.clear()
            await self._readable.wait()
        item, weight = self._items.popleft()
        self._load -= weight
        self._update_room()
        return item

    async def get_all(self) -> list[T]:
        """Everything queued (at least one item); an empty list once closed and empty."""
        first = await self.get()
        if first is None:
            return []
        items = [first] + [item for item, _ in self._items]
        self._items.clear()
        self._load = 0.0
        self._update_room()
        return items

    def clear(self) -> int:
        """Discard everything queued (not counted as drops); returns how many items went."""
        count = len(self._items)
        self._items.clear()
        self._load = 0.0
        self._update_room()
        return count

    def close(self) -> None:
        """No more items will come: `get` returns None once the queue is empty."""
        self._closed = True
        self._readable.set()

    def reopen(self) -> None:
        self._closed = False

    def _update_room(self) -> None:
        if self._load < self.capacity:
            self._room.set()
