"""The Ollama model-management client and its pull-progress tracker, against the Ollama API emulator."""

from __future__ import annotations

import hashlib
import json

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.ollama_api import (
    OllamaAPI,
    OllamaError,
    PullTracker,
    canonical,
)
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_http import HttpTransport
from ollama_api_emulator import OllamaAPIEmulator
from seed_replies import CORRECT

NAME = "phi4-mini:3.8b"


@pytest.fixture
def emu():
    with OllamaAPIEmulator(CORRECT, models=[], registry=[NAME], pull_steps=10) as server:
        yield server


def api(emu) -> OllamaAPI:
    return OllamaAPI(HttpTransport(emu.url, retries=0))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_tracker_reads_ollamas_documented_stream(tmp_path) -> None:
    clock = Clock()
    log = tmp_path / "p.log"
    t = PullTracker(NAME, str(log), interval_s=5, clock=clock)
    lines = [{"status": "pulling manifest"},
             {"status": "pulling 3e9fd5f2a4c8", "digest": "sha256:3e9f", "total": 2000, "completed": 500},
             {"status": "pulling 3e9fd5f2a4c8", "digest": "sha256:3e9f", "total": 2000, "completed": 1000},
             {"status": "pulling 3e9fd5f2a4c8", "digest": "sha256:3e9f", "total": 2000, "completed": 2000},
             {"status": "pulling 0a1b2c3d4e5f", "digest": "sha256:0a1b", "total": 100},
             {"status": "pulling 0a1b2c3d4e5f", "digest": "sha256:0a1b", "total": 100, "completed": 100},
             {"status": "verifying sha256 digest"}, {"status": "writing manifest"},
             {"status": "removing unused layers"}, {"status": "success"}]
    for i, line in enumerate(lines):
        clock.now = i * 1.0
        t.feed(json.dumps(line))
    summary = t.finish("success")
    assert summary["bytes_total"] == 2100 and summary["bytes_completed"] == 2100 and summary["percent"] == 100.0
    assert summary["resumed_from_bytes"] == 500  # the first line of a layer: what an earlier pull left
    assert summary["statuses"] == ["pulling manifest", "pulling layers", "verifying sha256 digest",
                                   "writing manifest", "removing unused layers", "success"]
    written = log.read_text().splitlines()
    # new layers and status changes always; repeated progress of one layer at most every 5 s
    assert len(written) == 8 and all(NAME in w for w in written)
    assert "resumed from 0.00 GB" in written[1] and written[-1].endswith("outcome=success, fetched 0.00 GB/0.00 GB "
                                                                         "(100.0%), resumed from 0.00 GB")


def test_tracker_keeps_the_error_line() -> None:
    t = PullTracker(NAME)
    t.feed('{"status":"pulling manifest"}')
    t.feed('{"error":"pull model manifest: file does not exist"}')
    t.feed("not json")
    assert t.error == "pull model manifest: file does not exist" and not t.success


def test_pull_cut_half_way_then_resumed(emu) -> None:
    emu.interrupt_pull_after_steps = 5
    with pytest.raises(OllamaError) as exc:
        api(emu).pull(NAME, 30, PullTracker(NAME))
    cut = exc.value.result
    assert cut["outcome"] == "interrupted" and cut["percent"] == pytest.approx(50.0, abs=1)
    layer = emu.store.registry[NAME][0]
    assert emu.store.partial[layer.digest] == cut["layers"][[x["digest"] for x in cut["layers"]].index(layer.digest)][
        "completed"]
    done = api(emu).pull(NAME, 30, PullTracker(NAME))
    assert done["outcome"] == "success" and done["resumed_from_bytes"] == cut["bytes_completed"]
    assert emu.store.partial == {} and NAME in emu.models


def test_pull_timeout_keeps_partial_state(emu) -> None:
    emu.pull_step_s = 0.2
    with pytest.raises(OllamaError) as exc:
        api(emu).pull(NAME, 0.5, PullTracker(NAME))
    assert exc.value.result["outcome"] == "timeout" and "pull_timeout=0s" in str(exc.value)
    assert NAME not in emu.models
    emu.pull_step_s = 0.0
    again = api(emu).pull(NAME, 30, PullTracker(NAME))  # the client went away: Ollama kept the bytes
    assert again["outcome"] == "success" and again["resumed_from_bytes"] > 0


def test_blob_upload_and_its_errors(emu, tmp_path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF" + b"x" * 5000)
    digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    client = api(emu)
    assert client.blob_exists(digest) is False
    client.push_blob(str(path), digest, 10)
    assert client.blob_exists(digest) is True and emu.store.blobs[digest]["size"] == 5004
    with pytest.raises(OllamaError) as exc:
        client.push_blob(str(path), "sha256:" + "1" * 64, 10)
    assert "digest mismatch" in str(exc.value)
    with pytest.raises(OllamaError) as exc:
        client.blob_exists("sha256:short")
    assert "HTTP 400" in str(exc.value)  # HEAD answers carry no body


def test_errors_name_the_call_and_the_answer(emu) -> None:
    with pytest.raises(OllamaError) as exc:
        api(emu).create({"model": "v", "from": "ghost:1"}, 5)
    assert "creating model v" in str(exc.value) and "file does not exist" in str(exc.value)
    assert api(emu).show("ghost:1") is None
    dead = OllamaAPI(HttpTransport("http://127.0.0.1:9", retries=0))
    with pytest.raises(OllamaError) as exc:
        dead.version()
    assert "connection refused" in str(exc.value)


def test_canonical_is_the_name_ollama_lists() -> None:
    assert canonical("phi4-mini") == "phi4-mini:latest"
    assert canonical("library/phi4-mini:3.8b") == canonical("registry.ollama.ai/library/phi4-mini:3.8b") == \
        "phi4-mini:3.8b"
    assert canonical("team/phi4:v1") == "team/phi4:v1" and canonical("mirror.local:5000/phi4") == "mirror.local:5000/phi4:latest"
