"""slm_verify_verdict: passed = healthy AND every enforced gate passed; golden separate from reasoning."""

from __future__ import annotations

from ansible_collections.edgeai.slm_fleet.plugins.filter.slm_verify_verdict import slm_verify_verdict

HEALTHY = {"status": "healthy"}
GIBBERISH = {"passed": False, "summary": "0/9 checks passed (0% < 80%)"}
REASONS = {"passed": True, "summary": "9/9 checks passed (100% >= 80%)"}
REPRODUCED = {"passed": True, "summary": "3/3 golden answers reproduced"}
CHANGED = {"passed": False, "summary": "2/3 golden answers reproduced; failing: arithmetic: differs from token 0 of 24"}


def test_the_lab_passes_on_golden_answers_while_reporting_failed_reasoning() -> None:
    v = slm_verify_verdict(HEALTHY, GIBBERISH, REPRODUCED, "report", "enforce")
    assert v["passed"] and v["enforced"] and v["golden_status"] == "passed"
    assert v["reason"] == ("healthy; golden answers (enforced): 3/3 golden answers reproduced; "
                           "reasoning (reported): 0/9 checks passed (0% < 80%)")


def test_a_changed_release_fails_the_golden_gate_with_its_reason() -> None:
    v = slm_verify_verdict(HEALTHY, GIBBERISH, CHANGED, "report", "enforce")
    assert not v["passed"] and v["golden_status"] == "failed"
    assert v["reason"] == "golden answers (enforced): " + CHANGED["summary"]


def test_each_enforced_gate_counts_and_reported_ones_do_not() -> None:
    assert not slm_verify_verdict(HEALTHY, GIBBERISH, REPRODUCED, "enforce", "enforce")["passed"]
    assert slm_verify_verdict(HEALTHY, REASONS, CHANGED, "enforce", "report")["passed"]
    both = slm_verify_verdict(HEALTHY, GIBBERISH, CHANGED, "enforce", "enforce")
    assert both["reason"].startswith("golden answers (enforced)") and "; reasoning (enforced): 0/9" in both["reason"]


def test_without_a_golden_file_only_the_reasoning_gate_can_be_enforced() -> None:
    reported = slm_verify_verdict(HEALTHY, GIBBERISH, {}, "report", "enforce")
    assert reported == {"passed": True, "enforced": False, "golden_status": "none",
                        "reason": "healthy; reasoning (reported): 0/9 checks passed (0% < 80%)"}
    skipped = slm_verify_verdict(HEALTHY, GIBBERISH, {"skipped": True, "changed": False}, "report", "enforce")
    assert skipped["golden_status"] == "none" and not skipped["enforced"]
    assert not slm_verify_verdict(HEALTHY, {}, {}, "enforce", "enforce")["passed"], "an enforced suite must run"


def test_an_unhealthy_or_missing_engine_never_passes() -> None:
    down = slm_verify_verdict({"status": "down", "reason": "connection refused"}, {}, {}, "report", "enforce")
    assert down == {"passed": False, "enforced": False, "golden_status": "none",
                    "reason": "engine not healthy: connection refused"}
    none = slm_verify_verdict({}, {}, {}, "enforce", "enforce")
    assert not none["passed"] and "no engine deployed" in none["reason"]


def test_an_unreadable_golden_file_fails_the_golden_gate() -> None:
    golden = {"passed": False, "msg": "golden file /m/golden.json cannot be read: [Errno 2] No such file"}
    v = slm_verify_verdict(HEALTHY, GIBBERISH, golden, "report", "enforce")
    assert not v["passed"] and v["golden_status"] == "failed" and "cannot be read" in v["reason"]
