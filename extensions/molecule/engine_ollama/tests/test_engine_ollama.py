"""Real state of a CPU edge server after engine_ollama, served by the Ollama API EMULATOR image.

Ollama cannot be obtained here: what is checked is the role's work (compose project, bind address,
healthcheck, API calls it makes, variants as /api/show reports them, releases), against an
emulator of Ollama's HTTP API - not Ollama's own behaviour.
"""

import json
import os
from pathlib import Path

import pytest

ROOT = "/var/lib/slm-fleet/ollama"
PROJECT, PORT = "slm-ollama", 11434
REASONING = ("You are an expert reasoning assistant specialized in mathematics, logic, and code analysis.\n"
             "Always think step by step and show your work clearly.\n"
             "For mathematical problems, break down each calculation.\n"
             "For coding problems, explain your approach and include comments.")
CODER = ("You are a coding assistant specialized in writing clean, efficient, and well-documented code.\n"
         "Always include detailed comments explaining your approach.\n"
         "Follow best practices for the target programming language.\n"
         "Provide examples and test cases when helpful.")

ASK = r"""
import json, urllib.request
def call(path, body=None):
    req = urllib.request.Request("http://127.0.0.1:11434" + path, data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read().decode() or "null")
print(json.dumps({
    "tags": call("/api/tags"),
    "version": call("/api/version"),
    "reasoning": call("/api/show", {"model": "phi4-mini-reasoning"}),
    "coder": call("/api/show", {"model": "phi4-mini-coder"}),
}))
"""


@pytest.fixture(scope="module")
def api(host):
    return json.loads(host.check_output(f"python3 - <<'PYEOF'\n{ASK}\nPYEOF"))


@pytest.fixture(scope="module")
def container(serving_container):
    return serving_container


def params(show):
    out = {}
    for line in show["parameters"].splitlines():
        key, value = line.split(None, 1)
        out.setdefault(key, []).append(value)
    return out


def test_healthy_with_a_healthcheck_that_needs_no_curl(host, container):
    assert container["State"]["Health"]["Status"] == "healthy"
    assert container["Config"]["Healthcheck"]["Test"] == ["CMD", "ollama", "list"]
    with host.sudo():
        probe = host.run(f"docker exec {container['Id'][:12]} sh -c 'command -v curl || command -v wget'")
    assert probe.rc != 0, "the image has no curl or wget, like Ollama's: the healthcheck must not need them"


def test_published_on_loopback_only(published_bindings, container):
    # The engine's port (the release's own, or the front proxy's in front of it) and the release's
    # port are bound to loopback only.
    assert ("127.0.0.1", "11434") in published_bindings, published_bindings
    assert {address[0] for address in published_bindings} == {"127.0.0.1"}, published_bindings
    bindings = container["HostConfig"]["PortBindings"]["11434/tcp"]
    assert [b["HostIp"] for b in bindings] == ["127.0.0.1"], bindings


