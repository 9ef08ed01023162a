"""Memory of a lab site's hosts on this machine, per host and in total.

The lab's hosts are systemd containers that run their own Docker engine (cgroup namespace of the
machine, cgroupfs driver on cgroup v1): the engine containers they start get cgroups beside theirs,
not below, so `docker stats` on a lab host misses its engine (and shows 0 B on cgroup v1 without
the memory accounting it expects). This script counts, per lab host:

* PSS (proportional set size) of every process that descends from the host container's init -
  systemd, sshd, dockerd, containerd, the engine's container and server. PSS shares the pages
  several processes map, so the sum over the site is what the site really occupies in RAM;
* the cgroup figures (usage with page cache, RSS, peak) of the host container and of every
  container its Docker engine runs, read from the memory controller (v1 or v2).

    python bench/lab_site_memory.py [--prefix edge-] [--json]

Reads /proc and /sys/fs/cgroup; needs root (PSS of other users' processes) and the docker CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

MIB = 1024 * 1024


def docker_ids(prefix: str) -> Dict[str, Dict[str, object]]:
    """Name -> {id, pid} of the running containers whose name starts with ``prefix``."""
    names = subprocess.run(["docker", "ps", "--format", "{{.Names}}"], capture_output=True, text=True,
                           check=True).stdout.split()
    out: Dict[str, Dict[str, object]] = {}
    for name in sorted(n for n in names if n.startswith(prefix)):
        cid, pid = subprocess.run(["docker", "inspect", "-f", "{{.Id}} {{.State.Pid}}", name], capture_output=True,
                                  text=True, check=True).stdout.split()
        out[name] = {"id": cid, "pid": int(pid)}
    return out


def children_map() -> Dict[int, List[int]]:
    """Parent pid -> child pids, for every process."""
    kids: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc/%s/stat" % entry).read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def descendants(root: int, kids: Dict[int, List[int]]) -> List[int]:
    """``root`` and every process below it."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def pss_kib(pid: int) -> int:
    """PSS of one process in KiB (0 if it exited or is a kernel thread)."""
    try:
        for line in Path("/proc/%d/smaps_rollup" % pid).read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory_cgroup(pid: int) -> Optional[Path]:
    """The memory cgroup directory of a process (v1 memory controller, or the v2 unified one)."""
    try:
        lines = Path("/proc/%d/cgroup" % pid).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _hierarchy, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return Path("/sys/fs/cgroup/memory" + path)
    for line in lines:
        if line.startswith("0::"):
            return Path("/sys/fs/cgroup" + line[3:])
    return None


def cgroup_numbers(path: Path) -> Dict[str, int]:
    """usage (with page cache), rss (anonymous) and peak, in bytes, of a cgroup and its children."""
    def read(name: str) -> Optional[str]:
        try:
            return (path / name).read_text()
        except OSError:
            return None
    stat = dict(line.split() for line in (read("memory.stat") or "").splitlines() if " " in line)
    if read("memory.usage_in_bytes") is not None:  # cgroup v1
        return {"usage": int(read("memory.usage_in_bytes") or 0), "rss": int(stat.get("total_rss", 0)),
                "peak": int(read("memory.max_usage_in_bytes") or 0)}
    return {"usage": int(read("memory.current") or 0), "rss": int(stat.get("anon", 0)),
            "peak": int(read("memory.peak") or 0)}


def measure(prefix: str) -> Dict[str, Dict[str, object]]:
    """Per lab host: PSS of its process tree and the cgroups of it and of its engine's containers."""
    kids = children_map()
    result: Dict[str, Dict[str, object]] = {}
    for name, info in docker_ids(prefix).items():
        pids = descendants(int(info["pid"]), kids)  # type: ignore[arg-type]
        groups = {g for g in (memory_cgroup(p) for p in pids) if g is not None}
        own = memory_cgroup(int(info["pid"]))  # type: ignore[arg-type]
        own_root = own.parent if own and own.name == "init.scope" else own
        # Cgroups at or below the host's own are in its hierarchical totals; one above it (a process
        # `docker exec` placed in the parent for a moment) would count every container on the machine.
        inside = [g for g in groups if own_root and (g == own_root or own_root in g.parents or g in own_root.parents)]
        tops = sorted(g for g in groups if g not in inside)
        if own_root:
            tops.insert(0, own_root)
        totals = {"usage": 0, "rss": 0, "peak": 0}
        for group in tops:
            for key, value in cgroup_numbers(group).items():
                totals[key] += value
        result[name] = {"processes": len(pids), "pss_mib": round(sum(pss_kib(p) for p in pids) / 1024, 1),
                        "cgroups": [str(g) for g in tops],
                        "cgroup_usage_mib": round(totals["usage"] / MIB, 1),
                        "cgroup_rss_mib": round(totals["rss"] / MIB, 1),
                        "cgroup_peak_mib": round(totals["peak"] / MIB, 1)}
    return result


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--prefix", default="edge-", help="container name prefix of the site's hosts")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    try:
        hosts = measure(args.prefix)
    except (OSError, subprocess.CalledProcessError) as exc:
        print("lab_site_memory: cannot read the containers (%s); run as root with the docker CLI" % exc, file=sys.stderr)
        return 2
    if not hosts:
        print("lab_site_memory: no running container named %s*; bring the site up first" % args.prefix, file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(hosts, indent=2))
        return 0
    print("%-16s %6s %10s %14s %12s %12s" % ("host", "procs", "PSS MiB", "cgroup MiB", "RSS MiB", "peak MiB"))
    row = "%-16s %6d %10.1f %14.1f %12.1f %12.1f"
    for name, h in hosts.items():
        print(row % (name, h["processes"], h["pss_mib"], h["cgroup_usage_mib"], h["cgroup_rss_mib"], h["cgroup_peak_mib"]))
    print(row % (
        "total", sum(h["processes"] for h in hosts.values()), *(sum(h[k] for h in hosts.values()) for k in (
            "pss_mib", "cgroup_usage_mib", "cgroup_rss_mib", "cgroup_peak_mib"))))
    print("(cgroup usage includes page cache the kernel can drop; PSS is resident memory, shared pages split)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
