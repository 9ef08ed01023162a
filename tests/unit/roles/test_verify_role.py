"""The verify role itself, run by ansible-playbook against two scripted OpenAI-compatible engines.

One engine answers the seed suite correctly, one wrongly. Both "hosts" use the local connection and
carry the facts preflight would have set, so what runs is the role as site.yml runs it: checks,
per-host records, the site report on the control node, then the gate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from openai_script_server import ScriptedOpenAIServer
from seed_replies import CORRECT, WRONG
from jail_engine import IMAGE, require_docker

REPO = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
SECRET = "sk-role-secret"
PLAYBOOK = """\
- name: Verify the site
  hosts: slm_fleet
  gather_facts: false
  roles:
    - role: edgeai.slm_fleet.verify
"""
pytestmark = pytest.mark.slow


def write_golden(path: Path) -> None:
    """A golden file whose one answer is the correct engine's reply to the compound-interest prompt."""
    [entry] = [e for e in CORRECT if e["match"] == "compound interest on $5000"]
    words = entry["reply"].split(" ")
    pieces = [words[0]] + [" " + w for w in words[1:]]
    path.write_text(json.dumps({"schema": 1, "answers": [{
        "name": "interest", "messages": [{"role": "user", "content": "What is the compound interest on $5000?"}],
        "max_tokens": len(pieces), "token_ids": list(range(len(pieces))), "pieces": pieces, "text": "".join(pieces),
        "finish_reason": "length"}]}))


def run_role(tmp_path: Path, gate: str, golden: bool = False) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    require_docker()  # the seed suite's code checks run in the jail
    with ScriptedOpenAIServer(CORRECT, api_key=SECRET) as good, ScriptedOpenAIServer(WRONG, api_key=SECRET) as bad:
        key_file = tmp_path / "api_key"  # where the engine role keeps the key on the host
        key_file.write_text(SECRET)

        def host(name: str, url: str) -> dict[str, Any]:
            # The engine record the engine role would have published on the host (module slm_endpoint).
            record = tmp_path / f"{name}.fact"
            record.write_text(json.dumps({"schema": 1, "engine": "onnx", "label": "scripted engine", "release": "r1",
                                          "previous_release": "", "url": url, "api": "openai", "model": good.model,
                                          "api_key_file": str(key_file), "metrics_url": "", "image": "",
                                          "golden_file": str(tmp_path / "golden.json") if golden else ""}))
            return {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                    "slm_endpoint_path": str(record),
                    "preflight_plan": {"engine": "onnx"}, "preflight_profile": {"profile": "edge_optimized"},
                    "preflight_plan_row": {"group": "iot_gateways"}, "preflight_engine_role": "edgeai.slm_fleet.engine_onnx",
                    "preflight_report_dir": str(tmp_path / "report"),
                    "preflight_hardware": {"simulated": ["memory.total_mb"]}}
        # A host whose plan names an engine with no role in the collection: no record on it.
        unplanned = dict(host("edge-none", good.url), preflight_plan={"engine": "tgi"}, preflight_engine_role="",
                         slm_endpoint_path=str(tmp_path / "no-such-record.fact"))
        inventory = {"all": {"children": {"slm_fleet": {"children": {"iot_gateways": {"hosts": {
            "gw-good": host("gw-good", good.url), "gw-bad": host("gw-bad", bad.url), "edge-none": unplanned}}}}}}}
        (tmp_path / "hosts.yml").write_text(json.dumps(inventory))
        write_golden(tmp_path / "golden.json")
        (tmp_path / "verify.yml").write_text(PLAYBOOK)
        cfg = tmp_path / "ansible.cfg"  # the repo's cfg prints profile_tasks lines: keep stdout JSON
        cfg.write_text("[defaults]\ncollections_path = %s\nstdout_callback = ansible.builtin.json\n"
                       "retry_files_enabled = false\n" % (REPO / "collections"))
        env = dict(os.environ, ANSIBLE_CONFIG=str(cfg), ANSIBLE_HOME=str(tmp_path / "ansible-home"),
                   ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_FORCE_COLOR="0")
        extra = {"verify_gate": gate, "slm_site": "lab", "verify_start_period": 5, "verify_concurrency": 4,
                 "verify_code_image": IMAGE}
        proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "verify.yml"),
                               "-e", json.dumps(extra)],
                              cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    return proc, json.loads(proc.stdout)


def task_results(out: dict[str, Any], name_end: str) -> dict[str, Any]:
    [task] = [t for t in out["plays"][0]["tasks"] if t["task"]["name"].endswith(name_end)]
    return task["hosts"]


