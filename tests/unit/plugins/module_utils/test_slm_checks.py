"""Check schema validation and the judges for each check kind (no engine involved)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_check_schema import validate_checks
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_checks import (
    extract_code,
    judge,
    required_names,
)
import seed_replies
from jail_engine import jail, require_docker

SUITE = Path(__file__).resolve().parents[4] / "roles/verify/files/suites/seed_reasoning.yml"


@pytest.fixture(scope="module")
def suite():
    return {c["name"]: c for c in yaml.safe_load(SUITE.read_text())["checks"]}


def test_default_suite_is_valid_and_complete(suite) -> None:
    assert validate_checks(list(suite.values())) == []
    assert sorted(c["kind"] for c in suite.values()) == sorted(
        ["numeric"] * 4 + ["regex"] + ["code"] * 3 + ["tool_call"])
    expected = {n: c.get("expected") for n, c in suite.items() if c["kind"] == "numeric"}
    assert expected == {"train_journey_time": 2.4, "compound_interest": 5955.08, "rectangle_area_increase": 44,
                        "car_total_distance": 270}
    assert suite["circle_area_tool_call"]["arguments"] == {"radius": 5}


def test_default_suite_keeps_the_seed_prompts_verbatim(suite) -> None:
    seed = next(Path("/work/shared/seeds").glob("000_*.txt"), None) if Path("/work/shared/seeds").exists() else None
    if seed is None:
        pytest.skip("the seed tutorial is not available at /work/shared/seeds on this machine")
    text = seed.read_text()
    for check in suite.values():
        seed_line = check["prompt"].split("\n")[0]  # code prompts add a contract on line 2
        assert seed_line in text, check["name"]


@pytest.mark.parametrize("script_name,expect_pass", [("correct", True), ("wrong", False)])
def test_seed_replies_are_judged(suite, script_name, expect_pass) -> None:
    require_docker()
    script = seed_replies.SCRIPTS[script_name]
    for check in suite.values():
        entry = next(e for e in script if e["match"].lower() in check["prompt"].lower())
        calls = [{"name": c["name"], "arguments": c["arguments"]} for c in entry.get("tool_calls", [])]
        passed, reason, _answer, _details = judge(check, entry.get("reply", ""), calls, runner=jail)
        assert passed is expect_pass, "%s: %s" % (check["name"], reason)


# ------------------------------------------------------------------------------------- validation

def _errors(check):
    return validate_checks([check])


def test_validation_names_index_field_given_and_allowed() -> None:
    errs = validate_checks([
        {"name": "ok", "kind": "contains", "prompt": "p", "any_of": ["x"]},
        {"name": "train", "kind": "numeric", "prompt": "p", "expected": "2.4", "tolerance": -1, "expect": 2},
    ])
    assert "checks[1] 'train': field 'expected' must be a number; got '2.4' (str)" in errs
    assert "checks[1] 'train': field 'tolerance' must be a number >= 0; got -1 (int)" in errs
    assert any(e.startswith("checks[1] 'train': unknown field 'expect'; allowed: ") and "expected" in e for e in errs)
    assert len(errs) == 3


@pytest.mark.parametrize("check,fragment", [
    ({"kind": "numeric", "prompt": "p", "expected": 1}, "field 'name' is required"),
    ({"name": "a", "kind": "essay", "prompt": "p"}, "field 'kind' must be one of: numeric, regex, contains"),
    ({"name": "a", "kind": "numeric", "expected": 1}, "field 'prompt' is required (a non-empty string)"),
    ({"name": "a", "kind": "numeric", "prompt": "p", "expected": 1, "unit": "parsecs"}, "known units: h, min"),
    ({"name": "a", "kind": "regex", "prompt": "p", "pattern": "(unclosed"}, "valid regular expression"),
    ({"name": "a", "kind": "contains", "prompt": "p"}, "needs 'any_of' or 'all_of'"),
    ({"name": "a", "kind": "code", "prompt": "p", "tests": ["gcd(48, 18 == 6"]}, "does not parse"),
    ({"name": "a", "kind": "code", "prompt": "p", "tests": []}, "non-empty list of Python expressions"),
    ({"name": "a", "kind": "tool_call", "prompt": "p", "tools": [{"type": "function", "function": {"name": "f"}}],
      "function": "g"}, "must name one of the offered tools (f)"),
    ({"name": "a", "kind": "tool_call", "prompt": "p", "tools": "f", "function": "f"}, "OpenAI tool definitions"),
    ({"name": "a b", "kind": "numeric", "prompt": "p", "expected": 1}, "field 'name' must be 1-64 characters"),
    ({"name": "a", "kind": "numeric", "prompt": "p", "expected": True}, "field 'expected' must be a number"),
    ({"name": "a", "kind": "numeric", "prompt": "p", "expected": 1, "only_on": "vllm"}, "non-empty list of"),
])
def test_validation_messages(check, fragment) -> None:
    errs = _errors(check)
    assert any(fragment in e for e in errs), errs


def test_validation_of_the_list_itself() -> None:
    assert validate_checks([]) == ["checks must be a non-empty list of check definitions; got [] (list)"]
    assert validate_checks(["x"])[0].startswith("checks[0]: must be a mapping")
    dup = validate_checks([{"name": "a", "kind": "regex", "prompt": "p", "pattern": "x"}] * 2)
    assert dup == ["checks[1] 'a': name 'a' is already used by checks[0]; names must be unique"]


# ------------------------------------------------------------------------------------------ judges

NUM = {"name": "t", "kind": "numeric", "prompt": "p", "expected": 2.4, "unit": "h", "tolerance": 0.05}


def test_numeric_reasons_are_readable() -> None:
    ok, reason, answer, details = judge(NUM, "Final answer: 2 hours and 24 minutes")
    assert ok and answer == "2.4 h" and details["tier"] == "answer_marker"
    ok, reason, answer, _ = judge(NUM, "The speed rises, so it is not 2.4 hours, the answer is 3 hours.")
    assert not ok and answer == "3 h"
    assert reason.startswith("expected 2.4 h ±0.05, got 3 h from '")
    assert "the answer is 3 hours" in reason and "rejected or retracted" in reason
    ok, reason, answer, _ = judge(NUM, "the of banana seventeen")
    assert not ok and answer is None and "found no final numeric answer" in reason


def test_numeric_tolerances() -> None:
    rel = dict(NUM, tolerance=0, rel_tolerance=0.05)
    assert judge(rel, "It takes 2.5 hours.")[0] is True
    assert judge(dict(rel, rel_tolerance=0.01), "It takes 2.5 hours.")[0] is False
    exact = {k: v for k, v in NUM.items() if k != "tolerance"}
    assert judge(exact, "It takes 2.4 hours.")[0] is True
    assert judge(exact, "It takes 2.41 hours.")[0] is False


def test_regex_and_not_pattern() -> None:
    chk = {"name": "r", "kind": "regex", "prompt": "p", "pattern": r"cannot conclude", "not_pattern": r"\A\W*yes\b"}
    assert judge(chk, "No, we CANNOT conclude that.")[0] is True
    assert judge(dict(chk, ignore_case=False), "No, we CANNOT conclude that.")[0] is False
    ok, reason, _, _ = judge(chk, "Yes. Although one cannot conclude...")
    assert not ok and "forbidden pattern" in reason
    ok, reason, _, _ = judge(chk, "Sure thing.")
    assert not ok and reason.startswith("no match for /cannot conclude/")


def test_contains_and_not_contains() -> None:
    c = {"name": "c", "kind": "contains", "prompt": "p", "any_of": ["Paris"], "all_of": ["France"]}
    assert judge(c, "The capital of france is paris.")[0] is True
    assert judge(dict(c, ignore_case=False), "The capital of france is paris.")[0] is False
    ok, reason, _, _ = judge(c, "Paris.")
    assert not ok and "missing 'France'" in reason
    n = {"name": "n", "kind": "not_contains", "prompt": "p", "any_of": ["As an AI", "I cannot"]}
    assert judge(n, "42")[0] is True
    ok, reason, answer, _ = judge(n, "as an ai model I cannot")
    assert not ok and answer == ["As an AI", "I cannot"]


def test_code_block_selection() -> None:
    fence = "```"
    two = "%spython\ndef helper():\n    pass\n%s\ntext\n%spython\ndef gcd(a, b):\n    return 1\n%s" % ((fence,) * 4)
    code, how = extract_code(two, ["gcd"])
    assert "def gcd" in code and how == "all 2 fenced blocks joined"
    split = "%spython\ndef gcd(a, b):\n    return a\n%s\nUsage:\n%spython\nprint(gcd(4, 2))\n%s" % ((fence,) * 4)
    code, how = extract_code(split, ["gcd"])
    assert how == "all 2 fenced blocks joined" and "print(gcd(4, 2))" in code
    parts = "%spython\nimport math\n%s\n%spython\ndef gcd(a, b):\n    return math.gcd(a, b)\n%s" % ((fence,) * 4)
    code, how = extract_code(parts, ["gcd"])
    assert how == "all 2 fenced blocks joined" and "import math" in code
    output = "%spython\ndef gcd(a, b):\n    return a\n%s\nOutput:\n%s\ngcd of 4 and 2 is 2\n%s" % ((fence,) * 4)
    assert extract_code(output, ["gcd"])[1] == "fenced block 1 of 1"
    assert extract_code("def gcd(a, b):\n    return 1\n", ["gcd"])[1] == "the whole reply (no fenced block)"
    assert extract_code("no code at all", ["gcd"]) == (None, "no Python code block in the reply")
    truncated = "%spython\ndef gcd(a, b):\n    return a\n" % fence  # cut off at max_tokens
    assert extract_code(truncated, ["gcd"])[1] == "fenced block 1 of 1"
    assert required_names(["gcd(48, 18) == 6", "len(fib(3)) == 3", "sorted(x) == x"]) == ["gcd", "fib"]


def test_code_judge_reports_failures() -> None:
    require_docker()
    chk = {"name": "g", "kind": "code", "prompt": "p", "tests": ["gcd(48, 18) == 6", "gcd(17, 5) == 1"]}
    ok, reason, answer, details = judge(chk, seed_replies.GCD_BAD, runner=jail)
    assert not ok and reason.startswith("0/2 tests passed; failed: gcd(48, 18) == 6 -> got 0, expected 6")
    assert "def gcd" in answer and len(details["tests"]) == 2
    ok, reason, _, _ = judge(chk, "Use math.gcd.")
    assert not ok and "no Python code block" in reason
    ok, reason, _, _ = judge(chk, "```python\ndef gcd(a, b):\n    return a %\n```", runner=jail)
    assert not ok and "failed to load: SyntaxError" in reason


def test_tool_call_judge() -> None:
    tools = [{"type": "function", "function": {"name": "calculate_circle_area"}}]
    chk = {"name": "c", "kind": "tool_call", "prompt": "p", "tools": tools, "function": "calculate_circle_area",
           "arguments": {"radius": 5}}
    call = {"name": "calculate_circle_area", "arguments": {"radius": 5.0}, "raw_arguments": '{"radius": 5.0}'}
    assert judge(chk, "", [call])[0] is True
    assert judge(chk, "", [dict(call, arguments={"radius": "5"})])[0] is True
    ok, reason, _, _ = judge(chk, "", [dict(call, arguments={"radius": 10})])
    assert not ok and reason == 'expected calculate_circle_area(radius=5), got calculate_circle_area(radius=10)'
    ok, reason, _, _ = judge(chk, "", [dict(call, name="area")])
    assert not ok and "got area(radius=5.0)" in reason
    ok, reason, _, _ = judge(chk, 'functools[{"name": "calculate_circle_area", "arguments": {"radius": 5}}]', [])
    assert not ok and "got no tool call" in reason and "--tool-call-parser phi4_mini_json" in reason
    extra = dict(call, arguments={"radius": 5, "unit": "cm"})
    ok, reason, _, _ = judge(chk, "", [extra])
    assert ok and "extra arguments: unit" in reason
    assert judge(dict(chk, allow_extra_arguments=False), "", [extra])[0] is False


SYLLOGISM_PASS = [
    "No, we cannot conclude that some cats are carnivores.",
    "We can't conclude that.",
    "The conclusion does not follow.",
    "It does not necessarily follow that some cats are carnivores.",
    "Not necessarily. The premises allow that no cat is a carnivore.",
    "This cannot be determined from the given premises.",
    "The syllogism is invalid.",
    "**No.** Based only on these premises, it is not possible to conclude that some cats are carnivores.",
    "No — this is the fallacy of the undistributed middle.",
    "We cannot logically conclude this from the given statements alone.",
]
SYLLOGISM_FAIL = [
    "Yes, we can conclude that some cats are carnivores.",
    "Yes. Since all cats are mammals and some mammals are carnivores, some cats must be carnivores.",
    "We can conclude that some cats are carnivores.",
    "**Yes**, it follows; this does not mean all cats are carnivores.",
    "Some cats are carnivores, indeed.",
    "",
]


@pytest.mark.parametrize("reply", SYLLOGISM_PASS)
def test_syllogism_cannot_conclude_passes(suite, reply) -> None:
    assert judge(suite["syllogism_cats"], reply)[0] is True


@pytest.mark.parametrize("reply", SYLLOGISM_FAIL)
def test_syllogism_affirmative_fails(suite, reply) -> None:
    assert judge(suite["syllogism_cats"], reply)[0] is False


def test_regex_pattern_lists() -> None:
    chk = {"name": "r", "kind": "regex", "prompt": "p", "pattern": ["alpha", "beta"], "not_pattern": ["gamma"]}
    assert validate_checks([chk]) == []
    assert judge(chk, "so beta it is")[0] is True
    assert judge(chk, "beta and gamma")[0] is False
    ok, reason, _, _ = judge(chk, "delta")
    assert not ok and reason == "no match for /alpha/ (or 1 other pattern) in 'delta'"
    assert "'(': " in validate_checks([dict(chk, pattern=["ok", "("])])[0]
