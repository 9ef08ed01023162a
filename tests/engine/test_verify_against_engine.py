"""slm_health and slm_probe against the real SLM engine serving the tiny random-weight model.

The engine is healthy and serves the model, so health passes; the model's weights are random, so
every reasoning check must fail with a reason an operator can read, and the enforce gate must fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import API_KEY, MODEL_ID, RunningServer
from jail_engine import IMAGE as JAIL_IMAGE

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "roles/verify/files/suites/seed_reasoning.yml"
pytestmark = pytest.mark.slow


def run(module: str, args: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """Run a module as Ansible does on a host: its own process, arguments from a JSON file.

    In a separate process, as on a host: importing ansible.module_utils here would patch
    ``sys.intern`` in the test process and break torch, which the fixture tests use.
    """
    args_file = tmp_path / f"{module}-args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH=str(REPO / "collections"))
    proc = subprocess.run([sys.executable, "-m", f"ansible_collections.edgeai.slm_fleet.plugins.modules.{module}",
                           str(args_file)], capture_output=True, text=True, env=env, timeout=600, check=False)
    try:
        result: dict[str, Any] = json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"{module} printed no JSON (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    result["_rc"] = proc.returncode
    return result


def test_health_passes_and_names_the_served_model(server: RunningServer, tmp_path: Path) -> None:
    result = run("slm_health", {"url": server.url, "api": "openai", "expected_model": MODEL_ID,
                                "api_key": API_KEY, "start_period": 10}, tmp_path)
    assert result["_rc"] == 0, result
    assert result["status"] == "healthy" and MODEL_ID in result["served_models"]


def test_health_fails_for_a_model_the_engine_does_not_serve(server: RunningServer, tmp_path: Path) -> None:
    result = run("slm_health", {"url": server.url, "api": "openai", "expected_model": "phi-4-mini-instruct",
                                "api_key": API_KEY, "start_period": 5}, tmp_path)
    assert result["_rc"] != 0 and "phi-4-mini-instruct" in result["msg"]


def test_reasoning_checks_fail_with_reasons_and_the_enforce_gate_fails(server: RunningServer, tmp_path: Path) -> None:
    checks = yaml.safe_load(SUITE.read_text())["checks"]
    result = run("slm_probe", {"url": server.url, "api": "openai", "engine": "onnx", "model": MODEL_ID,
                               "api_key": API_KEY, "checks": checks, "gate": "enforce", "pass_threshold": 0.8,
                               "max_tokens": 64, "concurrency": 2, "code_image": JAIL_IMAGE}, tmp_path)
    assert result["_rc"] != 0, "the enforce gate must fail a model that cannot reason"
    assert result["gate_failed"] is True and result["pass_rate"] < 0.8
    answered = [c for c in result["checks"] if not c["skipped"]]
    assert len(answered) == len(checks)
    for check in answered:
        assert check["passed"] is False, check
        assert check["reason"], f"{check['name']} failed without a reason"
        assert check["latency_s"] is not None and check["latency_s"] > 0
    by_name = {c["name"]: c for c in answered}
    assert "expected 2.4 h" in by_name["train_journey_time"]["reason"]
    assert "calculate_circle_area" in by_name["circle_area_tool_call"]["reason"]
    assert result["tokens_per_s"] and result["tokens_per_s"] > 0
