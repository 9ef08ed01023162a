"""/health while loading and after a failed load; the model directory is never written."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from conftest import API_KEY, RunningServer, chat, free_port, serve_command
from slm_engine.app import create_app
from slm_engine.config import load_config
from slm_engine.manifest import verify
from slm_engine.state import Server

pytestmark = pytest.mark.slow  # real tiny model (built once, cached), real processes


def test_loading_state_answers_503(tiny_model: Path) -> None:
    """The app before its engine thread has loaded the model (lifespan not run)."""
    server = Server(load_config({"SLM_MODEL_DIR": str(tiny_model), "SLM_API_KEY": API_KEY}))

    async def requests() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(server))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            health = await client.get("/health")
            completion = await client.post(
                "/v1/chat/completions", json=chat(), headers={"Authorization": f"Bearer {API_KEY}"}
            )
            return health, completion

    health, completion = asyncio.run(requests())
    assert (health.status_code, health.json()["status"]) == (503, "loading")
    assert health.headers["retry-after"]
    assert completion.status_code == 503
    assert completion.json()["error"]["code"] == "model_not_ready"


def test_unloadable_model_reports_error_and_keeps_serving_health(
    tiny_model: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    (broken / "model.onnx").write_bytes(b"not an onnx model")
    port = free_port()
    env = {
        **os.environ,
        "SLM_MODEL_DIR": str(broken),
        "SLM_PORT": str(port),
        "SLM_HOST": "127.0.0.1",
    }
    proc = subprocess.Popen(serve_command(), env=env, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline, health = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            try:
                health = httpx.get(url + "/health", timeout=1)
                if health.json()["status"] != "loading":
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        assert health is not None and health.status_code == 503
        assert health.json()["status"] == "error"
        assert "loading the model" in health.json()["message"]
        out = httpx.post(url + "/v1/chat/completions", json=chat())
        assert out.status_code == 503 and "not available" in out.json()["error"]["message"]
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(10)


def test_server_does_not_write_to_the_model_dir(server: RunningServer, tiny_model: Path) -> None:
    with server.client() as client:
        assert client.post("/v1/chat/completions", json=chat(max_tokens=3)).status_code == 200
    manifest = json.loads((tiny_model / "manifest.json").read_text())
    assert verify(tiny_model, manifest) == []  # same files, same checksums, nothing extra
    written_last = (tiny_model / "manifest.json").stat().st_mtime_ns  # the build's last write
    assert all(p.stat().st_mtime_ns <= written_last for p in tiny_model.rglob("*"))
