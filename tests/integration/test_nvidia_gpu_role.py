"""nvidia_gpu on real systemd hosts without a GPU: clean skip, refusals before any change, the check-mode
plan on simulated GPU facts, and Docker's nvidia runtime merged into a real daemon.json.

The tests share one host and run in file order (the host gains Docker half-way). No GPU and no NVIDIA
repository exist here: what needs them is covered by the unit tests on recorded outputs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import SystemdHost, run_playbook

REPO = Path(__file__).resolve().parents[2]
ROLE = "tests/integration/playbooks/nvidia_gpu.yml"
CHECK = "tests/integration/playbooks/nvidia_gpu_check.yml"
RUNTIME = "tests/integration/playbooks/container_runtime.yml"
COMPOSE = REPO / ".cache/artifacts/docker-compose-2.26.1-4-amd64"
COMPOSE_SHA = "c0ef2e286ba1c45bf1868b70a1c71d30a802bb3996888f2f986c3166f9e45f57"
DOCKER = {"container_runtime_compose_local_path": str(COMPOSE), "container_runtime_compose_sha256": COMPOSE_SHA}
# The lab's way of pretending a GPU server (inventories/lab/host_vars/lab-gpu-01.yml), without a driver here.
NO_DRIVER_GPU = {"gpus": [{"name": "NVIDIA A10", "memory_mb": 23028, "compute_capability": "8.6"}]}
WORKING_GPU = {"gpus": [{"name": "NVIDIA A10", "memory_mb": 23028, "compute_capability": "8.6", "driver": "570.133.20"}]}
NVIDIA = {"path": "nvidia-container-runtime", "runtimeArgs": []}


@pytest.fixture(scope="module")
def host(systemd_host: SystemdHost) -> SystemdHost:
    return systemd_host


def task_results(run, host: str, name: str) -> list[dict]:
    return [task["hosts"][host] for play in run.report.get("plays", []) for task in play.get("tasks", [])
            if task["task"]["name"].split(" : ")[-1] == name and host in task.get("hosts", {})]


def plan_line(run, host: str) -> str:
    [result] = task_results(run, host, "Show what nvidia_gpu does on this host")
    return result["msg"]


def snapshot(host: SystemdHost) -> dict[str, str]:
    """What the role could change: packages, apt sources, keyrings, daemon.json, CDI."""
    script = ("dpkg-query -W -f='${Package} ${Status}\\n' 'nvidia-*' 2>/dev/null | grep installed; "
              "ls /etc/apt/sources.list.d /etc/apt/keyrings /etc/cdi 2>&1; "
              "sha256sum /etc/docker/daemon.json /etc/docker/.daemon.json.* 2>&1; "
              "systemctl show -p ExecMainPID docker 2>&1")
    return {"state": host.run("sh", "-c", script).stdout}


def test_host_without_gpu_is_a_clean_noop(host):
    before = snapshot(host)
    run = host.playbook(ROLE)
    assert run.rc == 0, run.failures(host.name)
    assert run.stats(host.name)["changed"] == 0
    assert plan_line(run, host.name).startswith(f"{host.name}: nothing to do: no NVIDIA GPU (")
    assert task_results(run, host.name, "Read the driver, Secure Boot, headers, toolkit and CDI state")[0]["skipped"]
    assert snapshot(host) == before


@pytest.mark.parametrize("extra, fragments", [
    pytest.param({"nvidia_gpu_reboot_policy": "sometimes"},
                 ["nvidia_gpu_reboot_policy must be one of: never, if_needed, got: sometimes"], id="reboot-policy"),
    pytest.param({"nvidia_gpu_driver_install": "maybe"},
                 ["nvidia_gpu_driver_install", "bool"], id="wrong-type-bool"),
    pytest.param({"nvidia_gpu_toolkit_packages": "nvidia-container-toolkit", "nvidia_gpu_reboot_timeout": "soon"},
                 ["nvidia_gpu_reboot_timeout", "int"], id="wrong-type-int"),
    pytest.param({"nvidia_gpu_simulated_gpu": "pretend"},
                 ["nvidia_gpu_simulated_gpu must be one of: plan, apply, got: pretend"], id="simulated-mode"),
    pytest.param({"nvidia_gpu_toolkit_version": "latest!"},
                 ["nvidia_gpu_toolkit_version must be a Debian package version such as 1.17.8-1", "'latest!'"],
                 id="toolkit-version"),
    pytest.param({"edge_hw_override": WORKING_GPU, "nvidia_gpu_simulated_gpu": "apply", "nvidia_gpu_cuda_version": "12.7"},
                 ["nvidia_gpu_cuda_version='12.7' is not in the CUDA -> driver table (known: 11.8, 12.0",
                  "set nvidia_gpu_min_driver_version"], id="unknown-cuda"),
])
def test_bad_input_is_refused_before_any_change(host, extra, fragments):
    before = snapshot(host)
    run = host.playbook(ROLE, extra)
    assert run.rc != 0
    messages = run.failures(host.name)
    assert messages, run.report
    text = messages[0]
    if not text.startswith("Validation of arguments failed"):
        assert host.name in text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    assert snapshot(host) == before


def test_control_node_is_refused():
    control = SystemdHost("localhost", hostvars={"ansible_connection": "local",
                                                 "ansible_python_interpreter": sys.executable})
    run = run_playbook([control], ROLE, {"edge_hw_override": WORKING_GPU})
    assert run.rc != 0
    [message] = run.failures("localhost")
    assert message.startswith("localhost: nvidia_gpu changes drivers, packages and Docker's configuration and must not "
                              "run on the control node (host localhost, ansible_connection=local)")
    assert "nvidia_gpu_allow_control_node: true" in message
