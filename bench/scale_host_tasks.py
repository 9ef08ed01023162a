"""Controller cost per host-task at 10, 50 and 100 hosts, before and after tuning, on the same hosts.

Creates a scale lab of lightweight SSH hosts (bench/scale_lab.py: containers ``scale-bench-NNN`` with sshd
only, no systemd and no Docker inside, on the network ``scale-bench``, 10.250.60.0/24) and, at each size,
runs on the same hosts, once per configuration - "before": the project at a baseline git revision
(``--baseline``, default ``main``: its playbooks, roles and ansible.cfg, extracted with ``git archive``);
"after": this working tree (its tuning commits) with the settings in TUNED_ENV:

* preflight: ``playbooks/preflight.yml``, the phase every playbook runs first (facts, hardware, plan,
  input checks; changes nothing);
* runtime: an idempotent re-run of the container_runtime role (bench/scale/runtime.yml): its validate,
  install (apt), compose plugin and daemon.json phases, on hosts that a first, unmeasured run converged.
  The hosts have no Docker engine, so the role's service phase (start docker, `docker info`,
  `docker compose version`) is left out, the engine package it checks is one the host has
  (openssh-server, via -e), and the Compose plugin it copies and checksums is a 64 KiB file made for the
  run (the real one is 60 MB per host). The first converge run fails on the "Restart docker" handler only
  (no systemd in the hosts): the bench checks that, and that every measured re-run has changed=0 failed=0.

Per run it prints wall time and controller CPU time (user + sys of ansible-playbook, its workers and its
ssh processes, ControlPersist masters included), both per host-task (ok + skipped + failed + unreachable
from the PLAY RECAP; changed tasks are counted in ok), the CPU the hosts' containers used, and the growth
from the smallest to the largest size as a ratio. The hosts and the controller share this machine's
cores: wall time includes the hosts' work; the controller CPU figure does not. A bench prints numbers;
nothing here asserts a time.

    python bench/scale_host_tasks.py --sizes 10,50,100 [--rounds 1] [--json out.json]

Hosts, network and files are always removed at the end, also on Ctrl-C or SIGTERM. Needs the docker CLI,
the local image slm-fleet/debian:bookworm (the host image is built from it when missing, ~1 min, apt) and
the project's .venv on PATH (ansible-playbook). Run it with ``nice -n 10`` on a shared machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale_lab as lab  # noqa: E402  # pylint: disable=wrong-import-position

PHASES = {"preflight": "playbooks/preflight.yml", "runtime": "bench/scale/runtime.yml"}


# Tuning beyond the working tree's commits, as environment (the same hosts, playbooks and results):
# every host in flight at once instead of ansible.cfg's 25 forks.
def tuned_env(size: int) -> Dict[str, str]:
    """Environment of the "after" configuration for ``size`` hosts."""
    return {"ANSIBLE_FORKS": str(max(size, 25))}


CONFIGS = ("before", "after")


def per_task_ms(seconds: float, tasks: int) -> Optional[float]:
    """Milliseconds per host-task (None without tasks)."""
    return None if tasks <= 0 else 1000.0 * seconds / tasks


def ratio(new: Optional[float], old: Optional[float]) -> Optional[float]:
    """new / old, or None when either is missing or old is zero."""
    return None if new is None or not old else new / old


def fmt(value: Optional[float], spec: str = "%.1f") -> str:
    """A number for the tables, '-' when missing."""
    return "-" if value is None else spec % value


def runtime_extra_vars(workdir: Path) -> Path:
    """The -e file of the runtime phase: a package the hosts have, and a Compose plugin file made for the run."""
    payload = workdir / "compose-plugin-payload"
    payload.write_bytes(os.urandom(64 * 1024))
    extra = {"container_runtime_engine_packages": {"distro": ["openssh-server"]},
             "container_runtime_compose_local_path": str(payload),
             "container_runtime_compose_sha256": hashlib.sha256(payload.read_bytes()).hexdigest()}
    path = workdir / "runtime-extra-vars.json"
    path.write_text(json.dumps(extra))
    return path


def playbook_args(phase: str, inventory: Path, extra: Path, root: Path) -> List[str]:
    """ansible-playbook arguments of a phase; the project's playbooks are taken from ``root``."""
    book = lab.REPO / PHASES[phase] if PHASES[phase].startswith("bench/") else root / PHASES[phase]
    args = ["-i", str(inventory), str(book)]
    return args + ["-e", "@%s" % extra] if phase == "runtime" else args


