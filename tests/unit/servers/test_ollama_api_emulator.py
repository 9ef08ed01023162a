"""The Ollama API emulator (tests/servers/ollama_api_emulator.py) answers like Ollama's API.

It is an emulator, not Ollama: no Ollama binary can be obtained here. These tests pin the
behaviour later issues rely on (engine_ollama role, Modelfile variants via /api/create).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ollama_api_emulator import OllamaAPIEmulator
from seed_replies import CORRECT
from server_base import free_port


def call(url, method="GET", body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def ndjson(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def emu():
    with OllamaAPIEmulator(CORRECT) as server:
        yield server


def test_root_version_tags_and_no_health(emu) -> None:
    assert call(emu.url + "/")[::2] == (200, "Ollama is running")
    assert call(emu.url + "/", "HEAD")[0] == 200
    assert json.loads(call(emu.url + "/api/version")[2]) == {"version": "0.6.8"}
    tags = json.loads(call(emu.url + "/api/tags")[2])["models"]
    assert [t["name"] for t in tags] == ["phi4-mini:latest"]
    assert tags[0]["details"]["quantization_level"] == "Q4_K_M"
    assert call(emu.url + "/health")[0] == 404


def test_show(emu) -> None:
    status, _, body = call(emu.url + "/api/show", "POST", {"model": "phi4-mini"})
    assert status == 200 and json.loads(body)["details"]["family"] == "phi3"
    status, _, body = call(emu.url + "/api/show", "POST", {"name": "nope"})
    assert status == 404 and json.loads(body) == {"error": "model 'nope' not found"}
    assert call(emu.url + "/api/show", "POST")[0] == 400  # missing body


def test_chat_streams_ndjson_and_answers_plain(emu) -> None:
    msgs = [{"role": "user", "content": "A train travels 240 km in 3 hours..."}]
    status, ctype, body = call(emu.url + "/api/chat", "POST", {"model": "phi4-mini", "messages": msgs})
    lines = ndjson(body)
    assert status == 200 and ctype == "application/x-ndjson"
    assert all(not line["done"] for line in lines[:-1]) and lines[-1]["done"] and lines[-1]["done_reason"] == "stop"
    text = "".join(line["message"]["content"] for line in lines)
    assert "Final answer: 2.4 hours" in text
    assert lines[-1]["eval_count"] * 50000000 == lines[-1]["eval_duration"]
    status, _, body = call(emu.url + "/api/chat", "POST", {"model": "phi4-mini", "messages": msgs, "stream": False})
    assert status == 200 and json.loads(body)["message"]["content"] == text
    status, _, body = call(emu.url + "/api/generate", "POST", {"model": "phi4-mini", "prompt": msgs[0]["content"],
                                                               "stream": False})
    assert json.loads(body)["response"] == text


def test_chat_unknown_model(emu) -> None:
    status, _, body = call(emu.url + "/api/chat", "POST", {"model": "llama3", "messages": []})
    assert status == 404 and json.loads(body)["error"] == "model 'llama3' not found"


def test_pull(emu) -> None:
    status, _, body = call(emu.url + "/api/pull", "POST", {"model": "phi4-mini"})
    statuses = [line["status"] for line in ndjson(body)]
    assert status == 200 and statuses[0] == "pulling manifest" and statuses[-1] == "success"
    status, _, body = call(emu.url + "/api/pull", "POST", {"model": "nosuch:7b"})
    assert status == 200 and ndjson(body)[-1] == {"error": "pull model manifest: file does not exist"}
    status, _, body = call(emu.url + "/api/pull", "POST", {"model": "nosuch:7b", "stream": False})
    assert status == 500 and json.loads(body)["error"] == "pull model manifest: file does not exist"


def test_create_with_the_current_body(emu) -> None:
    body = {"model": "phi4-mini-reasoning", "from": "phi4-mini", "system": "You are an expert reasoning assistant.",
            "parameters": {"temperature": 0.3, "top_p": 0.8}}
    status, _, text = call(emu.url + "/api/create", "POST", body)
    lines = ndjson(text)
    assert status == 200 and lines[-1] == {"status": "success"}
    assert lines[0]["status"].startswith("using existing layer sha256:")
    names = [t["name"] for t in json.loads(call(emu.url + "/api/tags")[2])["models"]]
    assert names == ["phi4-mini-reasoning:latest", "phi4-mini:latest"]
    shown = json.loads(call(emu.url + "/api/show", "POST", {"model": "phi4-mini-reasoning"})[2])
    assert shown["system"] == body["system"] and "temperature" in shown["parameters"]
    assert shown["details"]["parent_model"] == "phi4-mini:latest"
    assert call(emu.url + "/api/create", "POST", dict(body, stream=False))[2] == '{"status": "success"}'


def test_create_rejects_the_old_modelfile_body(emu) -> None:
    old = {"model": "phi4-mini-reasoning", "modelfile": "FROM phi4-mini\nPARAMETER temperature 0.3\n"}
    for extra in ({}, {"stream": False}):
        status, _, body = call(emu.url + "/api/create", "POST", dict(old, **extra))
        assert status == 400 and json.loads(body) == {"error": "neither 'from' or 'files' was specified"}
    assert "phi4-mini-reasoning:latest" not in emu.models


def test_create_from_unknown_base(emu) -> None:
    status, _, body = call(emu.url + "/api/create", "POST", {"model": "x", "from": "ghost", "stream": False})
    assert status == 500 and "file does not exist" in json.loads(body)["error"]
    assert call(emu.url + "/api/create", "POST", {"model": "bad name!", "from": "phi4-mini"})[0] == 400


def test_delete(emu) -> None:
    assert call(emu.url + "/api/delete", "DELETE", {"model": "phi4-mini"})[0] == 200
    assert call(emu.url + "/api/delete", "DELETE", {"model": "phi4-mini"})[0] == 404
    assert json.loads(call(emu.url + "/api/tags")[2]) == {"models": []}


def test_runs_standalone() -> None:
    script = Path(__file__).resolve().parents[2] / "servers" / "ollama_api_emulator.py"
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(script), "--port", str(port), "--model", "phi4-mini"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                status, _, body = call("http://127.0.0.1:%d/api/version" % port)
                break
            except urllib.error.URLError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert status == 200 and json.loads(body)["version"] == "0.6.8"
    finally:
        proc.terminate()
        proc.wait(5)


# --------------------------------------------------------------------------- resumable pulls, blobs, /v1
def test_pull_cut_by_a_test_keeps_partial_state_and_resumes() -> None:
    with OllamaAPIEmulator(CORRECT, models=[], registry=["phi4-mini:3.8b"], pull_steps=4) as emu:
        status, _, body = call(emu.url + "/_emulator/interrupt-pull", "POST", {"after_steps": 2})
        assert status == 200 and json.loads(body) == {"interrupt_pull_after_steps": 2}
        first = ndjson(call(emu.url + "/api/pull", "POST", {"model": "phi4-mini:3.8b"})[2])
        assert first[-1]["completed"] == first[-1]["total"] // 2 + 1 and "success" not in str(first)
        assert json.loads(call(emu.url + "/api/tags")[2]) == {"models": []}
        second = ndjson(call(emu.url + "/api/pull", "POST", {"model": "phi4-mini:3.8b"})[2])
        assert second[1]["completed"] == first[-1]["completed"]  # resumed, not restarted
        assert second[-1] == {"status": "success"}
        assert [line["status"] for line in second[-3:]] == ["verifying sha256 digest", "writing manifest", "success"]


def test_calls_record_is_emulator_only_and_can_be_cleared(emu) -> None:
    call(emu.url + "/api/tags")
    call(emu.url + "/api/show", "POST", {"model": "phi4-mini"})
    calls = json.loads(call(emu.url + "/_emulator/calls")[2])["calls"]
    assert calls == [{"method": "GET", "path": "/api/tags", "model": None},
                     {"method": "POST", "path": "/api/show", "model": "phi4-mini"}]
    assert emu.writes() == []
    call(emu.url + "/_emulator/calls", "DELETE")
    assert json.loads(call(emu.url + "/_emulator/calls")[2]) == {"calls": []}


def test_blobs_head_post_and_create_from_files(emu) -> None:
    data = b"GGUF" + bytes(100)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert call(emu.url + "/api/blobs/" + digest, "HEAD")[0] == 404
    assert call(emu.url + "/api/blobs/sha256:abc", "HEAD")[0] == 400
    req = urllib.request.Request(emu.url + "/api/blobs/" + digest, data=data, method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 201
    bad = urllib.request.Request(emu.url + "/api/blobs/sha256:" + "0" * 64, data=data, method="POST")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(bad, timeout=5)
    assert exc.value.code == 400 and "digest mismatch" in exc.value.read().decode()
    assert call(emu.url + "/api/blobs/" + digest, "HEAD")[0] == 200
    status, _, body = call(emu.url + "/api/create", "POST", {"model": "tiny:1", "files": {"t.gguf": digest}})
    assert status == 200 and [x["status"] for x in ndjson(body)] == [
        "parsing GGUF", "using existing layer " + digest, "writing manifest", "success"]
    status, _, body = call(emu.url + "/api/create", "POST", {"model": "x:1", "files": {"/abs.gguf": digest}})
    assert status == 400 and json.loads(body)["error"] == "file path must be relative"
    missing = {"model": "x:1", "files": {"m.gguf": "sha256:" + "1" * 64}, "stream": False}
    status, _, body = call(emu.url + "/api/create", "POST", missing)
    assert status == 500 and "no such file or directory" in json.loads(body)["error"]


def test_create_merges_parameters_over_the_base_and_keeps_its_template(emu) -> None:
    call(emu.url + "/api/create", "POST", {"model": "v", "from": "phi4-mini", "parameters": {"temperature": 0.5}})
    shown = json.loads(call(emu.url + "/api/show", "POST", {"model": "v"})[2])
    assert shown["parameters"].splitlines() == ['stop                           "<|end|>"',
                                                'stop                           "<|user|>"',
                                                'stop                           "<|assistant|>"',
                                                "temperature                    0.5"]
    base = json.loads(call(emu.url + "/api/show", "POST", {"model": "phi4-mini"})[2])
    assert shown["template"] == base["template"] and shown["system"] == ""
    assert "FROM /root/.ollama/models/blobs/sha256-" in shown["modelfile"]


def test_v1_layer_speaks_sse(emu) -> None:
    models = json.loads(call(emu.url + "/v1/models")[2])
    assert models["object"] == "list" and models["data"][0]["id"] == "phi4-mini:latest"
    body = {"model": "phi4-mini", "stream": True, "messages": [{"role": "user", "content": "A train travels"}]}
    status, ctype, text = call(emu.url + "/v1/chat/completions", "POST", body)
    events = [line[6:] for line in text.split("\n\n") if line.startswith("data: ")]
    assert status == 200 and ctype == "text/event-stream" and events[-1] == "[DONE]"
    finish = json.loads(events[-2])
    assert finish["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    status, _, text = call(emu.url + "/v1/chat/completions", "POST", dict(body, model="nope"))
    assert status == 404 and json.loads(text)["error"]["type"] == "not_found_error"
