"""The three modules run by ansible-playbook (AnsiballZ packaging, module_utils imports, no_log),
wired as the verify role wires them: health and probe per host (gate=report), one site report on
the control node, then the gate enforced per host (tests/unit/roles/ runs the role itself).

Two "hosts" use the local connection: one engine answers correctly, one answers wrongly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jail_engine import IMAGE, require_docker
from openai_script_server import ScriptedOpenAIServer
from seed_replies import CORRECT, WRONG

REPO = Path(__file__).resolve().parents[4]
SUITE = REPO / "roles/verify/files/suites/seed_reasoning.yml"
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")

PLAYBOOK = textwrap.dedent("""\
    - name: Verify engines (the verify role's intended task flow)
      hosts: edge
      gather_facts: false
      vars:
        verify_suite: "{{ lookup('ansible.builtin.file', suite_path) | from_yaml }}"
      tasks:
        - name: Wait for the engine and check it serves the model
          edgeai.slm_fleet.slm_health:
            url: "{{ verify_url }}"
            api: "{{ verify_api }}"
            expected_model: "{{ verify_model }}"
            api_key: "{{ verify_api_key }}"
            start_period: 5
            fail_on_unhealthy: false
          register: verify_health

        - name: Ask the reasoning suite (recorded; the gate is enforced after the report)
          edgeai.slm_fleet.slm_probe:
            url: "{{ verify_url }}"
            api: "{{ verify_api }}"
            engine: "{{ verify_engine }}"
            model: "{{ verify_model }}"
            api_key: "{{ verify_api_key }}"
            checks: "{{ verify_suite.checks }}"
            pass_threshold: 0.8
            gate: report
            concurrency: 4
            code_image: "{{ jail_image }}"
          register: verify_probe
          when: verify_health.status == 'healthy'

        - name: Record this host's result for the site report
          ansible.builtin.set_fact:
            verify_result:
              host: "{{ inventory_hostname }}"
              group: "{{ group_names | first }}"
              profile: "{{ verify_profile }}"
              engine: "{{ verify_engine }}"
              health: "{{ verify_health }}"
              probe: "{{ verify_probe if verify_probe is not skipped else {} }}"

        - name: Write the site report on the control node
          edgeai.slm_fleet.slm_site_report:
            dest: "{{ report_dir }}"
            site: lab
            hosts: "{{ ansible_play_hosts_all | map('extract', hostvars, 'verify_result') | select('defined') | list }}"
          delegate_to: localhost
          run_once: true
          register: verify_report

        - name: Enforce the reasoning gate
          ansible.builtin.assert:
            that:
              - verify_health.status == 'healthy'
              - verify_probe.passed | default(false)
            fail_msg: "{{ verify_probe.summary | default(verify_health.reason) }}"
            quiet: true
    """)


@pytest.mark.slow
def test_playbook_runs_health_probe_report_and_gate(tmp_path) -> None:
    if not ANSIBLE_PLAYBOOK.exists():
        pytest.skip("ansible-playbook not found next to %s (run make venv)" % sys.executable)
    require_docker()  # the seed suite's code checks run in the jail
    with ScriptedOpenAIServer(CORRECT, api_key="sk-play-secret") as good, \
            ScriptedOpenAIServer(WRONG, api_key="sk-play-secret") as bad:
        inventory = tmp_path / "hosts.yml"
        common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                  "verify_api": "openai", "verify_engine": "vllm", "verify_model": good.model,
                  "verify_api_key": "sk-play-secret", "verify_profile": "production_gpu"}
        inventory.write_text(json.dumps({"all": {"children": {"edge": {"hosts": {
            "edge-good": dict(common, verify_url=good.url), "edge-bad": dict(common, verify_url=bad.url)}}}}}))
        playbook = tmp_path / "verify.yml"
        playbook.write_text(PLAYBOOK)
        cfg = tmp_path / "ansible.cfg"  # the repo's cfg adds profile_tasks output to stdout; keep JSON clean
        cfg.write_text("[defaults]\ncollections_path = %s\nstdout_callback = ansible.builtin.json\n"
                       "retry_files_enabled = false\n" % (REPO / "collections"))
        env = dict(os.environ, ANSIBLE_CONFIG=str(cfg), ANSIBLE_HOME=str(tmp_path / "ansible-home"),
                   ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_REMOTE_TEMP=str(tmp_path / "remote-tmp"),
                   ANSIBLE_FORCE_COLOR="0")
        proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(playbook),
                               "-e", "suite_path=%s report_dir=%s jail_image=%s" % (SUITE, tmp_path / "report", IMAGE)],
                              cwd=str(REPO), env=env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    assert "sk-play-secret" not in proc.stdout
    out = json.loads(proc.stdout)
    stats = out["stats"]
    assert stats["edge-good"]["failures"] == 0 and stats["edge-bad"]["failures"] == 1, proc.stdout[-3000:]
    tasks = {t["task"]["name"]: t["hosts"] for t in out["plays"][0]["tasks"]}
    probe_good = tasks["Ask the reasoning suite (recorded; the gate is enforced after the report)"]["edge-good"]
    probe_bad = tasks["Ask the reasoning suite (recorded; the gate is enforced after the report)"]["edge-bad"]
    assert probe_good["pass_rate"] == 1.0 and probe_bad["pass_rate"] == 0.0 and not probe_bad.get("failed")
    # the jail under Ansible (the harness source comes out of the AnsiballZ payload) runs and judges
    code = [c for c in probe_good["checks"] if c["kind"] == "code"]
    assert len(code) == 3 and all(c["passed"] and c["details"]["isolation"] == "container" for c in code), code
    gate_bad = tasks["Enforce the reasoning gate"]["edge-bad"]
    assert gate_bad["failed"] and gate_bad["msg"].startswith("0/9 checks passed (0% < 80%); failing: train_journey_time")
    report = json.loads((tmp_path / "report" / "site_report.json").read_text())
    assert [h["host"] for h in report["hosts"]] == ["edge-bad", "edge-good"]
    assert [h["verdict"] for h in report["hosts"]] == ["failed", "ok"]
    assert report["hosts"][1]["group"] == "edge" and report["hosts"][1]["engine_version"] == "0.0.0-test"
    assert "sk-play-secret" not in (tmp_path / "report" / "site_report.json").read_text()