def extract_baseline(rev: str, dest: Path) -> Path:
    """The project at git revision ``rev`` in ``dest``, with this checkout's installed collections beside it."""
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(lab.REPO), "archive", "--format=tar", rev], capture_output=True,
                             check=False)
    if archive.returncode != 0:
        raise lab.LabError("--baseline %s: git archive failed: %s" % (rev, archive.stderr.decode(errors="replace").strip()))
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    ours = lab.REPO / "collections" / "ansible_collections"
    theirs = dest / "collections" / "ansible_collections"
    (theirs / "edgeai").mkdir(parents=True, exist_ok=True)
    (theirs / "edgeai" / "slm_fleet").symlink_to("../../..")
    for namespace in ours.iterdir():
        if namespace.name != "edgeai" and not (theirs / namespace.name).exists():
            (theirs / namespace.name).symlink_to(namespace.resolve())
    return dest


def config_env(config: str, size: int, baseline: Path) -> Tuple[Dict[str, str], Path]:
    """Environment and project root of a configuration."""
    if config == "before":
        return {"ANSIBLE_CONFIG": str(baseline / "ansible.cfg")}, baseline
    return dict(tuned_env(size), ANSIBLE_CONFIG=str(lab.REPO / "ansible.cfg")), lab.REPO


class Bench:
    """The runs of one bench, on one scale lab."""

    def __init__(self, scale: lab.ScaleLab, log, baseline: Path) -> None:
        self.lab = scale
        self.log = log
        self.baseline = baseline
        self.extra = runtime_extra_vars(scale.workdir)
        self.rows: List[Dict[str, object]] = []
        self.count = 0

    def run(self, phase: str, size: int, inventory: Path, config: str, extra_args: Sequence[str] = ()) -> lab.RunResult:
        """One run, with the hosts' CPU time around it."""
        self.count += 1
        env, root = config_env(config, size, self.baseline)
        env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] = str(self.lab.workdir / "facts")
        ids = list(self.lab.ids.values())[:size]
        host_cpu0 = lab.host_cpu_seconds(ids)
        result = lab.run_playbook([*playbook_args(phase, inventory, self.extra, root), *extra_args], env,
                                  self.lab.workdir / ("cp-%d" % self.count),
                                  self.lab.workdir / ("run-%03d-%s-%d.log" % (self.count, phase, size)))
        host_cpu1 = lab.host_cpu_seconds(ids)
        result.host_cpu_s = None if host_cpu0 is None or host_cpu1 is None else host_cpu1 - host_cpu0  # type: ignore
        return result

    def converge(self, size: int, inventory: Path, new_hosts: Sequence[str]) -> None:
        """Converge the runtime role once on the new hosts (unmeasured); its only allowed failure is the handler."""
        result = self.run("runtime", size, inventory, "after", ["--limit", ",".join(new_hosts)])
        failed = result.total("failed") + result.total("unreachable")
        handlers = result.output.split("RUNNING HANDLER")[1:]
        handler_only = len(handlers) == 1 and handlers[0].split("\n", 1)[0].find("Restart docker") >= 0 \
            and result.output.count("fatal:") == result.total("failed") \
            and result.total("failed") == handlers[0].count("fatal:")
        if failed and not handler_only:
            raise lab.LabError("converging container_runtime failed on more than its restart handler:\n%s"
                               % result.output[-2500:])

    def measure(self, size: int, inventory: Path, config: str, phase: str) -> None:
        """One phase in one configuration; records a row."""
        result = self.run(phase, size, inventory, config)
        tasks = result.host_tasks
        if phase == "preflight" and (result.rc != 0 or result.total("failed")):
            raise lab.LabError("preflight (%s) failed on the scale hosts (rc %d):\n%s"
                               % (config, result.rc, result.output[-2500:]))
        row = {"size": size, "phase": phase, "config": config, "rc": result.rc, "hosts": len(result.recap),
               "host_tasks": tasks, "wall_s": round(result.wall_s, 2), "cpu_s": round(result.cpu_s, 2),
               "wall_ms_per_task": per_task_ms(result.wall_s, tasks), "cpu_ms_per_task": per_task_ms(result.cpu_s, tasks),
               "host_cpu_s": getattr(result, "host_cpu_s", None),
               "changed": result.total("changed"), "failed": result.total("failed") + result.total("unreachable")}
        self.rows.append(row)
        note = "" if row["changed"] == 0 and row["failed"] == 0 and result.rc == 0 else \
            "  <- NOT idempotent/clean: changed=%s failed=%s rc=%s" % (row["changed"], row["failed"], result.rc)
        self.log("%4d hosts %-9s %-6s %5d host-tasks  wall %7.1f s (%6.1f ms/task)  controller CPU %7.1f s "
                 "(%6.1f ms/task)  hosts' CPU %s s%s" % (
                     size, phase, config, tasks, result.wall_s, row["wall_ms_per_task"] or 0, result.cpu_s,
                     row["cpu_ms_per_task"] or 0, fmt(row["host_cpu_s"]), note))


