"""The standing abuse suite: request floods, oversized bodies and connection floods against a
real server, with /health answering throughout.

Timings are never compared with fixed numbers: /health latency under a flood is compared with
its latency measured moments before in the same test, on the same loaded machine.
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import pytest
from conftest import API_KEY, RunningServer, chat, start_server, stop_server
from test_concurrency import metric, wait_until

pytestmark = pytest.mark.slow  # real tiny model (built once, cached), real processes

FLOOD = 24  # concurrent requests beyond what the flood server admits (1 slot + 2 waiting)
WINDOW = 1.5  # seconds of flood, and of idle before and after it
FLOOD_PROMPT_BYTES = 768 * 1024  # each flood request: a large body that is costly to tokenize
HEALTH_SLOWDOWN = 50  # generous: /health p99 under the flood vs. idle (before: 500x and more)
BODY_LIMIT = 64 * 1024
CONNECTION_CAP = 8


@pytest.fixture(scope="module")
def flood_server(
    tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """1 slot, 2 waiting; default body limit and connection cap."""
    log = tmp_path_factory.mktemp("flood") / "server.log"
    running = start_server(
        tiny_model,
        log,
        SLM_MAX_CONCURRENCY="1",
        SLM_QUEUE_SIZE="2",
        SLM_BATCH_WINDOW_MS="0",
    )
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def tight_server(
    tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A 64 KiB body limit and at most 8 connections."""
    log = tmp_path_factory.mktemp("tight") / "server.log"
    running = start_server(
        tiny_model,
        log,
        SLM_MAX_CONCURRENCY="1",
        SLM_QUEUE_SIZE="2",
        SLM_MAX_BODY_BYTES=str(BODY_LIMIT),
        SLM_MAX_CONNECTIONS=str(CONNECTION_CAP),
    )
    yield running
    stop_server(running)


def address(server: RunningServer) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def request_head(path: str, length: int | None, host: str = "t", extra: str = "") -> bytes:
    size = f"Content-Length: {length}\r\n" if length is not None else ""
    chunked = "" if length is not None else "Transfer-Encoding: chunked\r\n"
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {API_KEY}\r\n"
        f"Content-Type: application/json\r\n{size}{chunked}{extra}\r\n"
    ).encode()


async def read_response(
    reader: asyncio.StreamReader,
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    pairs = (x.partition(":") for x in lines[1:] if x)
    headers = {k.strip().lower(): v.strip() for k, _, v in pairs}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), headers, body


