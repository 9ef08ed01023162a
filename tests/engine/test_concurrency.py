"""Concurrency: many clients, a full queue, and clients that go away."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from conftest import API_KEY, RunningServer, chat, start_server, stop_server

pytestmark = pytest.mark.slow  # real tiny model (built once, cached), real processes

LONG = 3900  # tokens: seconds of work for the tiny model, so a slot stays busy
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def one_slot(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with 1 slot and room for 1 waiting request."""
    log = tmp_path_factory.mktemp("one-slot") / "server.log"
    running = start_server(
        tiny_model, log, SLM_MAX_CONCURRENCY="1", SLM_QUEUE_SIZE="1", SLM_BATCH_WINDOW_MS="0"
    )
    yield running
    stop_server(running)


def metric(server: RunningServer, name: str) -> float:
    text = httpx.get(server.url + "/metrics").text
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.M)
    assert match, name
    return float(match.group(1))


async def wait_until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `check` (blocking calls run in a thread); returns the seconds it took."""
    started = time.monotonic()
    while not await asyncio.to_thread(check):
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def first_event(client: httpx.AsyncClient, started: asyncio.Event) -> None:
    """Stream a long completion, signal after the first event, then keep the stream open."""
    body = chat("Hi", max_tokens=LONG, stream=True)
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                started.set()
                await asyncio.sleep(3600)  # hold the connection until cancelled


def test_sixteen_concurrent_requests_all_complete(server: RunningServer) -> None:
    async def one(client: httpx.AsyncClient, i: int) -> int:
        body = chat(f"Request number {i}", max_tokens=24)
        if i % 2:
            async with client.stream(
                "POST",
                "/v1/chat/completions",
                json={**body, "stream": True, "stream_options": {"include_usage": True}},
            ) as r:
                assert r.status_code == 200
                lines = [x async for x in r.aiter_lines() if x.startswith("data: ")]
            assert lines[-1] == "data: [DONE]"
            return int(json.loads(lines[-2][6:])["usage"]["completion_tokens"])
        r = await client.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text
        return int(r.json()["usage"]["completion_tokens"])

    async def all_of_them() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=120) as client:
            return await asyncio.gather(*(one(client, i) for i in range(16)))

    batches = metric(server, "slm_engine_batches_total")
    batched = metric(server, "slm_engine_batched_requests_total")
    assert asyncio.run(all_of_them()) == [24] * 16
    assert metric(server, "slm_engine_active_requests") == 0
    assert metric(server, "slm_engine_queue_depth") == 0
    assert metric(server, "slm_engine_batched_requests_total") - batched == 16
    mean_batch = 16 / (metric(server, "slm_engine_batches_total") - batches)
    assert mean_batch >= 2, f"requests were not batched together (mean batch {mean_batch:.1f})"


def test_full_queue_answers_503_with_retry_after(one_slot: RunningServer) -> None:
    async def scenario() -> httpx.Response:
        async with httpx.AsyncClient(base_url=one_slot.url, headers=AUTH, timeout=60) as client:
            started = asyncio.Event()
            holder = asyncio.create_task(first_event(client, started))
            await asyncio.wait_for(started.wait(), 30)
            waiter = asyncio.create_task(
                client.post("/v1/chat/completions", json=chat("Hi", max_tokens=2))
            )
            await wait_until(
                lambda: metric(one_slot, "slm_engine_queue_depth") == 1,
                10,
                "the second request to queue",
            )
            refused = await client.post("/v1/chat/completions", json=chat("Hi", max_tokens=2))
            holder.cancel()  # frees the slot: the waiting request now runs
            queued = await asyncio.wait_for(waiter, 30)
            assert queued.status_code == 200, queued.text
            return refused

    refused = asyncio.run(scenario())
    assert refused.status_code == 503
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["error"]["code"] == "server_overloaded"


def test_disconnect_mid_stream_frees_the_slot(one_slot: RunningServer) -> None:
    async def scenario() -> float:
        async with httpx.AsyncClient(base_url=one_slot.url, headers=AUTH, timeout=60) as client:
            started = asyncio.Event()
            holder = asyncio.create_task(first_event(client, started))
            await asyncio.wait_for(started.wait(), 30)
            assert metric(one_slot, "slm_engine_active_requests") == 1
            before = metric(one_slot, "slm_engine_generated_tokens_total")
            holder.cancel()
            freed = await wait_until(
                lambda: metric(one_slot, "slm_engine_active_requests") == 0, 3, "the slot"
            )
            generated = metric(one_slot, "slm_engine_generated_tokens_total") - before
            assert generated < LONG  # cancelled, not run to the end
            after = await client.post("/v1/chat/completions", json=chat("Hi", max_tokens=2))
            assert after.status_code == 200
            return freed

    assert asyncio.run(scenario()) < 3


def test_non_streaming_client_timeout_cancels_generation(one_slot: RunningServer) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=one_slot.url, headers=AUTH) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.post(
                    "/v1/chat/completions",
                    json=chat("Hi", max_tokens=LONG),
                    timeout=httpx.Timeout(60, read=0.05),  # far below the ~0.3 s the 3,900 tokens take
                )
            await wait_until(
                lambda: metric(one_slot, "slm_engine_active_requests") == 0,
                3,
                "the slot of the abandoned request",
            )

    asyncio.run(scenario())


def test_client_leaving_the_queue_is_removed(one_slot: RunningServer) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=one_slot.url, headers=AUTH, timeout=60) as client:
            started = asyncio.Event()
            holder = asyncio.create_task(first_event(client, started))
            await asyncio.wait_for(started.wait(), 30)
            waiter = asyncio.create_task(
                client.post("/v1/chat/completions", json=chat("Hi", max_tokens=2))
            )
            await wait_until(
                lambda: metric(one_slot, "slm_engine_queue_depth") == 1, 10, "the request to queue"
            )
            waiter.cancel()
            await wait_until(
                lambda: metric(one_slot, "slm_engine_queue_depth") == 0, 3, "the queue to empty"
            )
            assert metric(one_slot, "slm_engine_active_requests") == 1  # the holder still runs
            holder.cancel()
            await wait_until(
                lambda: metric(one_slot, "slm_engine_active_requests") == 0, 3, "the slot"
            )

    asyncio.run(scenario())
