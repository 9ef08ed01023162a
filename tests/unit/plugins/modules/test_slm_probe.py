"""slm_probe main() in-process: correct server -> all pass; wrong server -> failures with reasons."""

from __future__ import annotations

import copy

from ansible_collections.edgeai.slm_fleet.plugins.modules import slm_probe
from ollama_api_emulator import OllamaAPIEmulator
from openai_script_server import ScriptedOpenAIServer
from seed_replies import CORRECT, GIBBERISH, WRONG
from jail_engine import IMAGE, require_docker

MODEL = "microsoft/Phi-4-mini-instruct"
RESULT_KEYS = {"name", "kind", "passed", "reason", "answer", "latency_s", "ttft_s", "tokens", "tokens_per_s"}


def args(url, checks, **kw):
    base = {"url": url, "model": MODEL, "checks": checks, "concurrency": 4, "code_image": IMAGE}
    base.update(kw)
    if base.get("code_isolation", "container") == "container" and any(c.get("kind") == "code" for c in checks):
        require_docker()
    return base


def test_correct_server_passes_every_check(run_module, seed_checks) -> None:
    with ScriptedOpenAIServer(CORRECT) as srv:
        r = run_module(slm_probe.main, args(srv.url, seed_checks, engine="vllm"))
    assert r["_rc"] == 0, r.get("msg")
    assert r["pass_rate"] == 1.0 and r["passed"] and not r["gate_failed"]
    assert [c["name"] for c in r["checks"]] == [c["name"] for c in seed_checks]  # suite order kept
    for c in r["checks"]:
        assert RESULT_KEYS <= set(c) and c["passed"], c
        assert c["latency_s"] is not None and c["tokens"]
    by = {c["name"]: c for c in r["checks"]}
    assert by["train_journey_time"]["answer"] == "2.4 h"
    assert by["compound_interest"]["answer"] == "5955.08 USD"
    assert by["rectangle_area_increase"]["answer"] == "44%"
    assert by["car_total_distance"]["answer"] == "270 mi"
    assert by["circle_area_tool_call"]["answer"] == "calculate_circle_area(radius=5)"
    assert by["circle_area_tool_call"]["ttft_s"] is None  # tool calls are asked without streaming
    assert by["train_journey_time"]["ttft_s"] is not None
    assert "def fibonacci" in by["fibonacci_dp"]["answer"]
    assert r["latency_p50_s"] is not None and r["tokens_per_s"] is not None and r["ttft_p50_s"] is not None
    assert r["summary"] == "9/9 checks passed (100% >= 80%)"


def test_wrong_server_fails_the_enforced_gate_with_reasons(run_module, seed_checks) -> None:
    with ScriptedOpenAIServer(WRONG) as srv:
        r = run_module(slm_probe.main, args(srv.url, seed_checks, gate="enforce"))
    assert r["_rc"] == 1 and r["failed"] and r["gate_failed"] and not r["passed"]
    assert r["pass_rate"] == 0.0
    msg = r["msg"]
    assert msg.startswith("reasoning gate failed for %s at %s: 0/9 checks passed (0%% < 80%%); failing: " % (MODEL, srv.url))
    by = {c["name"]: c for c in r["checks"]}
    train = by["train_journey_time"]
    assert train["answer"] == "3 h"
    assert train["reason"].startswith("expected 2.4 h ±0.01, got 3 h from '")
    assert "the answer is 3 hours" in train["reason"] and "train_journey_time: expected 2.4 h" in msg
    assert "expected 5955.08 USD ±0.01, got 5900 USD" in by["compound_interest"]["reason"]
    assert "expected 44% ±0.01, got 40%" in by["rectangle_area_increase"]["reason"]
    assert "expected 270 mi ±0.01, got 280 mi" in by["car_total_distance"]["reason"]
    assert "matched the forbidden pattern" in by["syllogism_cats"]["reason"]
    assert "fibonacci(90) == 2880067194370816120 -> timed out after 2.0 s" in by["fibonacci_dp"]["reason"]
    assert "gcd(48, 18) == 6 -> got 0, expected 6" in by["gcd_euclid"]["reason"]
    assert "binary_search([1, 3, 5, 7], 5) == 2 -> got True, expected 2" in by["binary_search"]["reason"]
    assert by["circle_area_tool_call"]["reason"] == (
        "expected calculate_circle_area(radius=5), got calculate_circle_area(radius=10)")
    assert {f["name"] for f in r["failures"]} == set(by)


