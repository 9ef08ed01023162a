"""Fixtures for integration tests: real systemd hosts (containers) and real ansible-playbook runs."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HOST_IMAGE = "slm-fleet/edge-host:bookworm"


def _platform_options() -> dict[str, Any]:
    """The systemd-host container recipe, read from the shared molecule base (one source of truth)."""
    config = yaml.safe_load((REPO / ".config/molecule/config.yml").read_text())
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


@dataclass
class SystemdHost:
    """A disposable edge host: a systemd container reached with the docker connection."""

    name: str

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "exec", self.name, *argv], capture_output=True, text=True, check=False)

    def playbook(self, playbook: str, extra_vars: dict[str, Any] | None = None) -> PlaybookRun:
        inventory = {
            "all": {"children": {"slm_fleet": {"children": {"edge_servers": {"hosts": {self.name: {
                "ansible_connection": "community.docker.docker",
                "ansible_python_interpreter": "/usr/bin/python3",
            }}}}}}},
        }
        inv_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"inv-{self.name}.yml"
        inv_file.write_text(json.dumps(inventory))
        env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
                   ANSIBLE_CALLBACKS_ENABLED="ansible.posix.json", ANSIBLE_GATHERING="implicit")
        cmd = ["ansible-playbook", "-i", str(inv_file), playbook, "-e", json.dumps(extra_vars or {})]
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
        inv_file.unlink()
        try:
            report = json.loads(proc.stdout)
        except ValueError:
            pytest.fail(f"ansible-playbook printed no JSON report (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return PlaybookRun(proc.returncode, report, proc.stderr)


@pytest.fixture(scope="module")
def systemd_host() -> Iterator[SystemdHost]:
    """Start one systemd host container for the module's tests; remove it (and its volumes) after."""
    if subprocess.run(["docker", "image", "inspect", HOST_IMAGE], capture_output=True, check=False).returncode:
        pytest.fail(f"image {HOST_IMAGE} is missing: run `make images` first")
    opts = _platform_options()
    name = f"slm-it-{uuid.uuid4().hex[:8]}"
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
    host = SystemdHost(name)
    try:
        for _ in range(60):
            state = host.run("systemctl", "is-system-running").stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.5)
        yield host
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)
