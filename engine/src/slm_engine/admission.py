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
    """Slots plus a bounded FIFO queue, and reservations for requests that are still being read
    and prepared. Use from one event loop only.

    A request reserves its place (`reserve`) before its body is read: at most `slots +
    queue_size` requests are reserved, generating or waiting, so the work done before a slot is
    taken is bounded too. A reserved request then takes a slot or waits in line (`take`), which
    cannot overflow the line, since the reservation already counted it.
    """

    def __init__(self, slots: int, queue_size: int) -> None:
        self.slots = slots
        self.queue_size = queue_size
        self.active = 0
        self.preparing = 0  # reserved: being read, parsed and tokenized
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._mean_seconds = 1.0  # running mean request duration, for Retry-After

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot."""
        return len(self._waiters)

    def reserve(self) -> None:
        """Count a request about to be read and prepared; QueueFull when the slots, the queue
        and the reservations already add up to `slots + queue_size`."""
        if self.active + self.waiting + self.preparing >= self.slots + self.queue_size:
            raise QueueFull
        self.preparing += 1

    def unreserve(self) -> None:
        """Drop a reservation whose request will not run (bad input, client gone)."""
        self.preparing -= 1

    def take(self, reserved: bool = False) -> asyncio.Future[None] | None:
        """Take a free slot (None), or a place in line: a future that resolves once the slot
        has been handed over. Raises QueueFull when the line is full. `reserved`: the request
        holds a reservation, which this converts."""
        if reserved:
            self.preparing -= 1
        if self.active < self.slots and not self._waiters:
            self.active += 1
            return None
        if len(self._waiters) >= self.queue_size:
            raise QueueFull
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return waiter

    def leave(self, waiter: asyncio.Future[None]) -> None:
        """A waiter gives up its place; a slot handed to it just now is passed on."""
        if waiter.done() and not waiter.cancelled():
            self.release()
        elif waiter in self._waiters:
            self._waiters.remove(waiter)
            waiter.cancel()

    async def acquire(self) -> None:
        """Take a slot, waiting in line if needed; raises QueueFull when the line is full."""
        waiter = self.take()
        if waiter is None:
            return
        try:
            await waiter
        except asyncio.CancelledError:
            self.leave(waiter)
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
        rounds = (self.waiting + self.preparing + self.slots) / self.slots
        return max(1, min(60, math.ceil(rounds * self._mean_seconds)))