def test_server_settings_come_from_the_plan(container):
    env = dict(item.split("=", 1) for item in container["Config"]["Env"])
    assert env["OLLAMA_NUM_PARALLEL"] == "2" and env["OLLAMA_CONTEXT_LENGTH"] == "4096"
    assert env["OLLAMA_KEEP_ALIVE"] == "-1" and env["OLLAMA_MAX_LOADED_MODELS"] == "1"
    assert env["OLLAMA_KV_CACHE_TYPE"] == "f16" and env["OLLAMA_FLASH_ATTENTION"] == "0"
    assert container["HostConfig"]["Memory"] > 0, "the plan's release shape limits the container's memory"
    assert container["HostConfig"]["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in container["HostConfig"]["SecurityOpt"]


def test_variants_have_the_seed_prompts_and_parameters(api):
    names = {m["name"] for m in api["tags"]["models"]}
    assert {"phi4-mini-coder:latest", "phi4-mini-reasoning:latest", "phi4-mini:3.8b"} <= names, names
    reasoning, coder = api["reasoning"], api["coder"]
    assert reasoning["system"] == REASONING and coder["system"] == CODER
    assert params(reasoning)["temperature"] == ["0.3"] and params(reasoning)["top_p"] == ["0.8"]
    assert params(coder)["temperature"] == ["0.5"] and params(coder)["top_p"] == ["0.9"]
    assert reasoning["details"]["parent_model"] == "phi4-mini:3.8b"
    assert len(params(reasoning)["stop"]) == 3, "the base model's stop tokens stay under the variant's parameters"


def test_second_run_made_no_pull_and_no_create(host):
    with host.sudo():
        calls = json.loads(host.file("/root/emulator-calls.json").content_string)["calls"]
    writes = [(c["method"], c["path"], c["model"]) for c in calls
              if c["path"] in ("/api/pull", "/api/create", "/api/delete") or c["path"].startswith("/api/blobs")]
    assert writes == [("POST", "/api/pull", "phi4-mini:3.8b"),
                      ("POST", "/api/create", "phi4-mini-reasoning:latest"),
                      ("POST", "/api/create", "phi4-mini-coder:latest")], "first run: one pull, two creates; second: none"
    reads = [c for c in calls if c["path"] == "/api/show"]
    assert reads, "the second run compared the variants through /api/show"


def test_a_pull_cut_half_way_resumes(host):
    with host.sudo():
        cut = json.loads(host.file("/root/pull-cut.json").content_string)
        resumed = json.loads(host.file("/root/pull-resumed.json").content_string)
    first = cut["pull_progress"]
    assert first["outcome"] == "timeout" and 0 < first["bytes_completed"] < first["bytes_total"], cut
    assert "run the task again to resume" in cut["msg"]
    second = resumed["pull_progress"]
    assert second["outcome"] == "success"
    assert second["resumed_from_bytes"] >= first["bytes_completed"] > 0
    with host.sudo():
        log = host.file(f"{ROOT}/logs/pull.log").content_string
    assert "phi4-mini:3.8b" in log


def test_a_release_that_cannot_start_never_replaced_the_serving_one(host, api):
    with host.sudo():
        refusal = host.file("/root/refusal.txt").content_string
        projects = host.check_output("docker ps -a --format '{{.Label \"com.docker.compose.project\"}}'")
    assert refusal.startswith(host.backend.get_hostname() + ": release "), refusal
    assert "was not healthy beside the serving release" in refusal, refusal
    assert "slm-ollama-candidate" not in projects.split(), "the candidate is removed"
    names = {m["name"] for m in api["tags"]["models"]}
    assert "phi4-mini-reasoning:latest" in names, "the serving release still serves the models"


def test_engine_record_says_it_is_the_emulator(host):
    record = json.loads(host.file("/etc/ansible/facts.d/slm_endpoint.fact").content_string)
    with host.sudo():
        current = os.path.basename(host.file(f"{ROOT}/current").linked_to)
    assert record["engine"] == "ollama" and record["api"] == "ollama" and record["model"] == "phi4-mini-reasoning"
    assert record["label"].startswith("Ollama API emulator 0.1.0"), record["label"]
    assert record["release"] == current and record["previous_release"]
    assert record["url"] == "http://127.0.0.1:11434" and record["api_key_file"] == ""
    assert record["image"] == "slm-fleet/ollama-api-emulator:0.1.0"


def test_site_report_has_the_host_checked_through_the_record(host):
    report = json.loads(Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "reports", "site_report.json").read_text())
    [row] = report["hosts"]
    assert row["health"] == "healthy" and row["engine"] == "ollama"
    assert row["engine_label"].startswith("Ollama API emulator"), row["engine_label"]
    assert row["counted"] and row["checks"], "the reasoning suite ran against the emulator"


def test_air_gapped_model_imported_from_the_verified_gguf(host):
    with host.sudo():
        data = json.loads(host.file("/root/gguf-import.json").content_string)
    [entry] = data["manifest"]["files"]
    actions = [(a["action"], a["model"]) for a in data["models"]["actions"]]
    assert actions == [("import", "phi4-mini:gguf-local")], actions
    model_dir = f"{ROOT}/gguf/phi4-mini_3.8b"
    show = json.loads(host.check_output(
        "python3 -c \"import json,urllib.request; print(urllib.request.urlopen(urllib.request.Request("
        "'http://127.0.0.1:11434/api/show', data=json.dumps({'model': 'phi4-mini:gguf-local'}).encode()), "
        "timeout=10).read().decode())\""))
    assert f"sha256-{entry['sha256']}" in show["modelfile"], "built from the shipped file's blob"
    with host.sudo():
        versions = host.check_output(f"ls {ROOT}/gguf/phi4-mini_gguf-local")
        gguf = host.file(f"{ROOT}/gguf/phi4-mini_gguf-local/{versions.split()[0]}/{entry['path']}")
        assert gguf.sha256sum == entry["sha256"] and gguf.mode == 0o444
    assert not host.file(model_dir).exists, "the pulled model has no GGUF directory"
