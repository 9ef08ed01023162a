"""The vLLM CPU image serves the tiny Phi-3 checkpoint the way the engine_vllm role runs it.

One container for the module, started from slm-fleet/vllm-cpu:0.32.0 (images/vllm-cpu/build.sh
builds it; the test fails, not skips, when it is missing) with the role's settings: non-root,
read-only root filesystem with a tmpfs on /tmp, every capability dropped but SYS_NICE, the default
seccomp profile, no-new-privileges, /dev/shm of 1 GiB (vLLM needs 160 MiB), published on a
loopback port only, the API key read from a file by roles/engine_vllm/files/vllm-entrypoint.sh,
tool calling with the Phi-4-mini template from roles/engine_vllm/files/. Start-up on 2 busy cores
takes 30 s to a few minutes: VLLM_IMAGE_TEST_START_TIMEOUT (seconds, default 900) bounds it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
FILES = REPO / "roles" / "engine_vllm" / "files"
TEMPLATE = FILES / "phi4_mini_tool_chat_template.jinja"
LAB_MODEL = REPO / ".cache" / "lab" / "tiny-phi3-hf"
IMAGE = os.environ.get("VLLM_CPU_IMAGE", "slm-fleet/vllm-cpu:0.32.0")
SERVED = "lab-tiny-phi3"
START_TIMEOUT = float(os.environ.get("VLLM_IMAGE_TEST_START_TIMEOUT", "900"))
KEY_PATH = "/run/secrets/vllm_api_key"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
# What the phi4_mini_json parser reads (see the template's header).
TOOL_CALL_TEXT = 'functools[{"name": "get_weather", "arguments": {"city": "Paris"}}]'

pytestmark = pytest.mark.slow


def docker(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI, text output captured."""
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=check, timeout=timeout
    )


@dataclass
class VllmContainer:
    """The running container and how to reach it."""

    name: str
    url: str
    key: str
    start_seconds: float

    def client(self, key: str | None = None, authenticated: bool = True) -> httpx.Client:
        """An httpx client; authenticated with the container's key unless told otherwise."""
        token = key if key is not None else (self.key if authenticated else None)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)


def _require_image() -> None:
    if shutil.which("docker") is None:
        pytest.fail("no docker CLI on PATH: the vLLM image test needs a Docker engine")
    info = docker("info", "--format", "{{.ServerVersion}}", check=False)
    if info.returncode != 0:
        pytest.fail(f"cannot reach the Docker engine: {info.stderr.strip()}")
    if docker("image", "inspect", IMAGE, check=False).returncode != 0:
        pytest.fail(
            f"image {IMAGE} not found: build it with images/vllm-cpu/build.sh "
            "(about 2 minutes and 4 GB; nothing is pulled)"
        )


@pytest.fixture(scope="module")
def model_source(request: pytest.FixtureRequest) -> Path:
    """The lab's tiny checkpoint when `make` made it, else the same generator's cached copy."""
    if (LAB_MODEL / "config.json").is_file():
        return LAB_MODEL
    return Path(request.getfixturevalue("tiny_checkpoint"))


