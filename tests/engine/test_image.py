"""The container image serves the tiny model as non-root with a read-only root filesystem.

Builds with engine/build-image.sh (a cache hit when nothing changed) on the lab base image
slm-fleet/debian:bookworm. Skipped when no Docker engine or no base image is available
(`make images` builds the base).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from conftest import API_KEY, chat, free_port, needs_docker
from slm_engine import __version__

REPO = Path(__file__).resolve().parents[2]
BASE = "slm-fleet/debian:bookworm"
TAG = f"slm-fleet/slm-engine:{__version__}"

pytestmark = pytest.mark.slow


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=check, timeout=900
    )


@pytest.fixture(scope="module")
def image() -> str:
    if shutil.which("docker") is None or docker("info", check=False).returncode != 0:
        needs_docker("no Docker engine")
    if docker("image", "inspect", BASE, check=False).returncode != 0:
        needs_docker(f"base image {BASE} not built (make images)")
    build = subprocess.run(
        [str(REPO / "engine" / "build-image.sh"), BASE, TAG],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return TAG


def test_image_runs_read_only_as_non_root(image: str, tiny_model: Path) -> None:
    name = f"slm-engine-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    docker(
        "run",
        "--detach",
        "--name",
        name,
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--volume",
        f"{tiny_model}:/model:ro",
        "--env",
        f"SLM_API_KEY={API_KEY}",
        "--publish",
        f"127.0.0.1:{port}:8000",
        image,
    )
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        out = httpx.post(url + "/v1/chat/completions", json=chat(max_tokens=6), headers=headers)
        assert out.status_code == 200, out.text
        assert out.json()["usage"]["completion_tokens"] == 6
        assert docker("exec", name, "id", "-u").stdout.strip() == "10001"
        assert docker("exec", name, "slm-engine", "healthcheck", check=False).returncode == 0
        for path in ("/model/x", "/opt/slm-engine/x"):
            touch = docker("exec", name, "touch", path, check=False)
            assert touch.returncode != 0 and "Read-only file system" in touch.stderr
        config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
        assert config["User"] == "10001:10001"
        assert config["Healthcheck"]["Test"] == ["CMD", "slm-engine", "healthcheck"]
        assert "8000/tcp" in config["ExposedPorts"]
    finally:
        docker("rm", "--force", name, check=False)
