"""scripts/fleet-rollout.py: sites run in order, the first that does not complete stops the rollout.

A fake ``ansible-playbook`` first on PATH stands for each site's run: it records its arguments and,
per inventory, writes the rollout summary and site report a real run writes (or none) and exits
with the code the test plans. The index page and JSON are then read back.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts/fleet-rollout.py"

FAKE = r'''#!{python}
"""Fake ansible-playbook for tests: plan per inventory name in $FAKE_FLEET_PLAN."""
import json, os, sys
from pathlib import Path
args = sys.argv[1:]
with open(os.environ["FAKE_FLEET_CALLS"], "a") as calls:
    calls.write(json.dumps(args) + "\n")
inventory = args[args.index("-i") + 1]
extra = json.loads(args[args.index("-e") + 1])
plan = json.loads(os.environ["FAKE_FLEET_PLAN"])[Path(inventory).name]
report = Path(extra["slm_report_dir"])
print("report dir existed before the run:", report.is_dir())
report.mkdir(parents=True, exist_ok=True)
print("PLAY RECAP for", inventory)
if plan.get("rollout"):
    (report / "rollout.json").write_text(json.dumps(plan["rollout"]))
if plan.get("report", True):
    (report / "site_report.json").write_text(json.dumps({{"hosts": []}}))
    (report / "site_report.html").write_text("<html></html>")
sys.exit(plan["exit"])
'''


def _rollout(site: str, status: str, release: str = "onnx-2a9f") -> dict:
    outcome = "ok" if status == "completed" else "rolled_back"
    return {"site": site, "status": status, "release": release, "failed_batch": None if status == "completed" else 1,
            "hosts": {site + "-gw-01": {"batch": 1, "outcome": outcome, "release": release if outcome == "ok" else "old",
                                        "previous_release": "old", "reason": None}}}


@pytest.fixture()
def fleet(tmp_path):
    """Run the script in a project-like directory with the fake ansible-playbook; returns a runner."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "ansible-playbook"
    fake.write_text(FAKE.format(python=sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "site.yml").write_text("---\n")
    for site in ("alpha", "beta", "gamma"):
        (tmp_path / "inventories" / site).mkdir(parents=True)
    calls = tmp_path / "calls.jsonl"

    def run(plan: dict, *args: str) -> tuple[subprocess.CompletedProcess, list, dict]:
        env = dict(os.environ, PATH="%s:%s" % (bindir, os.environ["PATH"]), FAKE_FLEET_PLAN=json.dumps(plan),
                   FAKE_FLEET_CALLS=str(calls))
        proc = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, check=False)
        made = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
        index_path = tmp_path / "artifacts/fleet/index.json"
        index = json.loads(index_path.read_text()) if index_path.exists() else {}
        return proc, made, index
    run.dir = tmp_path
    return run


def test_every_site_completes_in_order(fleet) -> None:
    plan = {s: {"exit": 0, "rollout": _rollout(s, "completed")} for s in ("alpha", "beta")}
    proc, calls, index = fleet(plan, "inventories/beta", "inventories/alpha/", "--", "-e", "engine_onnx_image_tag=0.2.0")
    assert proc.returncode == 0, proc.stderr
    assert [c[c.index("-i") + 1] for c in calls] == ["inventories/beta", "inventories/alpha/"]
    assert calls[0][0] == "site.yml" and calls[0][-2:] == ["-e", "engine_onnx_image_tag=0.2.0"]
    assert json.loads(calls[0][calls[0].index("-e") + 1]) == {"slm_report_dir": str(fleet.dir / "artifacts/sites/beta")}
    assert index["status"] == "completed" and index["order"] == ["beta", "alpha"]
    assert [s["status"] for s in index["sites"]] == ["completed", "completed"]
    assert index["sites"][0]["hosts"][0]["host"] == "beta-gw-01" and index["sites"][0]["hosts"][0]["release"] == "onnx-2a9f"
    assert index["sites"][0]["report_html"] == "../sites/beta/site_report.html"
    assert index["sites"][0]["rollout_json"] == "../sites/beta/rollout.json"
    assert "PLAY RECAP for inventories/beta" in proc.stdout          # the run's output is shown ...
    # The report directory is the script's: made before the run, so the rollout does not create it
    # through the site's first host (a change counted against a host that did not change).
    assert proc.stdout.count("report dir existed before the run: True") == 2
    assert "PLAY RECAP" in (fleet.dir / "artifacts/fleet/logs/beta.log").read_text()  # ... and kept
    page = (fleet.dir / "artifacts/fleet/index.html").read_text()
    assert 'href="../sites/alpha/site_report.html"' in page and 'href="logs/alpha.log"' in page


