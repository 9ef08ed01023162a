"""The fleet plan follows each host's (simulated) hardware, and plan.yml changes nothing on the hosts."""

import json
import os
from pathlib import Path

import pytest

EXPECTED = {
    "pf-gpu": {"group": "gpu_servers", "profile": "production_gpu", "engine": "vllm", "quantization": "bf16", "verdict": "ok"},
    "pf-edge": {"group": "edge_servers", "profile": "production_cpu", "engine": "ollama", "quantization": "Q4_K_M",
                "verdict": "ok"},
    "pf-gw": {"group": "iot_gateways", "profile": "edge_optimized", "engine": "onnx", "quantization": "int4", "verdict": "ok"},
    # Refused: the row names the smallest profile it was measured against, and why it fails it.
    "pf-small": {"group": "iot_gateways", "profile": "edge_optimized", "verdict": "refused"},
}


@pytest.fixture(scope="module")
def plan():
    path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "reports" / "plan.json"
    return json.loads(path.read_text())


def test_plan_lists_every_host_once(plan):
    assert plan["site"] == "molecule-preflight"
    assert sorted(row["host"] for row in plan["hosts"]) == sorted(EXPECTED)
    assert plan["unreached"] == []


def test_row_follows_the_simulated_hardware(host, plan):
    name = host.backend.get_hostname()
    row = next(r for r in plan["hosts"] if r["host"] == name)
    for key, value in EXPECTED[name].items():
        assert row[key] == value, (key, row)
    assert "memory.total_mb" in row["simulated"]


def test_refused_host_gets_the_reason_it_can_act_on(host, plan):
    name = host.backend.get_hostname()
    row = next(r for r in plan["hosts"] if r["host"] == name)
    if name != "pf-small":
        assert row["reasons"] == []
        return
    assert row["reasons"][0].startswith("memory: has 1.8 GB, profile edge_optimized needs at least 4.0 GB")


def test_plan_changed_nothing_on_the_host(host):
    assert not host.exists("docker")
    assert not host.file("/etc/docker").exists
    assert not host.file("/var/lib/slm-fleet").exists
