"""bench/scale_host_tasks.py and bench/scale_lab.py: recap counting, figures, arguments, baseline tree (no hosts, no timings)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))
import scale_host_tasks as bench  # noqa: E402  # pylint: disable=wrong-import-position,import-error
import scale_lab as lab  # noqa: E402  # pylint: disable=wrong-import-position,import-error

RECAP_OUTPUT = """\
PLAY RECAP *********************************************************************
scale-bench-001            : ok=3    changed=0    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0
scale-bench-002            : ok=1    changed=0    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0

PLAY RECAP *********************************************************************
scale-bench-001            : ok=17   changed=3    unreachable=0    failed=0    skipped=3    rescued=0    ignored=0
scale-bench-002            : ok=16   changed=0    unreachable=1    failed=1    skipped=2    rescued=0    ignored=0


TASKS RECAP ********************************************************************
Wednesday 02 December 2026  01:36:12 +0000 (0:00:00.067)       0:00:13.559 ****
"""


def test_the_last_recap_is_read_per_host():
    recap = lab.parse_recap(RECAP_OUTPUT)
    assert recap == {
        "scale-bench-001": {"ok": 17, "changed": 3, "unreachable": 0, "failed": 0, "skipped": 3, "rescued": 0, "ignored": 0},
        "scale-bench-002": {"ok": 16, "changed": 0, "unreachable": 1, "failed": 1, "skipped": 2, "rescued": 0, "ignored": 0},
    }


def test_host_tasks_do_not_count_changed_twice():
    # changed tasks are already in ok: 17 + 3 + (16 + 2 + 1 + 1)
    assert lab.host_tasks(lab.parse_recap(RECAP_OUTPUT)) == 40


def test_output_without_a_recap_has_no_host_tasks():
    assert lab.parse_recap("ERROR! the playbook could not be found\n") == {}
    assert lab.host_tasks({}) == 0


def test_run_result_totals_and_host_tasks():
    result = lab.RunResult(rc=2, wall_s=1.0, cpu_s=0.5, recap=lab.parse_recap(RECAP_OUTPUT), output=RECAP_OUTPUT)
    assert (result.host_tasks, result.total("changed"), result.total("failed")) == (40, 3, 1)


def test_hosts_are_named_and_addressed_in_the_bench_subnet():
    assert (lab.host_name(7), lab.host_address(1), lab.host_address(100)) == ("scale-bench-007", "10.250.60.11", "10.250.60.110")
    with pytest.raises(lab.LabError, match="outside 1..200"):
        lab.host_address(201)


def test_per_task_figures_and_ratios():
    assert bench.per_task_ms(2.2, 100) == pytest.approx(22.0)
    assert bench.per_task_ms(1.0, 0) is None
    assert bench.ratio(30.0, 20.0) == pytest.approx(1.5)
    assert bench.ratio(None, 20.0) is None and bench.ratio(1.0, 0.0) is None
    assert (bench.fmt(None), bench.fmt(1.234, "%.2f")) == ("-", "1.23")


@pytest.mark.parametrize("text, sizes", [("10,50,100", [10, 50, 100]), ("100,10, 10", [10, 100]), ("3", [3])])
def test_sizes_are_parsed_sorted_and_unique(text, sizes):
    assert bench.parse_sizes(text) == sizes


@pytest.mark.parametrize("text, message", [("ten", "host counts separated by commas"), ("0,10", "1..200"),
                                           ("10,500", "1..200"), ("", "1..200")])
def test_bad_sizes_are_refused_with_what_is_allowed(text, message):
    with pytest.raises(SystemExit, match=message):
        bench.parse_sizes(text)


def test_playbooks_come_from_the_configuration_root_except_the_bench_one(tmp_path):
    inv, extra = tmp_path / "inv", tmp_path / "extra.json"
    assert bench.playbook_args("preflight", inv, extra, tmp_path) == ["-i", str(inv), str(tmp_path / "playbooks/preflight.yml")]
    assert bench.playbook_args("runtime", inv, extra, tmp_path) == [
        "-i", str(inv), str(BENCH / "scale" / "runtime.yml"), "-e", "@%s" % extra]


def test_before_runs_the_baseline_tree_and_after_the_working_tree_with_forks(tmp_path):
    env, root = bench.config_env("before", 100, tmp_path)
    assert (env, root) == ({"ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg")}, tmp_path)
    env, root = bench.config_env("after", 100, tmp_path)
    assert root == lab.REPO and env["ANSIBLE_FORKS"] == "100" and env["ANSIBLE_CONFIG"] == str(lab.REPO / "ansible.cfg")
    assert bench.config_env("after", 10, tmp_path)[0]["ANSIBLE_FORKS"] == "25"


def test_runtime_extra_vars_name_an_installed_package_and_the_payload_checksum(tmp_path):
    extra = json.loads(bench.runtime_extra_vars(tmp_path).read_text())
    payload = Path(extra["container_runtime_compose_local_path"])
    assert extra["container_runtime_compose_sha256"] == hashlib.sha256(payload.read_bytes()).hexdigest()
    assert extra["container_runtime_engine_packages"] == {"distro": ["openssh-server"]}


def test_the_baseline_tree_resolves_the_collection_to_itself(tmp_path):
    root = bench.extract_baseline("HEAD", tmp_path / "baseline")
    assert (root / "playbooks" / "preflight.yml").is_file()
    link = root / "collections" / "ansible_collections" / "edgeai" / "slm_fleet"
    assert link.resolve() == root.resolve()


def test_an_unknown_baseline_is_a_clear_error(tmp_path):
    with pytest.raises(lab.LabError, match="--baseline no-such-rev-xyz: git archive failed"):
        bench.extract_baseline("no-such-rev-xyz", tmp_path / "baseline")


def test_report_shows_after_before_ratios_and_growth():
    rows = []
    for size, scale in ((10, 1.0), (100, 1.5)):
        for config, factor in (("before", 1.0), ("after", 0.5)):
            rows.append({"size": size, "phase": "preflight", "config": config, "host_tasks": 19 * size,
                         "wall_ms_per_task": 200.0 * scale * factor, "cpu_ms_per_task": 100.0 * scale * factor,
                         "cpu_s": 1.9 * size * scale * factor})
    text = bench.report(rows, [10, 100])
    assert "| preflight | 10 | 190/190 | 200.0 | 100.0 | 0.50 | 100.0 | 50.0 | 0.50 | 19.0 | 9.5 |" in text
    assert "preflight before wall 1.50  controller CPU 1.50  marginal: wall - ms, controller CPU 155.6 ms" in text
    assert "| runtime | 10 | -/- |" in text


def test_marginal_cost_takes_the_fixed_start_up_cost_out():
    rows = [{"size": 10, "phase": "runtime", "config": "after", "cpu_s": 5.0, "host_tasks": 200},
            {"size": 100, "phase": "runtime", "config": "after", "cpu_s": 41.0, "host_tasks": 2000}]
    assert bench.marginal_ms(rows, 10, 100, "runtime", "after", "cpu_s") == pytest.approx(20.0)
    assert bench.marginal_ms(rows, 10, 100, "runtime", "before", "cpu_s") is None


def test_the_summary_can_be_printed_again_from_the_json(tmp_path, capsys):
    rows = [{"size": 10, "phase": "preflight", "config": "before", "host_tasks": 190, "wall_ms_per_task": 200.0,
             "cpu_ms_per_task": 100.0, "cpu_s": 19.0}]
    saved = tmp_path / "rows.json"
    saved.write_text(json.dumps(rows))
    assert bench.main(["--report-from", str(saved)]) == 0
    assert "| preflight | 10 | 190/- | 200.0 | - | - | 100.0 | - | - | 19.0 | - |" in capsys.readouterr().out


@pytest.mark.parametrize("phases", ["runtime", "preflight,deploy", ""])
def test_bad_phases_are_refused(phases):
    with pytest.raises(SystemExit, match="--phases: preflight or preflight,runtime"):
        bench.main(["--sizes", "1", "--phases", phases])