def best(rows: Sequence[Dict[str, object]], size: int, phase: str, config: str, key: str) -> Optional[float]:
    """The lowest value of ``key`` over the rounds of one cell (the least disturbed run on a shared machine)."""
    values = [r[key] for r in rows if (r["size"], r["phase"], r["config"]) == (size, phase, config)
              and r.get(key) is not None]
    return min(values) if values else None  # type: ignore[type-var]


def marginal_ms(rows: Sequence[Dict[str, object]], small: int, large: int, phase: str, config: str,
                key: str) -> Optional[float]:
    """Milliseconds of ``key`` (wall_s or cpu_s) per host-task added from ``small`` to ``large`` hosts."""
    values = [best(rows, size, phase, config, k) for size in (small, large) for k in (key, "host_tasks")]
    if None in values or values[3] == values[1]:
        return None
    return 1000.0 * (values[2] - values[0]) / (values[3] - values[1])  # type: ignore[operator]


def report(rows: Sequence[Dict[str, object]], sizes: Sequence[int]) -> str:
    """The summary: per-host-task figures, before/after ratios, growth from the smallest to the largest size."""
    lines = ["", "| phase | hosts | host-tasks before/after | wall ms/task before | after | after/before "
             "| CPU ms/task before | after | after/before | CPU s before | after |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    keys = ("wall_ms_per_task", "cpu_ms_per_task", "cpu_s", "host_tasks")
    for phase in PHASES:
        for size in sizes:
            cells = {(c, k): best(rows, size, phase, c, k) for c in CONFIGS for k in keys}
            lines.append("| %s | %d | %s/%s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                phase, size, fmt(cells[("before", "host_tasks")], "%d"), fmt(cells[("after", "host_tasks")], "%d"),
                fmt(cells[("before", "wall_ms_per_task")]), fmt(cells[("after", "wall_ms_per_task")]),
                fmt(ratio(cells[("after", "wall_ms_per_task")], cells[("before", "wall_ms_per_task")]), "%.2f"),
                fmt(cells[("before", "cpu_ms_per_task")]), fmt(cells[("after", "cpu_ms_per_task")]),
                fmt(ratio(cells[("after", "cpu_ms_per_task")], cells[("before", "cpu_ms_per_task")]), "%.2f"),
                fmt(cells[("before", "cpu_s")]), fmt(cells[("after", "cpu_s")])))
    if len(sizes) > 1:
        small, large = min(sizes), max(sizes)
        lines += ["", "Growth %d vs %d hosts (ratio of per-host-task figures; 1.0 = linear total cost), and the "
                  "marginal cost of a host-task between them (the run's fixed start-up cost taken out):" % (large, small)]
        for phase in PHASES:
            for config in CONFIGS:
                growth = [ratio(best(rows, large, phase, config, k), best(rows, small, phase, config, k))
                          for k in ("wall_ms_per_task", "cpu_ms_per_task")]
                lines.append("  %-9s %-6s wall %s  controller CPU %s  marginal: wall %s ms, controller CPU %s ms" % (
                    phase, config, fmt(growth[0], "%.2f"), fmt(growth[1], "%.2f"),
                    fmt(marginal_ms(rows, small, large, phase, config, "wall_s")),
                    fmt(marginal_ms(rows, small, large, phase, config, "cpu_s"))))
    lines.append("Anchor (issue 16): ~22 ms per host-task for tuned ansible-core on 500 hosts.")
    return "\n".join(lines)


def memory_line(prefix: str) -> str:
    """Resident memory (PSS) of the scale hosts' processes, total and per host."""
    try:
        import lab_site_memory  # pylint: disable=import-outside-toplevel
        hosts = lab_site_memory.measure(prefix)
    except (OSError, RuntimeError, ValueError) as exc:
        return "memory: not measured (%s)" % exc
    if not hosts:
        return "memory: no host running"
    total = sum(float(h["pss_mib"]) for h in hosts.values())  # type: ignore[arg-type]
    return "memory of %d idle hosts: %.0f MiB PSS in total, %.1f MiB per host (sshd + init)" % (
        len(hosts), total, total / len(hosts))


