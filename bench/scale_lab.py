"""The scale lab: N lightweight SSH hosts for bench/scale_host_tasks.py, and how to run a playbook on them.

Each host is a container of the image ``slm-fleet/scale-host:bookworm`` (bench/scale/Dockerfile: the
project's Debian 12 base plus openssh-server, sudo, python3-apt, python3-requests; sshd under Docker's
tiny init, no systemd, no Docker engine), named ``scale-bench-NNN``, on the network ``scale-bench``
(10.250.60.0/24), reached as ``ansible`` with an SSH key generated for the run - the way lab/lab.yml
builds the lab site. Everything the lab creates carries the label ``io.edgeai.slm_fleet.scale_bench``
and is removed by :meth:`ScaleLab.close`.

:func:`run_playbook` measures one ansible-playbook run: wall time, and the CPU time (user + sys) of
ansible-playbook, its workers and every ssh process they start - ControlPersist masters included: the
bench becomes a child subreaper, so the masters, which detach, are reparented to it, and each run
ends by closing them (``ssh -O exit``) and reaping them before reading the resource usage.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
IMAGE = "slm-fleet/scale-host:bookworm"
BASE_IMAGE = "slm-fleet/debian:bookworm"
NETWORK = "scale-bench"
SUBNET = "10.250.60.0/24"
PREFIX = "scale-bench-"
LABEL = "io.edgeai.slm_fleet.scale_bench=true"
MAX_HOSTS = 200  # addresses 10.250.60.11 .. .210
PR_SET_CHILD_SUBREAPER = 36

RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$")


class LabError(RuntimeError):
    """The scale lab cannot be created or reached; the message says what to do."""


def host_name(index: int) -> str:
    """Container and inventory name of the host with 1-based ``index``."""
    return "%s%03d" % (PREFIX, index)


def host_address(index: int) -> str:
    """Address of the host with 1-based ``index`` (10.250.60.11 for the first)."""
    if not 1 <= index <= MAX_HOSTS:
        raise LabError("host index %d is outside 1..%d (the %s network)" % (index, MAX_HOSTS, SUBNET))
    return "10.250.60.%d" % (10 + index)


def parse_recap(output: str) -> Dict[str, Dict[str, int]]:
    """Per host, the counters of the last PLAY RECAP in ``output`` (ok, changed, failed, skipped...)."""
    start = output.rfind("PLAY RECAP")
    if start < 0:
        return {}
    hosts: Dict[str, Dict[str, int]] = {}
    for line in output[start:].splitlines()[1:]:
        match = RECAP_LINE.match(line.strip())
        if not match:
            if hosts:
                break
            continue
        hosts[match.group("host")] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group("counts"))}
    return hosts


def host_tasks(recap: Dict[str, Dict[str, int]]) -> int:
    """Host-tasks of a run: per host ok + skipped + failed + unreachable (a changed task is also counted in ok)."""
    return sum(c.get("ok", 0) + c.get("skipped", 0) + c.get("failed", 0) + c.get("unreachable", 0)
               for c in recap.values())


@dataclass
class RunResult:
    """One measured ansible-playbook run."""

    rc: int
    wall_s: float
    cpu_s: float
    recap: Dict[str, Dict[str, int]]
    output: str = field(repr=False)

    @property
    def host_tasks(self) -> int:
        """Host-tasks counted from the recap."""
        return host_tasks(self.recap)

    def total(self, key: str) -> int:
        """Sum of one recap counter over the hosts."""
        return sum(c.get(key, 0) for c in self.recap.values())


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def ensure_image(log) -> None:
    """Build the scale-host image from the local Debian base when it is missing (~1 min, apt only)."""
    if _docker("image", "inspect", IMAGE, check=False).returncode == 0:
        return
    if _docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        raise LabError("the base image %s is missing: build it first (images/base/build.sh or `make images`)" % BASE_IMAGE)
    log("building %s from %s (bench/scale/Dockerfile)" % (IMAGE, BASE_IMAGE))
    build = subprocess.run(["docker", "build", "-q", "-t", IMAGE, "--build-arg", "BASE_IMAGE=" + BASE_IMAGE,
                            str(REPO / "bench" / "scale")], capture_output=True, text=True, check=False)
    if build.returncode != 0:
        raise LabError("building %s failed: %s" % (IMAGE, build.stderr.strip()[-800:]))


class ScaleLab:
    """Creates hosts on demand (:meth:`grow`) and removes all of them, its network and its files on :meth:`close`."""

    def __init__(self, workdir: Path, log) -> None:
        self.workdir = workdir
        self.log = log
        self.hosts: List[str] = []
        self.ids: Dict[str, str] = {}
        self.key = workdir / "ssh" / "id_ed25519"
        self._network = False

    def open(self) -> None:
        """Check for leftovers, generate the key, create the network."""
        taken = _docker("ps", "-a", "--filter", "name=^" + PREFIX, "--format", "{{.Names}}").stdout.split()
        if taken or _docker("network", "inspect", NETWORK, check=False).returncode == 0:
            raise LabError("containers %s or network %s exist (another bench running, or a killed one): remove them "
                           "with `docker rm -f $(docker ps -aq --filter label=%s)` and `docker network rm %s`"
                           % (", ".join(taken[:3]) or PREFIX + "*", NETWORK, LABEL.split("=", maxsplit=1)[0], NETWORK))
        self.key.parent.mkdir(parents=True, mode=0o700)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "slm-fleet-scale-bench", "-f",
                        str(self.key)], check=True)
        self.key.with_suffix(".pub").chmod(0o644)
        self._network = True  # set first: a half-created network is still removed
        _docker("network", "create", "--subnet", SUBNET, "--label", LABEL, NETWORK)

    def grow(self, size: int, timeout: float = 120.0) -> None:
        """Start hosts until there are ``size``, and wait for their SSH banners."""
        new = []
        for index in range(len(self.hosts) + 1, size + 1):
            name = host_name(index)
            self.hosts.append(name)  # before the run: a failed start is still removed
            self.ids[name] = _docker(
                "run", "-d", "--init", "--name", name, "--hostname", name, "--network", NETWORK,
                "--ip", host_address(index), "--label", LABEL,
                "-v", "%s:/home/ansible/.ssh/authorized_keys:ro" % self.key.with_suffix(".pub"), IMAGE).stdout.strip()
            new.append(host_address(index))
        deadline = time.monotonic() + timeout
        for address in new:
            while not _ssh_banner(address):
                if time.monotonic() > deadline:
                    raise LabError("no SSH banner from %s after %.0f s (see `docker logs` of its container)"
                                   % (address, timeout))
                time.sleep(0.2)

    def write_inventory(self, size: int) -> Path:
        """An inventory of the first ``size`` hosts, shaped like the lab site's; returns its directory."""
        inv = self.workdir / ("inventory-%d" % size)
        (inv / "group_vars").mkdir(parents=True, exist_ok=True)
        lines = ["---", "all:", "  children:", "    slm_fleet:", "      children:", "        iot_gateways:",
                 "          hosts:"]
        lines += ["            %s: {ansible_host: %s}" % (host_name(i), host_address(i)) for i in range(1, size + 1)]
        (inv / "hosts.yml").write_text("\n".join(lines) + "\n")
        (inv / "group_vars" / "all.yml").write_text(
            "---\nslm_site: scale-bench\nslm_report_dir: %s\nansible_user: ansible\n"
            "ansible_ssh_private_key_file: %s\n"
            "ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR\n"
            "ansible_python_interpreter: /usr/bin/python3\n" % (self.workdir / "reports", self.key))
        return inv

    def close(self) -> None:
        """Remove every host, the network and the work directory (safe to call twice)."""
        if self.hosts:
            _docker("rm", "-f", "-v", *self.hosts, check=False)
            self.hosts = []
            self.ids = {}
        if self._network:
            _docker("network", "rm", NETWORK, check=False)
            self._network = False
        shutil.rmtree(self.workdir, ignore_errors=True)


