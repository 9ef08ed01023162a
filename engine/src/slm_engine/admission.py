"""Bounded admission: `slots` requests generate at once, `queue_size` more may wait, FIFO.

A request that finds the queue full is refused at once (the server answers 503 with
Retry-After) instead of waiting without bound. Waiting requests that are cancelled (the client
went away) leave the queue; a slot is always handed to the next waiter, never lost.
"""

from __future__ import annotations

import asyncio
import collections
import math


class QueueFull(Exception):
    """All slots are busy and the waiting queue is full."""


class Admission:
    """Slots plus a bounded FIFO queue. Use from one event loop only."""

    def __init__(self, slots: int, queue_size: int) -> None:
        self.slots = slots
        self.queue_size = queue_size
        self.active = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._mean_seconds = 1.0  # running mean request duration, for Retry-After

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot."""
        return len(self._waiters)

    async def acquire(self) -> None:
        """Take a slot, waiting in line if needed; raises QueueFull when the line is full."""
        if self.active < self.slots and not self._waiters:
            self.active += 1
            return
        if len(self._waiters) >= self.queue_size:
            raise QueueFull
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            else:
                self._waiters.remove(waiter)
            raise

    def release(self, seconds: float | None = None) -> None:
        """Give a slot back (to the next waiter if any); `seconds` feeds Retry-After."""
        if seconds is not None:
            self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * seconds
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the waiter: active is unchanged
                return
        self.active -= 1

    def retry_after(self) -> int:
        """Seconds a refused client should wait: the time for the queue ahead to drain."""
        rounds = (self.waiting + self.slots) / self.slots
        return max(1, min(60, math.ceil(rounds * self._mean_seconds)))