def test_wrong_server_in_report_mode_records_without_failing(run_module, seed_checks) -> None:
    with ScriptedOpenAIServer(WRONG) as srv:
        r = run_module(slm_probe.main, args(srv.url, seed_checks, gate="report"))
    assert r["_rc"] == 0 and not r.get("failed")
    assert r["passed"] is False and r["gate_failed"] is False and r["pass_rate"] == 0.0
    assert len(r["failures"]) == 9 and all(f["reason"] for f in r["failures"])


def test_threshold_is_respected(run_module, seed_checks) -> None:
    # correct answers except one: 8/9 = 0.889 passes 0.8 and fails 0.9
    script = [e for e in CORRECT if e["match"] != "car travels at 60 mph"] + [e for e in WRONG if e["match"] == "car travels at 60 mph"]
    with ScriptedOpenAIServer(script) as srv:
        ok = run_module(slm_probe.main, args(srv.url, seed_checks, pass_threshold=0.8))
        bad = run_module(slm_probe.main, args(srv.url, seed_checks, pass_threshold=0.9))
    assert ok["_rc"] == 0 and ok["pass_rate"] == 0.8889 and ok["passed"]
    assert bad["_rc"] == 1 and bad["gate_failed"] and "failing: car_total_distance: expected 270 mi" in bad["msg"]


def test_gibberish_model_fails_everything_readably(run_module, seed_checks) -> None:
    with ScriptedOpenAIServer(GIBBERISH) as srv:
        r = run_module(slm_probe.main, args(srv.url, seed_checks, gate="report"))
    by = {c["name"]: c for c in r["checks"]}
    assert r["pass_rate"] == 0.0
    assert by["train_journey_time"]["reason"].startswith("expected 2.4 h ±0.01, found no final numeric answer in 'the of")
    assert by["fibonacci_dp"]["reason"].startswith("no Python code block in the reply")
    assert by["circle_area_tool_call"]["reason"].startswith("expected a call calculate_circle_area(radius=5), got no tool call")


def test_ollama_tool_call_is_informational(run_module, seed_checks) -> None:
    script = CORRECT[:-1] + [e for e in WRONG if e["match"] == "area of a circle"]
    with OllamaAPIEmulator(script) as emu:
        r = run_module(slm_probe.main, args(emu.url, seed_checks, api="ollama", model="phi4-mini", gate="enforce"))
    assert r["_rc"] == 0, r.get("msg")
    tool = [c for c in r["checks"] if c["kind"] == "tool_call"][0]
    assert tool["passed"] is False and tool["counted"] is False
    assert tool["reason"].startswith("informational here (not counted): expected calculate_circle_area(radius=5)")
    assert r["counted"] == 8 and r["pass_rate"] == 1.0
    assert r["tokens_per_s"] == 20.0  # the emulator's deterministic eval counters


def test_only_on_skips_checks(run_module, seed_checks) -> None:
    checks = copy.deepcopy(seed_checks)
    checks[0]["only_on"] = ["vllm"]
    with OllamaAPIEmulator(CORRECT) as emu:
        r = run_module(slm_probe.main, args(emu.url, checks, api="ollama", model="phi4-mini", engine="ollama"))
    assert r["checks"][0]["skipped"] and r["skipped_count"] == 1
    assert r["checks"][0]["reason"] == "skipped: runs only on vllm"