@pytest.fixture(scope="module")
def vllm(model_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmContainer]:
    """Start the container, wait for /health (bounded), remove it at the end."""
    _require_image()
    work = tmp_path_factory.mktemp("vllm-image")
    # The generator writes model.safetensors with mode 0600 (root): the server runs as uid 10001,
    # so the test serves a world-readable copy (1.5 MB). The role must do the same for real models.
    model = work / "model"
    shutil.copytree(model_source, model)
    for path in model.iterdir():
        path.chmod(0o644)
    key = "sk-test-" + secrets.token_hex(16)
    key_file = work / "api_key"
    key_file.write_text(key + "\n")
    key_file.chmod(0o444)  # uid 10001 reads it; the role makes it 0400 owned by 10001
    name = f"vllm-image-test-{uuid.uuid4().hex[:8]}"
    run = docker(
        "run", "--detach", "--name", name,
        "--read-only", "--tmpfs", "/tmp",
        "--shm-size", "1g",
        "--cap-drop", "ALL", "--cap-add", "SYS_NICE",
        "--security-opt", "no-new-privileges",
        "--publish", "127.0.0.1::8000",
        "--env", "VLLM_CPU_KVCACHE_SPACE=1",
        "--env", f"VLLM_API_KEY_FILE={KEY_PATH}",
        "--volume", f"{key_file}:{KEY_PATH}:ro",
        "--volume", f"{model}:/model:ro",
        "--volume", f"{TEMPLATE}:/etc/vllm/chat_template.jinja:ro",
        IMAGE,
        "--model", "/model", "--served-model-name", SERVED,
        "--host", "0.0.0.0", "--port", "8000",
        "--max-model-len", "1024", "--enforce-eager",
        "--enable-auto-tool-choice", "--tool-call-parser", "phi4_mini_json",
        "--chat-template", "/etc/vllm/chat_template.jinja",
        check=False,
    )  # fmt: skip
    if run.returncode != 0:
        pytest.fail(f"docker run {IMAGE} failed: {run.stderr.strip()}")
    started = time.monotonic()
    try:
        port = docker("port", name, "8000/tcp").stdout.splitlines()[0].rsplit(":", 1)[-1]
        url = f"http://127.0.0.1:{port}"
        deadline = started + START_TIMEOUT
        while True:
            state = docker("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
            if state != "running":
                logs = docker("logs", "--tail", "40", name, check=False)
                pytest.fail(
                    f"{name} stopped ({state}) before /health answered:\n{logs.stdout}{logs.stderr}"
                )
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                logs = docker("logs", "--tail", "40", name, check=False)
                pytest.fail(
                    f"{name}: no /health 200 within {START_TIMEOUT:.0f} s "
                    f"(VLLM_IMAGE_TEST_START_TIMEOUT):\n{logs.stdout}{logs.stderr}"
                )
            time.sleep(2)
        yield VllmContainer(name, url, key, time.monotonic() - started)
    finally:
        docker("rm", "--force", "--volumes", name, check=False)


def test_health_answers_without_a_key(vllm: VllmContainer) -> None:
    with vllm.client(authenticated=False) as client:
        reply = client.get("/health")
    assert reply.status_code == 200


def test_models_lists_the_served_name(vllm: VllmContainer) -> None:
    with vllm.client() as client:
        reply = client.get("/v1/models")
    assert reply.status_code == 200, reply.text
    assert [model["id"] for model in reply.json()["data"]] == [SERVED]


@pytest.mark.parametrize("key", [None, "wrong-key"], ids=["no-key", "wrong-key"])
def test_v1_refuses_requests_without_the_key_from_the_file(
    vllm: VllmContainer, key: str | None
) -> None:
    with vllm.client(key=key, authenticated=False) as client:
        assert client.get("/v1/models").status_code == 401
        body = {"model": SERVED, "messages": [{"role": "user", "content": "Hi"}]}
        assert client.post("/v1/chat/completions", json=body).status_code == 401


def test_invocations_is_not_covered_by_the_key(vllm: VllmContainer) -> None:
    """vLLM's known limitation: the key guards /v1, /v2, /inference, /cohere only.

    /invocations (SageMaker) serves chat completions without it, so the port must never be
    reachable by anyone who may not use the model. If this fails, vLLM closed the gap.
    """
    body = {"model": SERVED, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    with vllm.client(authenticated=False) as client:
        reply = client.post("/invocations", json=body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["object"] == "chat.completion"


def test_chat_completion_returns_usage(vllm: VllmContainer) -> None:
    body = {
        "model": SERVED,
        "messages": [{"role": "user", "content": "Hello"}],
        "max_tokens": 8,
        "temperature": 0,
        "ignore_eos": True,
    }
    with vllm.client() as client:
        reply = client.post("/v1/chat/completions", json=body)
    assert reply.status_code == 200, reply.text
    usage = reply.json()["usage"]
    assert usage["completion_tokens"] == 8
    assert usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + 8


def test_request_with_tools_and_auto_choice_is_accepted(vllm: VllmContainer) -> None:
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    base = {"model": SERVED, "messages": messages, "max_tokens": 4, "temperature": 0}
    with vllm.client() as client:
        plain = client.post("/v1/chat/completions", json=base)
        with_tools = client.post(
            "/v1/chat/completions", json={**base, "tools": TOOLS, "tool_choice": "auto"}
        )
    assert plain.status_code == 200, plain.text
    assert with_tools.status_code == 200, with_tools.text
    # The template put the tool definitions into the prompt.
    assert with_tools.json()["usage"]["prompt_tokens"] > plain.json()["usage"]["prompt_tokens"] + 50


def test_template_renders_tools_calls_and_results_in_phi4_mini_form(vllm: VllmContainer) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"celsius": 21}'},
    ]
    with vllm.client() as client:
        tokens = client.post(
            "/tokenize",
            json={
                "model": SERVED,
                "messages": messages,
                "tools": TOOLS,
                "add_generation_prompt": True,
            },
        )
        assert tokens.status_code == 200, tokens.text
        text = client.post("/detokenize", json={"model": SERVED, "tokens": tokens.json()["tokens"]})
    assert text.status_code == 200, text.text
    prompt = text.json()["prompt"]
    tools_json = json.dumps([TOOLS[0]["function"]])
    assert prompt.startswith("<|system|>Be brief. ")
    assert f"<|tool|>{tools_json}<|/tool|><|end|><|user|>Weather in Paris?<|end|>" in prompt
    assert f"<|assistant|>{TOOL_CALL_TEXT}<|end|>" in prompt
    assert prompt.endswith('<|tool_response|>{"celsius": 21}<|end|><|assistant|>')


def test_functools_output_becomes_a_tool_call(vllm: VllmContainer) -> None:
    """The random-weight model is constrained to the functools form; phi4_mini_json parses it."""
    body = {
        "model": SERVED,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": TOOLS,
        "tool_choice": "auto",
        "max_tokens": 80,
        "temperature": 0,
        "structured_outputs": {"regex": re.escape(TOOL_CALL_TEXT)},
    }
    with vllm.client() as client:
        reply = client.post("/v1/chat/completions", json=body)
    assert reply.status_code == 200, reply.text
    choice = reply.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}


