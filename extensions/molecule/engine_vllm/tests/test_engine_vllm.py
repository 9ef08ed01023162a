"""Real state of a GPU server (without a GPU) after engine_vllm: vLLM's CPU build serving the tiny model."""

import json
import os
from pathlib import Path

import pytest

ROOT = "/var/lib/slm-fleet/vllm"
PROJECT, PORT = "slm-vllm", 8000
KEY = "molecule-vllm-key"
MODEL = "lab-tiny-phi3"

ASK = r"""
import json, sys, urllib.request, urllib.error
key = sys.argv[1]
def call(path, body=None, auth=True, raw=False):
    req = urllib.request.Request("http://127.0.0.1:8000" + path, data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": "Bearer " + key} if auth else {})})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            data = r.read().decode()
            return r.status, data if raw else json.loads(data or "null")
    except urllib.error.HTTPError as e:
        return e.code, None
tool = {"type": "function", "function": {"name": "circle_area", "description": "Area of a circle",
        "parameters": {"type": "object", "properties": {"radius": {"type": "number"}}, "required": ["radius"]}}}
print(json.dumps({
    "health": call("/health", auth=False, raw=True),
    "models": call("/v1/models"),
    "noauth": call("/v1/models", auth=False)[0],
    "chat": call("/v1/chat/completions", {"model": "lab-tiny-phi3", "max_tokens": 8, "temperature": 0,
                                          "messages": [{"role": "user", "content": "Hello"}]}),
    "tools": call("/v1/chat/completions", {"model": "lab-tiny-phi3", "max_tokens": 8, "temperature": 0,
                                           "tools": [tool], "tool_choice": "auto",
                                           "messages": [{"role": "user", "content": "Area of a circle of radius 2?"}]}),
    "metrics": call("/metrics", auth=False, raw=True),
}))
"""


@pytest.fixture(scope="module")
def api(host):
    return json.loads(host.check_output(f"python3 - {KEY} <<'PYEOF'\n{ASK}\nPYEOF"))


@pytest.fixture(scope="module")
def container(serving_container):
    return serving_container


def test_compose_project_running_and_healthy(container):
    assert container["State"]["Health"]["Status"] == "healthy"


def test_health_models_and_the_key(api):
    assert api["health"] == [200, ""], "vLLM's /health is 200 with an empty body"
    status, models = api["models"]
    assert status == 200 and [m["id"] for m in models["data"]] == [MODEL]
    assert api["noauth"] == 401, "the API key must guard /v1/*"


def test_chat_completion_reports_usage(api):
    status, chat = api["chat"]
    assert status == 200
    assert chat["usage"]["completion_tokens"] == 8
    assert chat["usage"]["total_tokens"] == chat["usage"]["prompt_tokens"] + 8


def test_a_request_with_tools_is_accepted(api):
    status, body = api["tools"]
    assert status == 200, "tool calling must be on (--enable-auto-tool-choice with a parser and a template)"
    assert body["choices"][0]["message"]["role"] == "assistant"


def test_metrics_are_prometheus_series_of_vllm(api):
    status, text = api["metrics"]
    assert status == 200 and "vllm:" in text


def test_runs_as_the_image_user_without_the_key_in_its_configuration(host, container):
    assert container["Config"]["User"] == "10001:10001" and container["HostConfig"]["ReadonlyRootfs"] is True
    assert container["HostConfig"]["CapDrop"] == ["ALL"] and container["HostConfig"]["CapAdd"] in (["SYS_NICE"], ["CAP_SYS_NICE"])
    assert "no-new-privileges:true" in container["HostConfig"]["SecurityOpt"]
    assert KEY not in json.dumps(container), "docker inspect must not show the key"
    with host.sudo():
        key_file = host.file(f"{ROOT}/secrets/api_key")
        assert key_file.mode == 0o400 and key_file.uid == 10001
        assert KEY not in host.check_output(f"cat {ROOT}/current/*"), "no release file holds the key"


def test_published_on_loopback_only(published_bindings, container):
    # The engine's port (the release's own, or the front proxy's in front of it) and the release's
    # port are bound to loopback only.
    assert ("127.0.0.1", "8000") in published_bindings, published_bindings
    assert {address[0] for address in published_bindings} == {"127.0.0.1"}, published_bindings
    bindings = container["HostConfig"]["PortBindings"]["8000/tcp"]
    assert [b["HostIp"] for b in bindings] == ["127.0.0.1"], bindings


def test_model_files_match_the_manifest_and_are_read_only(host, container):
    with host.sudo():
        release = json.loads(host.file(f"{ROOT}/current/release.json").content_string)
        model_dir = release["model_dir"]
        manifest = json.loads(host.file(f"{model_dir}/manifest.json").content_string)
        for entry in manifest["files"]:
            path = f"{model_dir}/{entry['path']}"
            assert host.file(path).sha256sum == entry["sha256"], path
            assert host.file(path).mode == 0o444
    mounts = {m["Destination"]: m for m in container["Mounts"]}
    assert mounts["/model"]["RW"] is False and mounts["/model"]["Source"] == model_dir


def test_engine_record_names_the_endpoint_and_where_the_key_lives(host):
    record = json.loads(host.file("/etc/ansible/facts.d/slm_endpoint.fact").content_string)
    with host.sudo():
        current = os.path.basename(host.file(f"{ROOT}/current").linked_to)
    assert record["engine"] == "vllm" and record["api"] == "openai" and record["model"] == MODEL
    assert record["label"] == "vLLM 0.32.0 (CPU build)" and record["release"] == current
    assert record["url"] == "http://127.0.0.1:8000" and record["metrics_url"] == "http://127.0.0.1:8000/metrics"
    assert record["api_key_file"] == f"{ROOT}/secrets/api_key" and KEY not in json.dumps(record)


def test_a_release_that_cannot_start_never_replaced_the_serving_one(host):
    with host.sudo():
        refusal = host.file("/root/refusal.txt").content_string
        projects = host.check_output("docker ps -a --format '{{.Label \"com.docker.compose.project\"}}'")
    assert refusal.startswith(host.backend.get_hostname() + ": release "), refusal
    assert "was not healthy beside the serving release" in refusal or "rolled back to" in refusal, refusal
    assert "slm-vllm-candidate" not in projects.split(), "the candidate is removed"


def test_site_report_has_the_host_healthy_and_probed(host):
    report = json.loads(Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "reports", "site_report.json").read_text())
    [row] = report["hosts"]
    assert row["health"] == "healthy" and row["engine"] == "vllm" and row["engine_label"] == "vLLM 0.32.0 (CPU build)"
    assert row["counted"] and row["checks"], "the reasoning suite ran against vLLM"
