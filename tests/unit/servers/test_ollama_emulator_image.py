"""The Ollama API emulator image (images/ollama-emulator): built without a registry, runs as
non-root on 0.0.0.0:11434, says what it is in its labels, and answers `ollama list` — the
healthcheck the engine_ollama role uses for real Ollama — the same way.

Skipped when no Docker engine or no base image is there (`make images` builds the base).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.modules import ollama_model

REPO = Path(__file__).resolve().parents[3]
BASE = "slm-fleet/debian:bookworm"
VERSION = next(line.split('"')[1] for line in (REPO / "tests/servers/ollama_api_emulator.py").read_text().splitlines()
               if line.startswith("__version__"))
TAG = "slm-fleet/ollama-api-emulator:" + VERSION

pytestmark = pytest.mark.slow


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=300)


@pytest.fixture(scope="module")
def image() -> str:
    if shutil.which("docker") is None or docker("info", check=False).returncode != 0:
        pytest.skip("no Docker engine")
    if docker("image", "inspect", BASE, check=False).returncode != 0:
        pytest.skip("base image %s not built (make images)" % BASE)
    build = subprocess.run([str(REPO / "images/ollama-emulator/build.sh")], capture_output=True, text=True,
                           timeout=300, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    again = subprocess.run([str(REPO / "images/ollama-emulator/build.sh")], capture_output=True, text=True,
                           timeout=60, check=True)
    assert "already built from this recipe" in again.stdout
    return TAG


@pytest.fixture
def container(image):
    name = "ollama-module-%s" % uuid.uuid4().hex[:8]
    # The image's own healthcheck command, checked every second instead of every 10 s.
    docker("run", "--detach", "--name", name, "--read-only", "--health-interval", "1s", "--publish",
           "127.0.0.1::11434", image)
    try:
        yield name
    finally:
        docker("rm", "--force", name, check=False)


def wait_healthy(name: str, limit_s: float = 60) -> str:
    deadline = time.monotonic() + limit_s
    while True:
        state = json.loads(docker("inspect", "--format", "{{json .State}}", name).stdout)
        status = (state.get("Health") or {}).get("Status")
        if status == "healthy" or time.monotonic() > deadline or not state["Running"]:
            return status
        time.sleep(0.5)


def test_image_labels_user_and_healthcheck(image) -> None:
    config = json.loads(docker("image", "inspect", "--format", "{{json .Config}}", image).stdout)
    assert config["Labels"]["org.opencontainers.image.title"] == "Ollama API emulator (tests and lab only)"
    assert config["User"] == "10002:10002" and config["Healthcheck"]["Test"] == ["CMD", "ollama", "list"]
    assert config["Entrypoint"] == ["/usr/local/bin/ollama"] and config["Cmd"] == ["serve"]
    assert "11434/tcp" in config["ExposedPorts"] and "OLLAMA_HOST=0.0.0.0:11434" in config["Env"]


def test_ollama_list_in_the_container_and_the_module_against_it(run_module, container) -> None:
    assert wait_healthy(container) == "healthy"
    empty = docker("exec", container, "ollama", "list")
    assert empty.stdout.split() == ["NAME", "ID", "SIZE", "MODIFIED"]
    port = docker("port", container, "11434/tcp").stdout.strip().rsplit(":", 1)[1]
    url = "http://127.0.0.1:%s" % port
    first = run_module(ollama_model.main, {"url": url, "name": "phi4-mini:3.8b",
                                           "variants": [{"name": "phi4-mini-coder", "parameters": {"top_p": 0.9}}]})
    assert first["_rc"] == 0 and [a["action"] for a in first["actions"]] == ["pull", "create"], first
    second = run_module(ollama_model.main, {"url": url, "name": "phi4-mini:3.8b",
                                            "variants": [{"name": "phi4-mini-coder", "parameters": {"top_p": 0.9}}]})
    assert second["changed"] is False
    listed = docker("exec", container, "ollama", "list").stdout
    assert "phi4-mini:3.8b" in listed and "phi4-mini-coder:latest" in listed
    assert docker("exec", container, "id", "-u").stdout.strip() == "10002"
    stopped = docker("exec", container, "ollama", "pull", "x", check=False)
    assert stopped.returncode == 2  # not emulated, and it says so and "Ollama API emulator" in stopped.stderr
