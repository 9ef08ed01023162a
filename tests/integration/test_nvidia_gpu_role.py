"""nvidia_gpu on real systemd hosts without a GPU: clean skip, refusals before any change, the check-mode
plan on simulated GPU facts, and Docker's nvidia runtime merged into a real daemon.json.

The tests share one host and run in file order (the host gains Docker half-way). No GPU and no NVIDIA
repository exist here: what needs them is covered by the unit tests on recorded outputs.
"""

from __future__ import annotations

import json
import sys

import pytest

from conftest import SystemdHost, run_playbook

ROLE = "tests/integration/playbooks/nvidia_gpu.yml"
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


def test_lab_style_simulated_gpu_only_shows_the_plan(host):
    # inventories/lab/host_vars/lab-gpu-01.yml: an A10 with driver 550.54.15; defaults otherwise (CUDA 12.8).
    lab = {"gpus": [{"name": "NVIDIA A10", "memory_mb": 23028, "compute_capability": "8.6", "driver": "550.54.15"}]}
    before = snapshot(host)
    run = host.playbook(ROLE, {"edge_hw_override": lab})
    assert run.rc == 0, run.failures(host.name)
    assert run.stats(host.name)["changed"] == 0
    line = plan_line(run, host.name)
    assert line.startswith(f"{host.name}: NVIDIA A10 (simulated): driver: keep (driver 550.54.15 is running; kept)")
    assert "the GPU is simulated (edge_hw_override): plan shown, nothing changed" in line
    assert "Would be refused: " in line and "the running NVIDIA driver 550.54.15 is older than 570.26" in line
    assert snapshot(host) == before


