"""Rollout decisions: batch sizes, a batch's verdict against the threshold, the summary."""

from __future__ import annotations

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.filter.slm_rollout import (
    slm_rollout_batch_errors,
    slm_rollout_summary,
    slm_rollout_verdict,
)
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.rollout import batch_sizes

SETTINGS = {"batches": [1, "25%", "100%"], "max_fail_percentage": 0, "on_failure": "rollback_batch"}


@pytest.mark.parametrize("spec, hosts, sizes", [
    ([1, "25%", "100%"], 4, [1, 1, 2]),
    ([1, "25%", "100%"], 10, [1, 2, 7]),
    ([1, "25%", "100%"], 1, [1]),
    (["100%"], 5, [5]),
    ([2], 5, [2, 2, 1]),
    (["10%"], 4, [1, 1, 1, 1]),   # rounded down, at least one host
    (["3"], 4, [3, 1]),
])
def test_batch_sizes_follow_ansible_serial(spec, hosts, sizes):
    assert batch_sizes(spec, hosts) == sizes


@pytest.mark.parametrize("spec, fragment", [
    ([], "non-empty list"),
    ("25%", "non-empty list"),
    ([0], "item 1 is 0: a host count must be at least 1"),
    ([1, "150%"], "item 2 is '150%': a percentage must be above 0% and at most 100%"),
    ([True], "item 1 is True"),
    ([1, "a quarter"], "item 2 is 'a quarter'"),
])
def test_bad_batch_lists_are_explained(spec, fragment):
    errors = slm_rollout_batch_errors(spec)
    assert errors and any(fragment in e for e in errors), errors


def test_good_batch_lists_have_no_errors():
    assert slm_rollout_batch_errors([1, "25%", "100%"]) == []
    assert slm_rollout_batch_errors([2, " 50 % ", "3"]) == []


@pytest.mark.parametrize("outcomes, threshold, failed, exceeded", [
    ({"a": "passed", "b": "passed"}, 0, [], False),
    ({"a": "passed", "b": "failed"}, 0, ["b"], True),
    ({"a": "passed", "b": "failed"}, 50, ["b"], False),      # 50 % is not above 50 %
    ({"a": "passed", "b": "failed", "c": "failed"}, 50, ["b", "c"], True),
    ({"a": "unchanged", "b": None}, 0, ["b"], True),          # no record: killed or unreachable mid-batch
    ({"a": "passed", "b": "in progress"}, 49.9, ["b"], True),
    ({"a": "failed"}, 100, ["a"], False),
])
def test_batch_verdict_counts_failed_and_unfinished_hosts(outcomes, threshold, failed, exceeded):
    records = {h: ({"outcome": o} if o else None) for h, o in outcomes.items()}
    verdict = slm_rollout_verdict(list(outcomes), records, threshold)
    assert verdict["failed"] == failed and verdict["exceeded"] is exceeded


def test_summary_of_an_aborted_rollout_names_batch_hosts_and_releases():
    records = {
        "gw-1": {"batch": 1, "outcome": "rolled back", "release_before": "aaa", "release": "aaa",
                 "reason": "Apply the gate: reasoning gate; switched back to aaa, healthy"},
        "gw-2": {"batch": 2, "outcome": "not started", "release_before": "aaa", "release": "aaa",
                 "reason": "batch 1 aborted the rollout"},
        "gw-3": None,
    }
    state = {"batch": 2, "aborted": True, "failed_batch": 1, "failed_hosts": ["gw-1"], "reason": "1 of 1 host(s) failed"}
    result = slm_rollout_summary(records, "edge", state, ["gw-1", "gw-2", "gw-3"], SETTINGS)
    assert result["status"] == "aborted" and result["failed_batch"] == 1 and result["releases"] == ["aaa"]
    assert result["hosts"]["gw-3"]["outcome"] == "not in this run"
    assert result["lines"][0].startswith("rollout of site edge: aborted at batch 1 (hosts that failed: gw-1;")
    assert result["lines"][1] == "  gw-1: batch 1, rolled back, serves aaa - Apply the gate: reasoning gate; switched back to aaa, healthy"
    assert result["lines"][2] == "  gw-2: batch 2, not started, serves aaa - batch 1 aborted the rollout"


def test_summary_statuses_and_unfinished_hosts():
    records = {"gw-1": {"batch": 1, "outcome": "passed", "release_before": "aaa", "release": "bbb", "downtime_s": 0.0},
               "gw-2": {"batch": 2, "outcome": "in progress", "release_before": "aaa", "release": "aaa"}}
    running = slm_rollout_summary(records, "s", {"batch": 2}, ["gw-1", "gw-2"], SETTINGS)
    assert running["status"] == "in progress"
    assert "did not finish its batch" in running["hosts"]["gw-2"]["reason"]
    assert running["lines"][1] == "  gw-1: batch 1, passed, serves bbb (was aaa), switch gap 0.0 s"
    assert running["hosts"]["gw-2"]["outcome"] == "in progress", "its batch is still running"
    done = slm_rollout_summary(records, "s", {"batch": 2, "finished": True}, ["gw-1", "gw-2"], SETTINGS)
    assert done["status"] == "completed" and done["releases"] == ["aaa", "bbb"]
    # Once its batch was judged, a host that never finished it counted as failed: the summary says so.
    assert done["hosts"]["gw-2"]["outcome"] == "failed"
    assert "did not finish its batch" in done["hosts"]["gw-2"]["reason"]
    later = slm_rollout_summary(records, "s", {"batch": 3}, ["gw-1", "gw-2"], SETTINGS)
    assert later["hosts"]["gw-2"]["outcome"] == "failed"
