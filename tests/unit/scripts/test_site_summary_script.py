"""scripts/site-summary.py: the end of `make demo` prints each host's line from the written report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_report import build_report, summary_lines

SCRIPT = Path(__file__).resolve().parents[3] / "scripts/site-summary.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False)


def test_prints_one_line_per_host_and_the_report_path(tmp_path, site_hosts) -> None:
    report = build_report(site_hosts, "lab")
    (tmp_path / "site_report.json").write_text(json.dumps(report))
    run = _run(str(tmp_path))
    assert run.returncode == 0, run.stderr
    out = run.stdout.splitlines()
    assert out[0] == "Site lab: 4 hosts, 2 ok, 2 failed, 0 not checked"
    assert [line.strip() for line in out[1:-1]] == summary_lines(report)
    assert out[-1] == f"Site report: {tmp_path / 'site_report.html'}"


def test_missing_or_broken_report_is_a_clear_error(tmp_path) -> None:
    run = _run(str(tmp_path))
    assert run.returncode == 2
    assert f"no readable site report at {tmp_path / 'site_report.json'}" in run.stderr
    assert "run playbooks/verify.yml" in run.stderr
    (tmp_path / "site_report.json").write_text("{not json")
    assert _run(str(tmp_path)).returncode == 2
    (tmp_path / "site_report.json").write_text('{"hosts": [{"host": "gw"}]}')
    broken = _run(str(tmp_path))
    assert broken.returncode == 2 and "Traceback" not in broken.stderr
