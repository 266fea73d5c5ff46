"""`--zoom-video individual`: Zoom sends one chosen participant's camera at a time, so the choice
rotates among the cameras that are on, every `period_s`, and every face gets sampled, not only
the active speaker's. A camera turned off while chosen is replaced at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


class VideoRotation:
    def __init__(self, subscribe: Callable[[str], Awaitable[bool]], period_s: float) -> None:
        self._subscribe = subscribe
        self._period_s = period_s
        self._cameras: list[str] = []  # in the order they came on: a fair round robin
        self._present: list[str] = []  # fallback when Zoom announced no camera (people already in)
        self._current: str | None = None
        self._changed = asyncio.Event()
        self.switches = 0

    @property
    def current(self) -> str | None:
        return self._current

    def camera_on(self, user_id: str) -> None:
        if user_id not in self._cameras:
            self._cameras.append(user_id)
            self._changed.set()

    def camera_off(self, user_id: str) -> None:
        if user_id in self._cameras:
            self._cameras.remove(user_id)
            if user_id == self._current:
                self._changed.set()

    def present(self, user_id: str) -> None:
        if user_id not in self._present:
            self._present.append(user_id)
            self._changed.set()

    def gone(self, user_id: str) -> None:
        if user_id in self._present:
            self._present.remove(user_id)
        self.camera_off(user_id)

    def next_choice(self) -> str | None:
        pool = self._cameras or self._present
        if not pool:
            return None
        if self._current not in pool:
            # The one after where the current one was (or the first): nobody is skipped twice.
            return pool[0]
        return pool[(pool.index(self._current) + 1) % len(pool)]

    async def run(self) -> None:
        while True:
            choice = self.next_choice()
            if choice is not None and choice != self._current:
                if await self._subscribe(choice):
                    self._current = choice
                    self.switches += 1
            self._changed.clear()
            wait = self._period_s if choice is not None else None
            # A change (camera on/off, a first participant) re-decides at once when nothing is chosen
            # or the chosen camera went off; otherwise the period runs out first.
            deadline = asyncio.get_running_loop().time() + wait if wait is not None else None
            while True:
                timeout = None if deadline is None else max(0.0, deadline - asyncio.get_running_loop().time())
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout)
                except TimeoutError:
                    break
                self._changed.clear()
                pool = self._cameras or self._present
                if self._current is None or self._current not in pool:
                    break