def test_malformed_checks_fail_even_in_report_mode(run_module) -> None:
    checks = [{"name": "t", "kind": "numeric", "prompt": "p", "expected": "two", "unit": "hours"},
              {"name": "r", "kind": "regex", "prompt": "p"}]
    r = run_module(slm_probe.main, args("http://127.0.0.1:9", checks, gate="report"))
    assert r["_rc"] == 1
    assert r["msg"].startswith("invalid slm_probe input (2 problems): ")
    assert "checks[0] 't': field 'expected' must be a number; got 'two' (str)" in r["problems"]
    assert "checks[1] 'r': field 'pattern' is required" in r["msg"]


def test_engine_errors_are_reported_per_check(run_module) -> None:
    checks = [{"name": "c", "kind": "contains", "prompt": "hello", "any_of": ["x"]}]
    with ScriptedOpenAIServer(CORRECT, model="other") as srv:
        r = run_module(slm_probe.main, args(srv.url, checks, gate="report"))
    c = r["checks"][0]
    assert c["error"] and not c["passed"] and c["reason"].startswith("request failed: HTTP 404")


def test_api_key_is_sent_and_masked(run_module) -> None:
    checks = [{"name": "c", "kind": "contains", "prompt": "A train travels 240 km", "any_of": ["2.4"]}]
    with ScriptedOpenAIServer(CORRECT, api_key="sk-verysecret") as srv:
        r = run_module(slm_probe.main, args(srv.url, checks, api_key="sk-verysecret"))
        sent = [q["headers"].get("authorization") for q in srv.requests]
    assert r["_rc"] == 0 and r["passed"]
    assert sent == ["Bearer sk-verysecret"]
    assert "sk-verysecret" not in r["_stdout"]


def _code_checks(seed_checks):
    return [c for c in seed_checks if c["kind"] == "code"]


def test_code_checks_without_docker_are_not_run_never_downgraded(run_module, seed_checks, tmp_path) -> None:
    socket = str(tmp_path / "no-docker.sock")
    with ScriptedOpenAIServer(CORRECT) as srv:
        r = run_module(slm_probe.main, dict(args(srv.url, seed_checks), code_docker_socket=socket))
    assert r["_rc"] == 0, r.get("msg")
    code = [c for c in r["checks"] if c["kind"] == "code"]
    assert len(code) == 3
    for c in code:
        assert c["skipped"] and not c["counted"] and not c["passed"] and c["details"]["isolation"] == "container"
        assert c["reason"] == ("not run: no isolation available: mode container needs Docker on the host: "
                               "%s does not exist (isolation container)" % socket)
    assert r["counted"] == 6 and r["pass_rate"] == 1.0 and r["code_isolation"] == "container"
    assert [n["name"] for n in r["not_run"]] == [c["name"] for c in code]
    assert r["summary"].startswith("6/6 checks passed (100% >= 80%); 3 code checks not run: not run: no isolation")


def test_code_checks_need_an_image_in_container_mode(run_module, seed_checks) -> None:
    r = run_module(slm_probe.main, dict(args("http://127.0.0.1:9", seed_checks), code_image=None))
    assert r["_rc"] == 1 and "code_image is required for code checks with code_isolation=container" in r["msg"]


def test_subprocess_unsafe_runs_only_when_named_and_says_so(run_module, seed_checks) -> None:
    with ScriptedOpenAIServer(CORRECT) as srv:
        r = run_module(slm_probe.main, args(srv.url, _code_checks(seed_checks), code_isolation="subprocess_unsafe",
                                            code_image=None))
    assert r["_rc"] == 0 and r["pass_rate"] == 1.0 and r["code_isolation"] == "subprocess_unsafe"
    for c in r["checks"]:
        assert c["details"]["isolation"] == "subprocess_unsafe"
        assert c["reason"].endswith("[ran in mode subprocess_unsafe: no isolation, opted in by name]")