def test_the_first_aborted_site_stops_the_rollout(fleet) -> None:
    plan = {"alpha": {"exit": 0, "rollout": _rollout("alpha", "completed")},
            "beta": {"exit": 2, "rollout": _rollout("beta", "aborted")},
            "gamma": {"exit": 0, "rollout": _rollout("gamma", "completed")}}
    proc, calls, index = fleet(plan, "inventories/alpha", "inventories/beta", "inventories/gamma")
    assert proc.returncode == 1
    assert [c[c.index("-i") + 1] for c in calls] == ["inventories/alpha", "inventories/beta"]  # gamma never ran
    assert index["status"] == "stopped" and index["stopped_at"] == "beta"
    assert [s["status"] for s in index["sites"]] == ["completed", "aborted", "not started"]
    assert index["sites"][1]["failed_batch"] == 1 and index["sites"][1]["hosts"][0]["outcome"] == "rolled_back"
    assert index["sites"][2]["report_html"] is None and index["sites"][2]["hosts"] == []
    assert "rollout stopped at site beta; not started: gamma" in proc.stdout
    assert not (fleet.dir / "artifacts/sites/gamma").exists()


def test_a_run_that_fails_without_a_rollout_summary_stops_too(fleet) -> None:
    plan = {"alpha": {"exit": 2, "report": False}, "beta": {"exit": 0}}
    proc, calls, index = fleet(plan, "inventories/alpha", "inventories/beta")
    assert proc.returncode == 1 and len(calls) == 1
    assert [s["status"] for s in index["sites"]] == ["failed", "not started"]
    assert index["sites"][0]["report_html"] is None and index["sites"][0]["rollout_json"] is None


def test_a_summary_left_by_an_earlier_run_is_not_this_runs_result(fleet) -> None:
    old = fleet.dir / "artifacts/sites/alpha"
    old.mkdir(parents=True)
    (old / "rollout.json").write_text(json.dumps(_rollout("alpha", "completed")))
    os.utime(old / "rollout.json", (1_000_000, 1_000_000))
    proc, _calls, index = fleet({"alpha": {"exit": 2}}, "inventories/alpha")
    assert proc.returncode == 1
    assert index["sites"][0]["status"] == "failed" and index["sites"][0]["rollout_json"] is None


@pytest.mark.parametrize("args, message", [
    ((), "name at least one site inventory"),
    (("inventories/nowhere",), "site 'nowhere': inventory 'inventories/nowhere' does not exist"),
    (("inventories/alpha", "x=inventories/alpha"), None),
    (("inventories/alpha", "alpha=inventories/beta"), "site 'alpha' is given twice (inventories/alpha, inventories/beta)"),
    (("bad name!=inventories/alpha",), "site name 'bad name!' is not allowed"),
    (("--playbook", "nope.yml", "inventories/alpha"), "playbook 'nope.yml' not found"),
])
def test_bad_arguments_are_refused_before_any_site_runs(fleet, args, message) -> None:
    plan = {"alpha": {"exit": 0}, "beta": {"exit": 0}}
    proc, calls, _index = fleet(plan, *args)
    if message is None:  # the same inventory under two names is allowed
        assert proc.returncode == 0, proc.stderr
        return
    assert proc.returncode == 2 and calls == []
    assert message in proc.stderr and "Traceback" not in proc.stderr