def test_metrics_expose_vllm_series_without_a_key(vllm: VllmContainer) -> None:
    with vllm.client(authenticated=False) as client:
        reply = client.get("/metrics")
    assert reply.status_code == 200
    series = {
        line.split("{")[0].split(" ")[0]
        for line in reply.text.splitlines()
        if line.startswith("vllm:")
    }
    assert "vllm:num_requests_running" in series
    assert len(series) > 10


def test_key_is_not_in_docker_inspect_nor_in_command_lines(vllm: VllmContainer) -> None:
    inspect = docker("inspect", vllm.name).stdout
    assert vllm.key not in inspect
    env = json.loads(inspect)[0]["Config"]["Env"]
    assert f"VLLM_API_KEY_FILE={KEY_PATH}" in env
    assert not [item for item in env if item.startswith("VLLM_API_KEY=")]
    processes = docker("top", vllm.name, "-eo", "pid,args").stdout
    assert "vllm.entrypoints.openai.api_server" in processes
    assert vllm.key not in processes


def test_runs_as_uid_10001_on_a_read_only_root(vllm: VllmContainer) -> None:
    assert docker("exec", vllm.name, "id", "-u").stdout.strip() == "10001"
    for path in ("/opt/vllm/x", "/model/x", "/etc/x"):
        touch = docker("exec", vllm.name, "touch", path, check=False)
        assert touch.returncode != 0 and "Read-only file system" in touch.stderr
    # What vLLM writes at run time lands in the tmpfs (HOME=/tmp/vllm).
    written = docker("exec", vllm.name, "ls", "-a", "/tmp/vllm/.cache").stdout.split()
    assert "vllm" in written


def test_image_entrypoint_is_the_role_file() -> None:
    _require_image()
    shipped = docker("run", "--rm", "--entrypoint", "cat", IMAGE, "/usr/local/bin/vllm-entrypoint")
    assert shipped.stdout == (FILES / "vllm-entrypoint.sh").read_text()


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        (None, f"API key file {KEY_PATH} (VLLM_API_KEY_FILE) does not exist"),
        ("empty", f"API key file {KEY_PATH} (VLLM_API_KEY_FILE) is empty"),
    ],
    ids=["missing", "empty"],
)
def test_container_refuses_to_start_without_a_key(
    tmp_path: Path, volume: str | None, message: str
) -> None:
    _require_image()
    args = ["run", "--rm", "--name", f"vllm-image-test-{uuid.uuid4().hex[:8]}"]
    args += ["--env", f"VLLM_API_KEY_FILE={KEY_PATH}"]
    if volume == "empty":
        empty = tmp_path / "key"
        empty.write_text("\n")
        empty.chmod(0o444)
        args += ["--volume", f"{empty}:{KEY_PATH}:ro"]
    refused = docker(*args, IMAGE, check=False, timeout=60)
    assert refused.returncode == 64
    assert message in refused.stderr
