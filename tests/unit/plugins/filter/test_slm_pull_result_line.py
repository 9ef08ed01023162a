"""Filter slm_pull_result_line: one line per gateway from its pull agent's last result."""

from __future__ import annotations

from ansible_collections.edgeai.slm_fleet.plugins.filter.slm_pull_result_line import (
    FilterModule,
    slm_pull_result_line,
)

COMMIT = "3f2a9c1b7e4d" + "0" * 28


def test_a_successful_run_gives_time_commit_and_the_host_recap():
    line = slm_pull_result_line({"host": "gw-07", "status": "ok", "finished": "2026-12-02T06:41:09+00:00",
                                 "commit": COMMIT, "reason": "",
                                 "recap": {"gw-07": {"ok": 120, "changed": 0, "failed": 0, "unreachable": 0},
                                           "localhost": {"ok": 9, "changed": 1, "failed": 0, "unreachable": 0}}})
    assert line == "gw-07: ok at 2026-12-02T06:41:09+00:00, commit 3f2a9c1b7e4d, recap ok=120 changed=0 failed=0 unreachable=0"


def test_a_refused_run_names_the_reason_and_the_last_success():
    line = slm_pull_result_line({"host": "gw-07", "status": "refused", "finished": "t2", "commit": None,
                                 "remote_commit": "b" * 40, "reason": "main points at bbbb, pinned to 3f2a",
                                 "recap": {}, "last_success": {"finished": "t1", "commit": COMMIT}})
    assert line == ("gw-07: refused at t2, commit bbbbbbbbbbbb - main points at bbbb, pinned to 3f2a "
                    "(last success t1, commit 3f2a9c1b7e4d)")


def test_a_host_without_a_result_says_so_and_long_reasons_are_cut():
    assert slm_pull_result_line({"host": "gw-08", "status": "unreachable"}) == "gw-08: unreachable"
    line = slm_pull_result_line({"host": "gw-09", "status": "failed", "reason": "x" * 1000})
    assert len(line) < 400 and line.startswith("gw-09: failed - xxx")
    assert slm_pull_result_line("garbage").startswith("invalid pull result")


def test_the_filter_is_registered():
    assert FilterModule().filters()["slm_pull_result_line"] is slm_pull_result_line
