"""Frame sampling rate, adaptive back-off, and the drop-oldest queues."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from bot.pipeline.queues import DropOldestQueue
from bot.pipeline.sampler import FrameSampler


@pytest.mark.parametrize("source_fps", [30.0, 29.97, 15.0, 24.0, 2.0])
def test_sampler_keeps_the_target_rate_whatever_the_source_rate(source_fps):
    sampler = FrameSampler(2.0, adaptive=False)
    taken = [i / source_fps for i in range(round(60 * source_fps)) if sampler.offer(i / source_fps)]
    assert abs(len(taken) - 120) <= 1
    gaps = [b - a for a, b in itertools.pairwise(taken)]
    assert max(gaps) <= 0.5 + 1.0 / source_fps + 1e-9


def test_sampler_restarts_after_a_gap_and_after_time_goes_back():
    sampler = FrameSampler(2.0, adaptive=False)
    assert sampler.offer(0.0)
    assert not sampler.offer(0.2)
    assert sampler.offer(10.0)  # a gap in the feed
    assert not sampler.offer(10.3)
    assert sampler.offer(1.0)  # media time reset (a new track)
    assert not sampler.offer(1.2)
    assert sampler.offer(1.5)


def test_late_results_back_off_down_to_the_floor_and_recover():
    sampler = FrameSampler(2.0, min_fps=0.5, adaptive=True)
    for _ in range(20):
        sampler.report_latency(5.0)
    assert sampler.fps == pytest.approx(0.5)
    assert sampler.backoffs == 4  # 0.5 -> 0.75 -> 1.125 -> 1.69 -> 2.0 s interval
    for _ in range(200):
        sampler.report_latency(0.01)
    assert sampler.fps == pytest.approx(2.0)


def test_backed_off_sampler_takes_fewer_frames():
    sampler = FrameSampler(2.0, min_fps=0.25, adaptive=True)
    sampler.slow_down()
    sampler.slow_down()
    taken = sum(sampler.offer(i / 30) for i in range(30 * 60))
    assert taken == pytest.approx(60 / 1.125, abs=1)


def test_non_adaptive_sampler_ignores_latency():
    sampler = FrameSampler(2.0, adaptive=False)
    sampler.report_latency(100.0)
    sampler.slow_down()
    assert sampler.fps == 2.0 and sampler.backoffs == 0


async def test_queue_drops_oldest_and_counts():
    queue: DropOldestQueue[int] = DropOldestQueue(3)
    for i in range(10):
        queue.offer(i)
    assert len(queue) == 3 and queue.dropped == 7
    assert [await queue.get() for _ in range(3)] == [7, 8, 9]


async def test_queue_weighted_capacity_keeps_newest_audio():
    queue: DropOldestQueue[float] = DropOldestQueue(1.0, weight=lambda seconds: seconds)
    for _ in range(10):
        queue.offer(0.3)
    assert queue.load == pytest.approx(0.9)
    assert queue.dropped_weight == pytest.approx(2.1)
    assert len(await queue.get_all()) == 3


async def test_queue_put_waits_for_room_instead_of_dropping():
    queue: DropOldestQueue[int] = DropOldestQueue(2)
    await queue.put(1)
    await queue.put(2)
    blocked = asyncio.ensure_future(queue.put(3))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    assert await queue.get() == 1
    await asyncio.wait_for(blocked, 1.0)
    assert queue.dropped == 0
    assert [await queue.get(), await queue.get()] == [2, 3]


async def test_closed_queue_drains_then_ends():
    queue: DropOldestQueue[int] = DropOldestQueue(5)
    queue.offer(1)
    queue.close()
    assert await queue.get() == 1
    assert await queue.get() is None
    assert await queue.get_all() == []
