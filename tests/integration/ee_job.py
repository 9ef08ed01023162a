"""One job in the execution environment, run by ansible-runner with container isolation, as AWX runs it.

Shared by test_ee_preflight.py (in `make test`) and test_ee_site.py (`make test-ee`). The EE image
(`make ee`, scripts/build-ee.sh) is the control node: ansible-runner starts it with the job's private
data directory mounted at /runner (project, inventory, extra vars, the machine credential's SSH key
loaded into an ssh-agent in the container), the way AWX lays a job out. The hosts are real systemd
hosts reached over SSH as the automation user with sudo (the AWX machine credential), never through
the docker connection: an EE reaches a site's hosts over the network, not through a container engine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VERSION = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
EE_IMAGE = os.environ.get("SLM_EE_IMAGE", f"slm-fleet/ee:{VERSION}")


@dataclass
class Job:
    """What one ansible-runner job left: its return code, output and artifacts directory."""

    rc: int
    output: str
    artifacts: Path
    ident: str

    def events(self) -> list[dict[str, Any]]:
        """The job's events (job_events/*.json), in order."""
        events = [json.loads(p.read_text()) for p in (self.artifacts / "job_events").glob("*.json")]
        return sorted(events, key=lambda e: e.get("counter", 0))

    def stats(self) -> dict[str, Any]:
        """The PLAY RECAP of the job (event_data of playbook_on_stats)."""
        return next(e for e in self.events() if e["event"] == "playbook_on_stats")["event_data"]


def require_ee() -> str:
    """The ansible-runner to use; fails the test when the EE image or the runner is missing."""
    if subprocess.run(["docker", "image", "inspect", EE_IMAGE], capture_output=True, check=False).returncode:
        pytest.fail(f"image {EE_IMAGE} is missing: run `make ee` first")
    found = REPO / ".cache/ee/tools/bin/ansible-runner"
    if found.exists():
        return str(found)
    on_path = shutil.which("ansible-runner")
    if not on_path:
        pytest.fail("ansible-runner is missing: run `make ee` (it installs requirements-ee.txt into .cache/ee/tools)")
    return on_path


def run_job(hosts: list[Any], work: Path, playbook: str, group: str, hostvars: dict[str, Any],
            extravars: dict[str, Any], mounts: list[str] | None = None) -> Job:
    """Run ``playbook`` in the EE against ``hosts`` (all in ``group`` under slm_fleet) over SSH.

    ``mounts`` are further ``SRC:DEST[:ro]`` volumes of the EE container (AWX's "paths to expose to
    isolated jobs"); the Docker socket is always mounted (the EE's Docker CLI builds and exports images).
    """
    runner = require_ee()
    key = work / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "slm-ee-it", "-f", str(key)], check=True)
    public = key.with_suffix(".pub").read_bytes()
    for host in hosts:
        install = ("cat > /home/ansible/.ssh/authorized_keys && chown ansible:ansible /home/ansible/.ssh/authorized_keys"
                   " && chmod 0600 /home/ansible/.ssh/authorized_keys")
        subprocess.run(["docker", "exec", "-i", host.name, "sh", "-c", install], input=public, check=True)

    # The job's private data directory, laid out as AWX lays it out for ansible-runner.
    ident = f"ee-{uuid.uuid4().hex[:8]}"
    pdd = work / "job"
    project = pdd / "project"
    project.mkdir(parents=True)
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(f"tar --null -T - -cf - | tar -xf - -C {project}", shell=True, cwd=REPO, input=files, check=True)
    common = {"ansible_user": "ansible", "ansible_python_interpreter": "/usr/bin/python3"}
    inventory = {"all": {"children": {
        "slm_fleet": {"children": {group: {"hosts": {h.name: {"ansible_host": h.address, **common, **hostvars}
                                                     for h in hosts}}}},
        "site_cache": {"hosts": {}}}}}
    (pdd / "inventory").mkdir()
    (pdd / "inventory/hosts.yml").write_text(yaml.safe_dump(inventory))
    (pdd / "env").mkdir()
    # {ident} in an extra var becomes this job's id (a report written into its artifacts directory).
    (pdd / "env/extravars").write_text(yaml.safe_dump(
        {k: v.replace("{ident}", ident) if isinstance(v, str) else v for k, v in extravars.items()}))
    (pdd / "env/ssh_key").write_text(key.read_text())
    (pdd / "env/envvars").write_text(yaml.safe_dump({
        # As AWX sets it: the EE's collections, not the project's (empty) collections/ directory.
        "ANSIBLE_COLLECTIONS_PATH": "/usr/share/ansible/collections",
        # New throwaway hosts; AWX's default too (AWX_TASK_ENV / ANSIBLE_HOST_KEY_CHECKING).
        "ANSIBLE_HOST_KEY_CHECKING": "False",
    }))
    cmd = [runner, "run", str(pdd), "-p", playbook, "--ident", ident,
           "--process-isolation", "--process-isolation-executable", "docker", "--container-image", EE_IMAGE,
           "--container-volume-mount", "/var/run/docker.sock:/var/run/docker.sock"]
    for mount in mounts or []:
        cmd += ["--container-volume-mount", mount]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return Job(proc.returncode, proc.stdout + proc.stderr, pdd / "artifacts" / ident, ident)


def assert_ran_in_the_ee(job: Job, playbook: str, hosts: list[Any]) -> None:
    """The job succeeded, inside the EE image started by docker, over SSH with the job's key."""
    artifacts = job.artifacts
    assert job.rc == 0 and (artifacts / "rc").read_text().strip() == "0", job.output[-4000:]
    assert (artifacts / "status").read_text().strip() == "successful"
    # The command ansible-runner ran: the EE image, started by docker, with the job's directory as /runner.
    command = json.loads((artifacts / "command").read_text())["command"]
    assert command[0].endswith("docker") and command[1] == "run" and EE_IMAGE in command, command
    assert any(arg.split(":")[1:2] in (["/runner"], ["/runner/"]) for arg in command), command
    start = next(e for e in job.events() if e["event"] == "playbook_on_start")
    assert start["event_data"]["playbook"] == playbook
    stats = job.stats()
    for host in hosts:
        assert stats["ok"].get(host.name, 0) > 0, stats
        assert stats["failures"].get(host.name, 0) == 0 and stats["dark"].get(host.name, 0) == 0, stats
    # The hosts were reached over SSH with the job's key (the machine credential), as the automation user.
    for host in hosts:
        log = host.run("journalctl", "-u", "ssh", "--no-pager", "-o", "cat").stdout
        assert "Accepted publickey for ansible" in log, log[-2000:]
