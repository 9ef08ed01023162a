"""slm_golden main() in-process against a scripted OpenAI server: reproduced, changed, unusable file."""

from __future__ import annotations

import json
from pathlib import Path

from ansible_collections.edgeai.slm_fleet.plugins.modules import slm_golden
from openai_script_server import ScriptedOpenAIServer

MODEL = "tiny-phi3"
ANSWERS = [("greeting", "Hello", [" vi"] * 6), ("arithmetic", "17 + 25", [" mu"] * 6)]


def golden_file(tmp_path: Path) -> Path:
    doc = {"schema": 1, "prompt_set": {"name": "t", "version": 1, "sha256": "0" * 64},
           "generator": {"onnxruntime_genai": "0.18.0", "slm_engine": "0.1.0", "threads": 1, "decoding": "greedy"},
           "answers": [{"name": name, "messages": [{"role": "user", "content": prompt}], "max_tokens": 6,
                        "token_ids": [352] * 6, "pieces": pieces, "text": "".join(pieces), "finish_reason": "length"}
                       for name, prompt, pieces in ANSWERS]}
    path = tmp_path / "golden.json"
    path.write_text(json.dumps(doc))
    return path


def script(greeting: str, arithmetic: str):
    return [{"match": "Hello", "reply": greeting}, {"match": "17 + 25", "reply": arithmetic}]


def test_a_reproducing_engine_passes_and_is_asked_greedily(run_module, tmp_path: Path) -> None:
    with ScriptedOpenAIServer(script(" vi" * 6, " mu" * 6), model=MODEL) as srv:
        r = run_module(slm_golden.main, {"url": srv.url, "model": MODEL, "path": str(golden_file(tmp_path))})
        asked = [q["body"] for q in srv.requests if q["path"] == "/v1/chat/completions"]
    assert r["_rc"] == 0 and r["passed"] and not r["gate_failed"] and r["changed"] is False
    assert r["summary"] == "2/2 golden answers reproduced"
    assert [a["name"] for a in r["answers"]] == ["greeting", "arithmetic"] and all(a["identical"] for a in r["answers"])
    assert [(b["temperature"], b["max_tokens"], b["messages"][-1]["content"]) for b in asked] == [
        (0.0, 6, "Hello"), (0.0, 6, "17 + 25")]


def test_a_changed_answer_fails_the_gate_with_position_expected_and_got(run_module, tmp_path: Path) -> None:
    with ScriptedOpenAIServer(script(" vi" * 6, " mu mu zo zo zo zo"), model=MODEL) as srv:
        r = run_module(slm_golden.main, {"url": srv.url, "model": MODEL, "path": str(golden_file(tmp_path))})
    assert r["_rc"] == 1 and r["gate_failed"] and not r["passed"]
    bad = r["answers"][1]
    assert bad["first_diff_token"] == 2 and bad["expected"] == " mu mu mu mu" and bad["got"] == " zo zo zo zo"
    assert "golden gate failed for tiny-phi3" in r["msg"] and "arithmetic: differs from token 2 of 6" in r["msg"]


def test_report_mode_records_without_failing(run_module, tmp_path: Path) -> None:
    with ScriptedOpenAIServer(script("no", "no"), model=MODEL) as srv:
        r = run_module(slm_golden.main, {"url": srv.url, "model": MODEL, "path": str(golden_file(tmp_path)),
                                         "gate": "report"})
    assert r["_rc"] == 0 and not r["passed"] and not r["gate_failed"]
    assert r["summary"].startswith("0/2 golden answers reproduced; failing: greeting: differs from token 0 of 6")


def test_an_unusable_file_or_tolerance_fails_before_any_request(run_module, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema": 1, "answers": []}')
    with ScriptedOpenAIServer(script("", ""), model=MODEL) as srv:
        r = run_module(slm_golden.main, {"url": srv.url, "model": MODEL, "path": str(broken)})
        missing = run_module(slm_golden.main, {"url": srv.url, "model": MODEL, "path": str(tmp_path / "none.json")})
        tol = run_module(slm_golden.main, {"url": srv.url, "model": MODEL, "path": str(golden_file(tmp_path)),
                                           "min_prefix_ratio": 2.0})
        posted = [q for q in srv.requests if q["method"] == "POST"]
    assert r["_rc"] == 1 and "answers must be a non-empty list" in r["msg"] and str(broken) in r["msg"]
    assert missing["_rc"] == 1 and "cannot be read" in missing["msg"]
    assert tol["_rc"] == 1 and "min_prefix_ratio must be a fraction between 0 and 1; got 2.0" in tol["msg"]
    assert posted == []


def test_an_engine_that_does_not_answer_fails_each_answer(run_module, tmp_path: Path) -> None:
    with ScriptedOpenAIServer(script("", ""), model=MODEL, fail_plan={"/v1/chat/completions": [500] * 20}) as srv:
        r = run_module(slm_golden.main, {"url": srv.url, "model": MODEL, "path": str(golden_file(tmp_path)),
                                         "gate": "report"})
    assert not r["passed"] and all(a["reason"].startswith("request failed") for a in r["answers"])