def test_enforce_fails_the_wrong_host_after_writing_the_report(tmp_path: Path) -> None:
    proc, out = run_role(tmp_path, "enforce")
    assert SECRET not in proc.stdout
    assert out["stats"]["gw-good"]["failures"] == 0, proc.stdout[-3000:]
    assert out["stats"]["gw-bad"]["failures"] == 1, proc.stdout[-3000:]
    gate = task_results(out, "Fail the host when its engine is not healthy or did not pass an enforced gate")
    assert gate["gw-bad"]["msg"].startswith("gw-bad (onnx, release r1): reasoning (enforced): 0/9 checks passed")
    assert "[verify_gate=enforce, verify_pass_threshold=0.8, verify_golden_gate=enforce]" in gate["gw-bad"]["msg"]
    assert "train_journey_time" in gate["gw-bad"]["msg"]

    report_dir = tmp_path / "report"
    report = json.loads((report_dir / "site_report.json").read_text())
    rows = {h["host"]: h for h in report["hosts"]}
    assert rows["gw-good"]["verdict"] == "ok" and rows["gw-good"]["pass_rate"] == 1.0
    assert rows["gw-bad"]["verdict"] == "failed" and rows["gw-bad"]["pass_rate"] == 0.0
    assert {r["gate"] for h, r in rows.items() if h != "edge-none"} == {"enforce"}, "the record must carry the gate"
    assert rows["gw-bad"]["group"] == "iot_gateways" and rows["gw-bad"]["profile"] == "edge_optimized"
    for name in ("gw-good", "gw-bad"):
        record = (report_dir / "hosts" / f"{name}.json").read_text()
        assert SECRET not in record and "invocation" not in json.loads(record)["health"]
    lines = task_results(out, "Print one line per host and where the report is")
    [summary] = [r["msg"] for r in lines.values()]
    assert any(line.startswith("gw-bad [iot_gateways/edge_optimized/onnx (scripted engine)]: FAILED - health healthy") for line in summary)
    assert summary[-1] == f"site report: {report_dir / 'site_report.html'}"


def test_report_gate_records_the_wrong_host_without_failing_it(tmp_path: Path) -> None:
    proc, out = run_role(tmp_path, "report")
    assert out["stats"]["gw-bad"]["failures"] == 0 and out["stats"]["gw-good"]["failures"] == 0, proc.stdout[-3000:]
    report = json.loads((tmp_path / "report" / "site_report.json").read_text())
    assert [(h["host"], h["verdict"], h["gate"]) for h in report["hosts"]] == [
        ("edge-none", "not_run", None), ("gw-bad", "failed", "report"), ("gw-good", "ok", "report")]
    assert report["hosts"][0]["note"] == "the plan chose tgi, and this collection version has no role engine_tgi: not checked"
    assert report["hosts"][2]["release"] == "r1" and report["hosts"][2]["engine_label"] == "scripted engine"
    [summary] = [r["msg"] for r in task_results(out, "Print one line per host and where the report is").values()]
    assert summary[1].startswith("gw-bad [iot_gateways/edge_optimized/onnx (scripted engine)]: FAILED (gate: report, host not failed)")
    assert "(simulated hardware: memory.total_mb)" in summary[1]


def test_golden_gate_fails_the_host_that_does_not_reproduce_while_reasoning_is_only_reported(tmp_path: Path) -> None:
    proc, out = run_role(tmp_path, "report", golden=True)
    assert out["stats"]["gw-good"]["failures"] == 0 and out["stats"]["gw-bad"]["failures"] == 1, proc.stdout[-3000:]
    gate = task_results(out, "Fail the host when its engine is not healthy or did not pass an enforced gate")
    msg = gate["gw-bad"]["msg"]
    assert msg.startswith("gw-bad (onnx, release r1): golden answers (enforced): 0/1 golden answers reproduced; "
                          "failing: interest: differs from token 0 of "), msg
    assert "expected 'Use A = P(1 + r)^n with P = $5,000, r = ', got 'Interest per year = $5,000" in msg
    report = json.loads((tmp_path / "report" / "site_report.json").read_text())
    rows = {h["host"]: h for h in report["hosts"]}
    assert rows["gw-good"]["golden"]["status"] == "passed" and rows["gw-good"]["gates_passed"] is True
    assert rows["gw-bad"]["golden"]["status"] == "failed" and rows["gw-bad"]["gates_passed"] is False
    assert rows["gw-bad"]["verdict"] == "failed" and rows["gw-bad"]["gate"] == "report", "reasoning shown apart"
    good = json.loads((tmp_path / "report" / "hosts" / "gw-good.json").read_text())
    assert good["passed"] is True and good["golden"]["gate"] == "enforce" and "golden answers (enforced)" in good["reason"]