async def raw_post(server: RunningServer, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """POST /v1/chat/completions on a new connection; the body is written while the response is
    awaited (a server may answer before reading it)."""
    reader, writer = await asyncio.open_connection(*address(server))
    try:
        writer.write(request_head("/v1/chat/completions", len(body)))

        async def send() -> None:
            writer.write(body)
            await writer.drain()

        sending = asyncio.create_task(send())
        try:
            return await read_response(reader)
        finally:
            sending.cancel()
    finally:
        writer.close()


PROBE = """
import http.client, json, select, sys, time
connection = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=30)
samples, failures = [], []
print("ready", flush=True)
while not select.select([sys.stdin], [], [], 0)[0]:
    started = time.perf_counter()
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            failures.append(f"status {response.status}")
    except (OSError, http.client.HTTPException) as exc:
        failures.append(repr(exc))
        connection.close()
    samples.append(time.perf_counter() - started)
    time.sleep(0.002)
print(json.dumps({"samples": samples, "failures": failures}), flush=True)
"""


class HealthProbe:
    """Polls /health on one keep-alive connection, recording each latency, in a process of its
    own so that the test's own work (the flood's client side) does not slow the probe."""

    def __init__(self, server: RunningServer) -> None:
        self.args = [sys.executable, "-c", PROBE, *map(str, address(server))]
        self.samples: list[float] = []
        self.failures: list[str] = []

    def __enter__(self) -> Self:
        self.process = subprocess.Popen(
            self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None and self.process.stdout.readline() == "ready\n"
        return self

    def __exit__(self, *_: object) -> None:
        out, _ = self.process.communicate(timeout=60)  # closing stdin stops the probe
        result = json.loads(out)
        self.samples, self.failures = result["samples"], result["failures"]

    def p99(self) -> float:
        return statistics.quantiles(self.samples, n=100)[98]


async def hold_capacity(server: RunningServer, n: int) -> list[asyncio.StreamWriter]:
    """`n` requests whose body is sent all but its last byte: admitted, they hold their place
    (a slot or the queue) until the body is finished."""
    body = json.dumps(chat("Hi", max_tokens=2)).encode()
    held = []
    for _ in range(n):
        reader, writer = await asyncio.open_connection(*address(server))
        writer.write(request_head("/v1/chat/completions", len(body)) + body[:-1])
        await writer.drain()
        held.append((reader, writer, body[-1:]))
    await wait_until(
        lambda: metric(server, "slm_engine_preparing_requests") == n,
        10,
        f"{n} admitted requests",
    )
    return held  # type: ignore[return-value]


def test_flood_is_refused_with_retry_after_while_health_answers(
    flood_server: RunningServer,
) -> None:
    big = json.dumps(chat("lorem ipsum " * (FLOOD_PROMPT_BYTES // 12), max_tokens=4)).encode()

    async def flood(until: float) -> list[tuple[int, dict[str, str], bytes]]:
        """One flooding client: request after request until `until`."""
        answers = []
        while time.monotonic() < until:
            answers.append(await raw_post(flood_server, big))
        return answers

    async def measure() -> tuple[list[tuple[int, dict[str, str], bytes]], float, float, int]:
        """(answers, idle p99, flood p99, probes under the flood) of one flood window between
        two idle windows (the machine is shared: idle is measured on both sides)."""
        with HealthProbe(flood_server) as before:
            await asyncio.sleep(WINDOW)
        with HealthProbe(flood_server) as flooded:
            until = time.monotonic() + WINDOW
            floods = await asyncio.gather(*(flood(until) for _ in range(FLOOD)))
        with HealthProbe(flood_server) as after:
            await asyncio.sleep(WINDOW)
        for probe in (before, flooded, after):
            assert not probe.failures, probe.failures
        idle = max(before.p99(), after.p99())
        return [a for f in floods for a in f], idle, flooded.p99(), len(flooded.samples)

    async def scenario() -> list[tuple[list[tuple[int, dict[str, str], bytes]], float, float, int]]:
        held = await hold_capacity(flood_server, 3)  # 1 slot + 2 queued: all taken
        rounds = [await measure()]
        if rounds[0][2] > HEALTH_SLOWDOWN * rounds[0][1]:
            rounds.append(await measure())  # a second chance for one noisy moment, not more
        for reader, writer, last in held:  # the admitted requests are still served
            writer.write(last)
            status, _, body = await asyncio.wait_for(read_response(reader), 30)
            assert status == 200, body
            writer.close()
        return rounds

    rounds = asyncio.run(scenario())
    for answers, idle_p99, flood_p99, probes in rounds:
        refused = [
            a for a in answers if a[0] == 503 and 1 <= int(a[1].get("retry-after", "0")) <= 60
        ]
        print(
            f"\nflood: {len(answers)} requests of {len(big) // 1024} KiB from {FLOOD} clients "
            f"tried, {len(refused)} refused cleanly (503 + Retry-After); /health p99 idle "
            f"{idle_p99 * 1000:.1f} ms, under flood {flood_p99 * 1000:.1f} ms ({probes} probes)"
        )
        statuses = sorted({a[0] for a in answers})
        assert len(refused) == len(answers), f"statuses {statuses}: {answers[0][2][:300]!r}"
        assert all(json.loads(a[2])["error"]["code"] == "server_overloaded" for a in refused)
    best = min(rounds, key=lambda r: r[2] / r[1])
    assert best[2] <= HEALTH_SLOWDOWN * best[1], (
        f"/health p99 {best[2] * 1000:.1f} ms under the flood vs {best[1] * 1000:.1f} ms idle"
    )


def test_declared_oversized_body_is_refused_before_it_is_sent(
    tight_server: RunningServer,
) -> None:
    async def scenario() -> tuple[int, dict[str, str], bytes]:
        reader, writer = await asyncio.open_connection(*address(tight_server))
        writer.write(request_head("/v1/chat/completions", 4 * BODY_LIMIT) + b"{")
        try:
            return await asyncio.wait_for(read_response(reader), 10)  # the rest is never sent
        finally:
            writer.close()

    status, headers, body = asyncio.run(scenario())
    assert status == 413
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    assert str(BODY_LIMIT) in json.loads(body)["error"]["message"]
    assert headers.get("connection") == "close"


def test_chunked_oversized_body_is_refused_once_past_the_limit(
    tight_server: RunningServer,
) -> None:
    """No Content-Length: the server stops at the limit, while the client is still sending."""

    async def scenario() -> tuple[int, bytes, int]:
        reader, writer = await asyncio.open_connection(*address(tight_server))
        writer.write(request_head("/reasoning", None))
        chunk = b"x" * 8192
        sent = 0
        response = asyncio.create_task(read_response(reader))
        try:
            while not response.done() and sent < 16 * BODY_LIMIT:
                writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                await writer.drain()
                sent += len(chunk)
                await asyncio.sleep(0.002)
            status, _, body = await asyncio.wait_for(response, 10)
            return status, body, sent
        finally:
            writer.close()

    status, body, sent = asyncio.run(scenario())
    assert status == 413, body
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    assert sent < 16 * BODY_LIMIT  # answered while the body was still coming


def test_body_just_under_the_limit_is_accepted(tight_server: RunningServer) -> None:
    body = chat("Hi", max_tokens=2)
    body["user"] = "u" * (BODY_LIMIT - len(json.dumps(body)) - 64)
    with tight_server.client() as client:
        out = client.post("/v1/chat/completions", json=body)
    assert out.status_code == 200, out.text


def test_connections_beyond_the_cap_are_refused_fast_but_health_answers(
    tight_server: RunningServer,
) -> None:
    host, port = address(tight_server)
    idle = []
    try:
        for _ in range(CONNECTION_CAP):  # open keep-alive connections that stay idle
            sock = socket.create_connection((host, port), timeout=10)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            idle.append(sock)
        with tight_server.client() as client:
            started = time.monotonic()
            refused = client.post("/v1/chat/completions", json=chat("Hi", max_tokens=2))
            refused_after = time.monotonic() - started
            health = client.get("/health")
            models = client.get("/v1/models")
    finally:
        for sock in idle:
            sock.close()
    print(
        f"\nconnection cap {CONNECTION_CAP}: request on connection {CONNECTION_CAP + 1} refused "
        f"with {refused.status_code} in {refused_after * 1000:.1f} ms; /health {health.status_code}"
    )
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "too_many_connections"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert models.status_code == 503  # every path but /health and /metrics
    assert health.status_code == 200
    with tight_server.client() as client:  # the idle connections are gone: served again
        deadline = time.monotonic() + 10
        while (
            out := client.post("/v1/chat/completions", json=chat("Hi", max_tokens=2))
        ).status_code == 503:
            assert time.monotonic() < deadline, out.text
            time.sleep(0.05)
    assert out.status_code == 200, out.text
