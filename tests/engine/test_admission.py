"""Slots and the bounded waiting queue (asyncio unit tests)."""

from __future__ import annotations

import asyncio

import pytest
from slm_engine.admission import Admission, QueueFull


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_slots_then_queue_then_refusal() -> None:
    async def scenario() -> None:
        adm = Admission(slots=2, queue_size=1)
        await adm.acquire()
        await adm.acquire()
        waiter = asyncio.ensure_future(adm.acquire())
        await asyncio.sleep(0)
        assert (adm.active, adm.waiting) == (2, 1)
        with pytest.raises(QueueFull):
            await adm.acquire()
        adm.release()
        await asyncio.wait_for(waiter, 1)
        assert (adm.active, adm.waiting) == (2, 0)
        adm.release()
        adm.release()
        assert adm.active == 0

    run(scenario())


def test_waiters_are_served_in_order() -> None:
    async def scenario() -> list[int]:
        adm = Admission(slots=1, queue_size=5)
        await adm.acquire()
        order: list[int] = []

        async def wait(i: int) -> None:
            await adm.acquire()
            order.append(i)

        tasks = [asyncio.ensure_future(wait(i)) for i in range(3)]
        await asyncio.sleep(0)
        for _ in range(3):
            adm.release()
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)
        return order

    assert run(scenario()) == [0, 1, 2]


def test_cancelled_waiter_leaves_the_queue_and_loses_no_slot() -> None:
    async def scenario() -> None:
        adm = Admission(slots=1, queue_size=2)
        await adm.acquire()
        gone = asyncio.ensure_future(adm.acquire())
        stays = asyncio.ensure_future(adm.acquire())
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
        assert adm.waiting == 1
        adm.release()
        await asyncio.wait_for(stays, 1)
        assert (adm.active, adm.waiting) == (1, 0)

    run(scenario())


def test_retry_after_grows_with_the_queue_and_is_bounded() -> None:
    async def scenario() -> tuple[int, int]:
        adm = Admission(slots=2, queue_size=100)
        for _ in range(20):  # requests that took 4 s each
            await adm.acquire()
            adm.release(seconds=4.0)
        await adm.acquire()
        await adm.acquire()
        empty_queue = adm.retry_after()
        waiters = [asyncio.ensure_future(adm.acquire()) for _ in range(10)]
        await asyncio.sleep(0)
        long_queue = adm.retry_after()
        for w in waiters:
            w.cancel()
        return empty_queue, long_queue

    empty_queue, long_queue = run(scenario())
    assert 4 <= empty_queue < long_queue <= 60


def test_reservations_count_against_slots_and_queue() -> None:
    """Requests still being read or prepared hold their place: the total never exceeds
    slots + queue_size, and a reserved request always finds room when it takes its place."""

    async def unreserved_slot_counts() -> None:
        adm = Admission(slots=1, queue_size=2)
        adm.reserve()
        adm.reserve()
        await adm.acquire()  # a request without reservation takes the free slot
        adm.reserve()  # 1 generating + 2 being prepared: slots and queue are all taken

    async def bounded() -> tuple[int, int, int]:
        adm = Admission(slots=1, queue_size=2)
        adm.reserve()
        adm.reserve()
        adm.reserve()
        with pytest.raises(QueueFull):
            adm.reserve()
        assert adm.take(reserved=True) is None  # the slot
        first = adm.take(reserved=True)
        second = adm.take(reserved=True)
        assert first is not None and second is not None  # both fit in the queue
        with pytest.raises(QueueFull):
            adm.reserve()
        adm.release()  # the slot passes to the first waiter
        assert first.done() and not second.done()
        adm.leave(second)  # the second gives up
        adm.reserve()  # room for one again
        adm.unreserve()
        return adm.active, adm.waiting, adm.preparing

    with pytest.raises(QueueFull):
        run(unreserved_slot_counts())
    assert run(bounded()) == (1, 0, 0)


def test_a_waiter_leaving_after_the_handover_passes_the_slot_on() -> None:
    async def scenario() -> tuple[int, int]:
        adm = Admission(slots=1, queue_size=2)
        await adm.acquire()
        late = adm.take()
        nxt = adm.take()
        assert late is not None and nxt is not None
        adm.release()  # handed to `late`...
        adm.leave(late)  # ...which has gone: `nxt` gets it
        assert nxt.done()
        return adm.active, adm.waiting

    assert run(scenario()) == (1, 0)