def parse_sizes(text: str) -> List[int]:
    """'10,50,100' -> [10, 50, 100]; a clear error for anything else."""
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise SystemExit("--sizes: give host counts separated by commas, e.g. 10,50,100 (got %r)" % text)
    if not sizes or sizes[0] < 1 or sizes[-1] > lab.MAX_HOSTS:
        raise SystemExit("--sizes: each size must be 1..%d (got %r)" % (lab.MAX_HOSTS, text))
    return sizes


def _interrupt(signum, _frame) -> None:
    raise KeyboardInterrupt("signal %d" % signum)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--sizes", default="10,50,100", help="host counts, comma-separated (default 10,50,100)")
    parser.add_argument("--phases", default="preflight,runtime", help="preflight,runtime (default) or preflight")
    parser.add_argument("--rounds", type=int, default=1, help="before/after pairs per size (the best is reported)")
    parser.add_argument("--baseline", default="main", help="git revision measured as 'before' (default main)")
    parser.add_argument("--json", type=Path, help="also write every run's figures to this file")
    parser.add_argument("--keep-logs", type=Path, help="copy the ansible-playbook logs to this directory")
    parser.add_argument("--report-from", type=Path, help="print the summary of a --json file and exit (no hosts)")
    args = parser.parse_args(argv)
    if args.report_from:
        rows = json.loads(args.report_from.read_text())
        print(report(rows, sorted({int(r["size"]) for r in rows})))
        return 0
    sizes = parse_sizes(args.sizes)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if not phases or set(phases) - set(PHASES) or "preflight" not in phases:
        raise SystemExit("--phases: preflight or preflight,runtime (runtime needs preflight's facts), got %r" % args.phases)
    if args.rounds < 1:
        raise SystemExit("--rounds must be at least 1 (got %d)" % args.rounds)
    started = time.monotonic()

    def log(msg: str) -> None:
        print("[scale-bench %6.0fs] %s" % (time.monotonic() - started, msg), flush=True)

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    if not lab.become_subreaper():
        log("warning: cannot become a child subreaper: ssh ControlPersist masters' CPU is not counted")
    os.environ["PATH"] = "%s:%s" % (lab.REPO / ".venv" / "bin", os.environ.get("PATH", ""))
    os.environ.setdefault("ANSIBLE_CONFIG", str(lab.REPO / "ansible.cfg"))
    (lab.REPO / ".cache").mkdir(exist_ok=True)
    scale = lab.ScaleLab(Path(tempfile.mkdtemp(prefix="scale-bench-", dir=lab.REPO / ".cache")), log)
    bench: Optional[Bench] = None
    try:
        lab.ensure_image(log)
        baseline = extract_baseline(args.baseline, scale.workdir / "baseline")
        scale.open()
        bench = Bench(scale, log, baseline)
        for size in sizes:
            known = len(scale.hosts)
            log("starting hosts up to %d" % size)
            scale.grow(size)
            inventory = scale.write_inventory(size)
            for round_ in range(args.rounds):
                bench.measure(size, inventory, "before", "preflight")  # also fills the runtime phase's fact cache
                if "runtime" in phases:
                    if round_ == 0:
                        log("converging container_runtime once on the %d new hosts (unmeasured)" % (size - known))
                        bench.converge(size, inventory, scale.hosts[known:])
                    bench.measure(size, inventory, "before", "runtime")
                bench.measure(size, inventory, "after", "preflight")
                if "runtime" in phases:
                    bench.measure(size, inventory, "after", "runtime")
            if size == sizes[-1]:
                log(memory_line(lab.PREFIX))
        print(report(bench.rows, sizes))
        if args.json:
            args.json.write_text(json.dumps(bench.rows, indent=1))
        return 0
    except lab.LabError as exc:
        log("ERROR: %s" % exc)
        return 2
    except KeyboardInterrupt:
        log("interrupted: removing the scale hosts")
        if bench and bench.rows:  # what was measured is still printed and saved
            print(report(bench.rows, sorted({int(r["size"]) for r in bench.rows})))  # type: ignore[call-overload]
            if args.json:
                args.json.write_text(json.dumps(bench.rows, indent=1))
        return 130
    finally:
        if args.keep_logs:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for path in scale.workdir.glob("run-*.log"):
                path.replace(args.keep_logs / path.name)
        scale.close()
        log("removed the scale hosts, network %s and %s" % (lab.NETWORK, scale.workdir))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
