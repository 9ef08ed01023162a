"""slm_os_check, slm_plan_row, the FilterModule, and the filters inside a real playbook run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.filter import deployment as d

REPO = Path(__file__).resolve().parents[4]


def hw_with_os(os_id, version, pretty):
    return {"os": {"id": os_id, "version_id": version, "pretty_name": pretty}}


@pytest.mark.parametrize(
    "os_id, version, verdict",
    [("debian", "12", "ok"), ("debian", "13", "ok"), ("debian", "11", "refused"), ("ubuntu", "22.04", "ok"),
     ("ubuntu", "24.04", "ok"), ("ubuntu", "20.04", "refused"), ("raspbian", "12", "ok"), ("raspbian", "11", "refused"),
     ("debian", "10", "refused"), ("ubuntu", "18.04", "refused")],
)
def test_os_versions(os_id, version, verdict):
    assert d.slm_os_check(hw_with_os(os_id, version, "x"))["verdict"] == verdict


def test_os_refusal_messages():
    wanted = "supported: debian >= 12, raspbian >= 12, ubuntu >= 22.04"
    assert d.slm_os_check(hw_with_os("alpine", "3.19.1", "Alpine Linux v3.19"))["reasons"] == [
        f"os: has Alpine Linux v3.19 (alpine), {wanted}"]
    assert d.slm_os_check(hw_with_os("debian", "10", "Debian GNU/Linux 10 (buster)"))["reasons"] == [
        f"os: has Debian GNU/Linux 10 (buster) (debian 10), {wanted}"]
    assert d.slm_os_check(hw_with_os("debian", None, "Debian GNU/Linux trixie/sid"))["reasons"] == [
        f"os: has Debian GNU/Linux trixie/sid without a numeric VERSION_ID, {wanted}"]
    assert d.slm_os_check({})["reasons"] == [f"os: has an unknown OS (no os-release ID), {wanted}"]


def test_os_custom_support_table():
    assert d.slm_os_check(hw_with_os("rocky", "9.4", "Rocky Linux 9.4"), {"rocky": "9"})["verdict"] == "ok"
    assert d.slm_os_check(hw_with_os("debian", "12", "Debian 12"), {"rocky": 9})["verdict"] == "refused"


def _host():
    return {
        "arch": "x86_64",
        "cpu": {"model": "Intel(R) Xeon(R) Silver 4309Y CPU @ 2.80GHz", "cores": 16, "threads": 32, "sockets": 2,
                "flags": ["avx2", "avx512f", "avx512_vnni"]},
        "memory": {"total_mb": 262340, "available_mb": 250000},
        "disk": {"path": "/var/lib", "checked_path": "/var/lib", "mount": "/", "free_mb": 512000},
        "gpus": [{"index": 0, "name": "NVIDIA A10", "vendor": "nvidia", "memory_mb": 23028, "driver": "535.183.01",
                  "compute_capability": "8.6", "unified_memory": False, "source": "nvidia-smi"}],
        "jetson": None, "simulated": ["gpus"],
        "os": {"id": "debian", "version_id": "12", "pretty_name": "Debian GNU/Linux 12 (bookworm)"},
    }


def test_plan_row_flattens_one_host():
    hw = _host()
    profile = d.slm_profile(hw)
    plan = d.slm_engine_plan(hw, profile)
    row = d.slm_plan_row(hw, profile, plan, host="gpu-1", group="gpu_servers", os_result=d.slm_os_check(hw))
    budget = plan["memory_budget"]
    assert row == {
        "host": "gpu-1", "group": "gpu_servers", "arch": "x86_64",
        "cpu": "Intel Xeon Silver 4309Y @ 2.80GHz x2, 16c/32t, avx512_vnni",
        "ram_gb": round(262340 / 1024, 1), "gpu": "NVIDIA A10 22.5 GB", "disk_free_gb": 500.0,
        "profile": "production_gpu", "engine": "vllm", "quantization": "bf16",
        "memory_budget": f"{budget['total_mb'] / 1024:.1f}/{budget['host_mb'] / 1024:.1f} GB vram",
        "verdict": "ok", "reasons": [], "warnings": [], "simulated": ["gpus"],
    }


def test_plan_row_refused_merges_reasons_once():
    hw = dict(_host(), memory={"total_mb": 2048, "available_mb": 1500}, gpus=[], simulated=[])
    hw["os"] = {"id": "alpine", "version_id": "3.19.1", "pretty_name": "Alpine Linux v3.19"}
    profile = d.slm_profile(hw, {"memory_tolerance_pct": 0})
    plan = d.slm_engine_plan(hw, profile)
    row = d.slm_plan_row(hw, profile, plan, host="gw-9", os_result=d.slm_os_check(hw))
    assert row["verdict"] == "refused"
    assert row["reasons"][0].startswith("os: has Alpine Linux v3.19")
    assert row["reasons"][1] == "memory: has 2.0 GB, profile edge_optimized needs at least 4.0 GB (recommended 6.0 GB)"
    assert not any(r.startswith("profile: ") for r in row["reasons"])  # the profile's own reasons say it already
    assert row["gpu"] == "-"


def test_plan_row_os_refusal_alone_refuses():
    hw = dict(_host(), os={"id": "debian", "version_id": "10", "pretty_name": "Debian 10"})
    profile = d.slm_profile(hw)
    row = d.slm_plan_row(hw, profile, d.slm_engine_plan(hw, profile), os_result=d.slm_os_check(hw))
    assert row["verdict"] == "refused"


def test_filter_module_exports():
    assert sorted(d.FilterModule().filters()) == ["slm_engine_plan", "slm_model", "slm_os_check", "slm_plan_row",
                                                  "slm_profile"]


PLAYBOOK = """
- name: Plan one simulated gateway with the collection's module and filters
  hosts: localhost
  gather_facts: false
  vars:
    edge_hw_override:
      arch: aarch64
      memory: {total_mb: 3791}
      gpus: []
  tasks:
    - name: Gather the hardware facts with the override
      edgeai.slm_fleet.edge_hardware_facts:
        override: "{{ edge_hw_override }}"
    - name: Decide
      ansible.builtin.set_fact:
        profile_result: "{{ ansible_facts.edge_hardware | edgeai.slm_fleet.slm_profile }}"
    - name: Plan
      ansible.builtin.set_fact:
        engine_plan: "{{ ansible_facts.edge_hardware | edgeai.slm_fleet.slm_engine_plan(profile_result,
                         images={'onnx': {'arches': ['amd64', 'arm64']}}) }}"
    - name: Print the row
      ansible.builtin.debug:
        msg: "{{ ansible_facts.edge_hardware | edgeai.slm_fleet.slm_plan_row(profile_result, engine_plan,
                 host=inventory_hostname) | to_json }}"
"""


@pytest.mark.slow
def test_filters_and_module_in_a_real_playbook(tmp_path):
    """Ansible loads the module and the filters by FQCN; the override drives the plan."""
    playbook = tmp_path / "plan.yml"
    playbook.write_text(PLAYBOOK)
    bindir = Path(sys.executable).parent
    config = tmp_path / "ansible.cfg"  # the project's config writes a fact cache; this test leaves no trace
    config.write_text(f"[defaults]\ncollections_path = {REPO / 'collections'}\nstdout_callback = ansible.builtin.json\n"
                      "localhost_warning = false\n[inventory]\ninventory_unparsed_warning = false\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(config), PATH=f"{bindir}:{os.environ['PATH']}")
    proc = subprocess.run(
        [str(bindir / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    row = json.loads(result["plays"][0]["tasks"][-1]["hosts"]["localhost"]["msg"])
    assert (row["arch"], row["profile"], row["engine"], row["quantization"], row["verdict"]) == (
        "aarch64", "edge_optimized", "onnx", "int4", "ok")
    assert row["simulated"] == ["arch", "gpus", "memory.available_mb", "memory.total_mb"]