@pytest.mark.parametrize("extra, fragments", [
    pytest.param({"nvidia_gpu_reboot_policy": "sometimes"},
                 ["nvidia_gpu_reboot_policy must be one of: never, if_needed, got: sometimes"], id="reboot-policy"),
    pytest.param({"nvidia_gpu_driver_install": "maybe"},
                 ["nvidia_gpu_driver_install", "bool"], id="wrong-type-bool"),
    pytest.param({"nvidia_gpu_reboot_timeout": "soon"}, ["nvidia_gpu_reboot_timeout", "int"], id="wrong-type-int"),
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


@pytest.fixture(scope="module")
def docker_host(host: SystemdHost) -> SystemdHost:
    """The same host with Debian's Docker engine, and daemon.json holding keys this role does not own.

    Installed with apt rather than the container_runtime role to keep this test near two minutes;
    container_runtime's own tests cover that role.
    """
    install = host.run("sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                                   "--no-install-recommends -o Dpkg::Options::=--force-unsafe-io docker.io python3-apt")
    assert install.returncode == 0, install.stderr
    # Keys someone else wrote: container_runtime's log settings, a label and another runtime.
    foreign = {"log-driver": "json-file", "labels": ["site=lab"], "runtimes": {"runc-alt": {"path": "runc"}}}
    write = host.run("sh", "-c", f"echo '{json.dumps(foreign)}' > /etc/docker/daemon.json && systemctl restart docker")
    assert write.returncode == 0, write.stderr
    return host


def docker_pid(host: SystemdHost) -> str:
    return host.run("systemctl", "show", "-p", "ExecMainPID", "--value", "docker").stdout.strip()


def test_check_mode_shows_the_plan_on_simulated_gpu_and_changes_nothing(docker_host):
    host = docker_host
    # A GPU server's apt sources: Debian's driver is in non-free (the real mirror answers apt-cache policy).
    setup = host.run("sh", "-c", "echo 'deb http://deb.debian.org/debian bookworm main contrib non-free "
                                 "non-free-firmware' > /etc/apt/sources.list && apt-get update -qq")
    assert setup.returncode == 0, setup.stderr
    before = snapshot(host)
    extra = {"edge_hw_override": NO_DRIVER_GPU, "nvidia_gpu_simulated_gpu": "apply", "nvidia_gpu_cuda_version": "12.2",
             "nvidia_gpu_host_override": {"kernel_headers": True}}
    run = host.playbook(ROLE, extra, ["--check", "--diff"])
    assert run.rc == 0, run.failures(host.name)
    line = plan_line(run, host.name)
    assert line.startswith(f"{host.name}: NVIDIA A10 (simulated): driver: install (no driver; the distribution's "
                           f"nvidia-driver, firmware-misc-nonfree will be installed (535.261.03)")
    for part in ("toolkit: install", "docker runtime: register", "CDI spec: defer", "reboot: report"):
        assert part in line
    [apt] = task_results(run, host.name, "Install the distribution's NVIDIA driver packages")
    assert apt["changed"], apt  # apt resolved the real packages, in simulation
    [source] = task_results(run, host.name, "Write the toolkit repository's apt source")
    assert source["changed"]
    rendered = json.dumps(source["diff"])
    assert "URIs: https://nvidia.github.io/libnvidia-container/stable/deb/amd64" in rendered
    assert "Signed-By: /etc/apt/keyrings/nvidia-container-toolkit.asc" in rendered
    [merge] = task_results(run, host.name, "Merge Docker's nvidia runtime into daemon.json, keeping every other key "
                                           "and runtime")
    assert merge["changed"] and merge["content"]["runtimes"]["nvidia"] == NVIDIA
    assert merge["content"]["labels"] == ["site=lab"], "keys written by others are kept"
    assert merge["content"]["runtimes"]["runc-alt"] == {"path": "runc"}, "other runtimes are kept"
    [reboot] = task_results(run, host.name, "Report the pending reboot")
    assert "reboot pending: not rebooted (nvidia_gpu_reboot_policy: never)" in reboot["msg"]
    assert snapshot(host) == before


def test_real_host_refusals_name_the_fix(docker_host):
    # The image's CUDA 12.8 needs >= 570.26; Debian 12's candidate is 535.261.03-1; this host has no kernel headers.
    before = snapshot(docker_host)
    run = docker_host.playbook(ROLE, {"edge_hw_override": NO_DRIVER_GPU, "nvidia_gpu_simulated_gpu": "apply"})
    assert run.rc != 0
    [message] = run.failures(docker_host.name)
    release = docker_host.run("uname", "-r").stdout.strip()
    for fragment in ("the candidate of nvidia-driver (driver to install) is 535.261.03-1 is older than 570.26",
                     "use an image built for CUDA 12.2 or older (nvidia_gpu_cuda_version)",
                     f"the headers of the running kernel {release} are missing (/lib/modules/{release}/build)",
                     f"Fix: install linux-headers-{release}, or set nvidia_gpu_kernel_headers_install: true"):
        assert fragment in message, message
    assert message.endswith("Nothing was changed on this host.")
    assert snapshot(docker_host) == before


def test_nvidia_runtime_is_merged_into_a_real_daemon_json(docker_host):
    host = docker_host
    pid = docker_pid(host)
    extra = {"edge_hw_override": WORKING_GPU, "nvidia_gpu_simulated_gpu": "apply", "nvidia_gpu_toolkit_install": False,
             "nvidia_gpu_cdi_generate": False}
    first = host.playbook(ROLE, extra)
    assert first.rc == 0, first.failures(host.name)
    assert first.stats(host.name)["changed"] >= 1
    assert "Notes: the NVIDIA Container Toolkit is not installed" in plan_line(first, host.name)
    config = json.loads(host.run("cat", "/etc/docker/daemon.json").stdout)
    assert config == {"log-driver": "json-file", "labels": ["site=lab"],
                      "runtimes": {"runc-alt": {"path": "runc"}, "nvidia": NVIDIA}}
    assert docker_pid(host) != pid, "Docker was not restarted after daemon.json changed"
    info = host.run("docker", "info", "--format", "{{json .Runtimes}}")
    assert info.returncode == 0 and {"nvidia", "runc-alt"} <= set(json.loads(info.stdout)), info.stdout
    pid = docker_pid(host)
    second = host.playbook(ROLE, extra)
    assert second.rc == 0 and second.stats(host.name)["changed"] == 0
    assert docker_pid(host) == pid, "Docker restarted although daemon.json did not change"
