"""Shared fixtures for the engine tests: the real tiny model and real server processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import model_cache
from ports import free_port

API_KEY = "test-key-0123456789"
MODEL_ID = "tiny-phi3"


@pytest.fixture(scope="session")
def tiny_checkpoint() -> Path:
    """The generated tiny Hugging Face checkpoint (cached under .cache/)."""
    return model_cache.checkpoint("tiny")


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    """The tiny checkpoint converted to int4 by `slm-engine build` (cached under .cache/)."""
    return model_cache.built_model("tiny")[0]


def needs_docker(problem: str) -> None:
    """Skip a test whose Docker engine or image is missing (``problem`` says which) -- or fail it under
    SLM_REQUIRE_DOCKER=1 (``make test``), where a missing image must not pass as a skipped test."""
    if os.environ.get("SLM_REQUIRE_DOCKER") == "1":
        pytest.fail(f"{problem} (SLM_REQUIRE_DOCKER=1: make test requires it)")
    pytest.skip(problem)


def serve_command() -> list[str]:
    """argv of `slm-engine serve` with this interpreter."""
    return [sys.executable, "-m", "slm_engine", "serve"]


@dataclass
class RunningServer:
    """A `slm-engine serve` subprocess."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, key: str | None = API_KEY, timeout: float = 60.0) -> httpx.Client:
        """An httpx client for this server, authenticated by default."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


def start_server(model_dir: Path, log: Path, **env: str) -> RunningServer:
    """Start a server on a free port and wait until /health is 200."""
    port = free_port()
    full_env = {
        **os.environ,
        "SLM_MODEL_DIR": str(model_dir),
        "SLM_MODEL_ID": MODEL_ID,
        "SLM_HOST": "127.0.0.1",
        "SLM_PORT": str(port),
        "SLM_API_KEY": API_KEY,
        "SLM_THREADS": "2",
        "SLM_LOG_LEVEL": "warning",
        **env,
    }
    with log.open("wb") as fh:
        proc = subprocess.Popen(serve_command(), env=full_env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return RunningServer(url, proc, log)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server not healthy within 60 s:\n{log.read_text()}")


def stop_server(server: RunningServer) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def servers_with_and_without(model_dir: Path, logs: Path, **env: str) -> Iterator[tuple[RunningServer, RunningServer]]:
    """(a server with the settings ``env``, a server without them), the same model otherwise; both
    stopped afterwards. For fixtures that compare a feature on with the same server off."""
    with_env = start_server(model_dir, logs / "with.log", **env)
    try:
        without = start_server(model_dir, logs / "without.log")
    except Exception:
        stop_server(with_env)
        raise
    try:
        yield with_env, without
    finally:
        stop_server(with_env)
        stop_server(without)


@pytest.fixture(scope="session")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The main test server: 4 slots, queue 32, API key required."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    running = start_server(tiny_model, log, SLM_MAX_CONCURRENCY="4", SLM_QUEUE_SIZE="32")
    yield running
    stop_server(running)


@pytest.fixture(scope="session")
def client(server: RunningServer) -> Iterator[httpx.Client]:
    """Authenticated client of the main server."""
    with server.client() as c:
        yield c


def chat(messages: str | list[dict[str, object]] = "Hello", **fields: object) -> dict[str, object]:
    """A chat completion request body for the tiny model (greedy unless told otherwise)."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    return {"model": MODEL_ID, "messages": messages, "temperature": 0, **fields}
