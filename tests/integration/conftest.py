"""Fixtures for integration tests: real systemd hosts (containers) and real ansible-playbook runs."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _platform_options() -> dict[str, Any]:
    """The systemd-host container recipe, read from the shared molecule base (one source of truth)."""
    config = yaml.safe_load((REPO / "extensions/molecule/config.yml").read_text())
    return config["platforms"][0]


@dataclass
class PlaybookRun:
    """Outcome of one ansible-playbook run, parsed from the ansible.posix.json callback."""

    rc: int
    report: dict[str, Any]
    stderr: str

    def failures(self, host: str) -> list[str]:
        """Messages of the failed tasks of ``host``, in order."""
        messages = []
        for play in self.report.get("plays", []):
            for task in play.get("tasks", []):
                result = task.get("hosts", {}).get(host)
                if result and result.get("failed"):
                    messages.append(str(result.get("msg", "")))
        return messages

    def stats(self, host: str) -> dict[str, int]:
        """The PLAY RECAP counters of ``host``."""
        return self.report.get("stats", {}).get(host, {})


@dataclass
class SystemdHost:
    """A disposable edge host: a systemd container reached with the docker connection."""

    name: str
    group: str = "edge_servers"
    hostvars: dict[str, Any] = field(default_factory=dict)

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "exec", self.name, *argv], capture_output=True, text=True, check=False)

    @property
    def address(self) -> str:
        """The host's address on Docker's default bridge: how other hosts and an EE reach it."""
        out = subprocess.run(["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", self.name],
                             capture_output=True, text=True, check=True).stdout.strip()
        assert out, f"{self.name} has no address on the default bridge"
        return out

    def playbook(self, playbook: str, extra_vars: dict[str, Any] | None = None,
                 options: list[str] | None = None) -> PlaybookRun:
        return run_playbook([self], playbook, extra_vars, options)


def run_playbook(hosts: list[SystemdHost], playbook: str, extra_vars: dict[str, Any] | None = None,
                 options: list[str] | None = None) -> PlaybookRun:
    """Run ``playbook`` from the repository root against ``hosts`` (all in group slm_fleet).

    ``options`` are further ansible-playbook options, e.g. ``["--check", "--diff"]``.
    """
    groups: dict[str, dict[str, Any]] = {}
    for host in hosts:
        groups.setdefault(host.group, {"hosts": {}})["hosts"][host.name] = {
            "ansible_connection": "community.docker.docker",
            "ansible_python_interpreter": "/usr/bin/python3",
            **host.hostvars,
        }
    # An empty site_cache group: a site without a cache (site.yml's cache play then matches nothing).
    inventory = {"all": {"children": {"slm_fleet": {"children": groups}, "site_cache": {"hosts": {}}}}}
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               ANSIBLE_CALLBACKS_ENABLED="ansible.posix.json", ANSIBLE_GATHERING="implicit")
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="inventory-") as inv_file, \
            tempfile.TemporaryDirectory(prefix="slm-report-") as report_dir:
        inv_file.write(json.dumps(inventory))
        inv_file.flush()
        # Site reports go to a scratch directory unless the test wants to read one.
        extra = {"slm_report_dir": report_dir, **(extra_vars or {})}
        cmd = ["ansible-playbook", "-i", inv_file.name, playbook, "-e", json.dumps(extra), *(options or [])]
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"ansible-playbook printed no JSON report (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return PlaybookRun(proc.returncode, report, proc.stderr)


def _start(name: str) -> None:
    opts = _platform_options()
    if subprocess.run(["docker", "image", "inspect", opts["image"]], capture_output=True, check=False).returncode:
        pytest.fail(f"image {opts['image']} is missing: run `make images` first")
    cmd = ["docker", "run", "-d", "--name", name, "--hostname", name, "--cgroupns", opts["cgroupns_mode"]]
    for cap in opts["capabilities"]:
        cmd += ["--cap-add", cap]
    for sec in opts["security_opts"]:
        cmd += ["--security-opt", sec]
    for vol in opts["volumes"]:
        cmd += ["-v", vol]
    for tmpfs in opts["tmpfs"]:
        cmd += ["--tmpfs", tmpfs]
    subprocess.run(cmd + [opts["image"], opts["command"]], check=True, capture_output=True)


@pytest.fixture(scope="module")
def make_hosts() -> Iterator[Callable[..., list[SystemdHost]]]:
    """Factory: ``make_hosts(n)`` starts n systemd hosts; all are removed (with volumes) after the module."""
    started: list[str] = []

    def factory(count: int = 1) -> list[SystemdHost]:
        hosts = []
        for _ in range(count):
            name = f"slm-it-{uuid.uuid4().hex[:8]}"
            started.append(name)
            _start(name)
            hosts.append(SystemdHost(name))
        for host in hosts:
            for _ in range(60):
                if host.run("systemctl", "is-system-running").stdout.strip() in ("running", "degraded"):
                    break
                time.sleep(0.5)
        return hosts

    yield factory
    if started:
        subprocess.run(["docker", "rm", "-f", "-v", *started], capture_output=True, check=False)


@pytest.fixture(scope="module")
def systemd_host(make_hosts: Callable[..., list[SystemdHost]]) -> SystemdHost:
    """One systemd host for the module's tests."""
    return make_hosts(1)[0]


@pytest.fixture(scope="session")
def playbook() -> Callable[..., PlaybookRun]:
    """``playbook(hosts, "site.yml", extra_vars)``: run a playbook against several hosts."""
    return run_playbook