def _ssh_banner(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=1) as conn:
            conn.settimeout(2)
            return conn.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux); False when not possible."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _reap_all() -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, 0)
        except ChildProcessError:
            return
        if pid == 0:
            return


def run_playbook(args: Sequence[str], env: Dict[str, str], control_dir: Path, log_path: Path) -> RunResult:
    """Run ``ansible-playbook args`` with ``env``; wall and CPU time of it and all its descendants."""
    control_dir.mkdir(parents=True, exist_ok=True)
    run_env = dict(os.environ, **env, ANSIBLE_SSH_CONTROL_PATH_DIR=str(control_dir), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_FORCE_COLOR="0")
    _reap_all()
    before = os.times()
    start = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(["ansible-playbook", *args], stdout=out, stderr=subprocess.STDOUT, env=run_env,
                                cwd=str(REPO))
        try:
            rc = proc.wait()
        except BaseException:
            proc.terminate()
            proc.wait()
            raise
    wall = time.monotonic() - start
    for sock in control_dir.iterdir():  # close the ControlPersist masters, so their CPU time is counted
        subprocess.run(["ssh", "-O", "exit", "-o", "ControlPath=%s" % sock, "scale-bench"], capture_output=True,
                       check=False)
    _reap_all()
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    output = log_path.read_text(encoding="utf-8", errors="replace")
    return RunResult(rc=rc, wall_s=wall, cpu_s=cpu, recap=parse_recap(output), output=output)


def host_cpu_seconds(ids: Sequence[str]) -> Optional[float]:
    """CPU time the containers ``ids`` used so far (cgroup v1 cpuacct or v2 cpu.stat); None when unreadable."""
    total = 0.0
    for cid in ids:
        v1 = Path("/sys/fs/cgroup/cpuacct/docker/%s/cpuacct.usage" % cid)
        v2 = Path("/sys/fs/cgroup/system.slice/docker-%s.scope/cpu.stat" % cid)
        try:
            if v1.exists():
                total += int(v1.read_text()) / 1e9
            else:
                usage = dict(line.split() for line in v2.read_text().splitlines())
                total += int(usage["usage_usec"]) / 1e6
        except (OSError, KeyError, ValueError):
            return None
    return total
