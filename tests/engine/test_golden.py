"""Golden answers against the real slm-engine on the tiny random-weight model.

The build records golden.json with the server's own code path; the same release served by a real
server (2 threads, 4 slots: not the 1 thread of the recording) reproduces it, and a changed release
fails it: a model built from another seed (other weights) and a server whose chat template changed.
That the same random-weight model fails the reasoning suite is test_verify_against_engine.py's.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import conftest
import model_cache
import pytest
from conftest import API_KEY, MODEL_ID, RunningServer, start_server, stop_server
from slm_engine import golden, manifest
from test_verify_against_engine import run

pytestmark = pytest.mark.slow

# A release whose prompt format changed: the older Phi-3 layout, a newline after every marker.
NEWLINE_TEMPLATE = """
import sys
from slm_engine import chat_template, completions
from slm_engine.prompt_tokens import Segment

def render(messages, tools, prefix=""):
    out = []
    for segment in chat_template.render_segments(messages, tools, prefix):
        out.append(segment)
        if segment.trusted and segment.text.endswith("|>"):
            out.append(Segment("\\n", True))
    return out

completions.render_segments = render
from slm_engine.__main__ import main
sys.exit(main(["serve"]))
"""


def check(server: RunningServer, golden_file: Path, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """slm_golden (the Ansible module, in its own process as on a host) against `server`."""
    args = {"url": server.url, "api": "openai", "model": MODEL_ID, "api_key": API_KEY, "path": str(golden_file)}
    return run("slm_golden", {**args, **extra}, tmp_path)


@pytest.fixture(scope="module")
def other_seed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The same architecture and build, weights drawn from seed 1."""
    model = model_cache.built_model("tiny", seed=1)[0]
    running = start_server(model, tmp_path_factory.mktemp("seed1") / "server.log", SLM_MAX_CONCURRENCY="4")
    yield running
    stop_server(running)


def test_the_build_records_golden_answers_covered_by_the_manifest(tiny_model: Path) -> None:
    doc = json.loads((tiny_model / "golden.json").read_text())
    data = manifest.read_manifest(tiny_model)
    assert data is not None and not manifest.verify(tiny_model, data)
    assert "golden.json" in {f["path"] for f in data["files"]}
    assert doc["prompt_set"] == golden.prompt_set() and doc["generator"]["threads"] == 1
    assert doc["generator"]["onnxruntime_genai"] == data["builder"]["onnxruntime_genai"]
    assert [a["name"] for a in doc["answers"]] == [p["name"] for p in golden.PROMPTS]
    for answer in doc["answers"]:
        assert len(answer["token_ids"]) == golden.MAX_TOKENS or answer["finish_reason"] == "stop"
        assert "".join(answer["pieces"]) == answer["text"] and answer["text"]


def test_the_recorded_golden_passes_against_the_real_engine(
    server: RunningServer, tiny_model: Path, tmp_path: Path
) -> None:
    result = check(server, tiny_model / "golden.json", tmp_path)
    assert result["_rc"] == 0 and result["passed"], result.get("msg")
    assert all(a["identical"] for a in result["answers"]), result["answers"]
    assert result["summary"] == "3/3 golden answers reproduced"


def test_a_model_built_from_another_seed_fails_the_golden_gate(
    other_seed_server: RunningServer, tiny_model: Path, tmp_path: Path
) -> None:
    result = check(other_seed_server, tiny_model / "golden.json", tmp_path)
    assert result["_rc"] == 1 and result["gate_failed"] and not result["passed"]
    failing = [a for a in result["answers"] if not a["passed"]]
    assert failing, result["answers"]
    for answer in failing:
        assert answer["first_diff_token"] is not None and answer["expected"] and answer["got"]
        assert f"differs from token {answer['first_diff_token']} of" in result["msg"]


def test_a_release_whose_chat_template_changed_fails_the_golden_gate(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conftest, "serve_command", lambda: [sys.executable, "-c", NEWLINE_TEMPLATE])
    changed = start_server(tiny_model, tmp_path / "server.log")
    try:
        result = check(changed, tiny_model / "golden.json", tmp_path, gate="report")
    finally:
        stop_server(changed)
    assert result["_rc"] == 0 and not result["passed"] and not result["gate_failed"], "report mode only records"
    assert any(not a["passed"] for a in result["answers"]), result["answers"]
