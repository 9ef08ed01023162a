"""Upstream bytes from the control node per site, with and without the site cache, for 2 and 4 hosts.

Starts real systemd hosts (the integration tests' recipe, tests/integration/conftest.py): one site cache host
and 4 hosts. For N = 2 and N = 4, it ships the same artifacts (a 24 MiB model in three files and the
`slm-fleet/busybox:test` image archive) to N hosts twice, from a clean state each time:

* baseline: `slm_release_artifact_source: control_node` - every host gets its own copy from the control node;
* cache: the inventory's site cache - the control node sends one copy to the cache, the hosts fetch from it.

Upstream bytes are what slm_release counts for each copy the control node makes (the size of every file its
copy tasks transferred: model files and the image archive, to the cache and to hosts). The bytes the hosts took
from the cache over the site network are read from the cache itself (nginx's access log, `$body_bytes_sent`).
Prints both runs side by side and the ratio cache / baseline (target: one copy per site, 1/N).

    python bench/site_cache_upstream.py [--hosts 2 4] [--model-mib 24]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from conftest import SystemdHost, _start, run_playbook  # noqa: E402  (the integration tests' host recipe)

IMAGE = "slm-fleet/busybox:test"
PLAYBOOK = "tests/integration/playbooks/site_cache.yml"
REPORT_TASK = "Report what each host received and what the control node sent"


def ip_of(name: str) -> str:
    return subprocess.run(["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name],
                          capture_output=True, text=True, check=True).stdout.strip()


def start_hosts(count: int) -> list[SystemdHost]:
    hosts = []
    for _index in range(count):
        host = SystemdHost(f"site-cache-bench-{uuid.uuid4().hex[:8]}")
        _start(host.name)
        hosts.append(host)
    for host in hosts:
        for _attempt in range(120):
            if host.run("systemctl", "is-system-running").stdout.strip() in ("running", "degraded"):
                break
            time.sleep(0.5)
    return hosts


def make_model(root: Path, mib: int) -> dict[str, Any]:
    files = {"model.onnx.data": os.urandom(mib * 1024 * 1024 - 8192), "genai_config.json": b'{"model": {}}' * 100,
             "tokenizer/tokenizer.json": b'{"v": 1}' * 800}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return {"build_key": hashlib.sha256(b"".join(files.values())).hexdigest(),
            "files": [{"path": p, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for p, d in files.items()]}


def reset(cache: SystemdHost, hosts: list[SystemdHost]) -> None:
    """Forget every shipped artifact: hosts lose the model and the image, the cache its models and registry."""
    for host in hosts:
        host.run("sh", "-c", f"rm -rf /var/lib/slm-it; docker rmi -f {IMAGE} >/dev/null 2>&1; "
                             "docker image prune -af >/dev/null 2>&1; true")
    cache.run("sh", "-c", "rm -rf /var/lib/slm-site-cache/models/* /var/lib/slm-site-cache/registry/* && "
                          ": > /var/log/nginx/slm-site-cache.access.log && systemctl restart docker-registry")


def served_bytes(cache: SystemdHost) -> int:
    """Bytes nginx sent from the cache ($body_bytes_sent of the combined log format)."""
    total = 0
    for line in cache.run("cat", "/var/log/nginx/slm-site-cache.access.log").stdout.splitlines():
        fields = line.split('"')
        if len(fields) > 2:
            status_size = fields[2].split()
            if len(status_size) >= 2 and status_size[1].isdigit():
                total += int(status_size[1])
    return total


def ship(cache: SystemdHost, hosts: list[SystemdHost], extra: dict[str, Any], source: str) -> dict[str, Any]:
    reset(cache, hosts)
    started = time.monotonic()
    run = run_playbook([cache, *hosts], PLAYBOOK, {**extra, "slm_release_artifact_source": source})
    seconds = time.monotonic() - started
    if run.rc != 0:
        raise SystemExit(f"{source} run failed: " + json.dumps({h.name: run.failures(h.name) for h in [cache, *hosts]}))
    report = {}
    for play in run.report["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] == REPORT_TASK:
                report = {h: r["msg"] for h, r in task["hosts"].items()}
    return {"upstream": sum(int(r["upstream_bytes"]) for r in report.values()), "site": served_bytes(cache),
            "seconds": seconds, "from": sorted({r["model_from"] + "/" + r["image_from"] for r in report.values()})}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--model-mib", type=int, default=24)
    args = parser.parse_args()
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False).returncode:
        raise SystemExit(f"image {IMAGE} is missing: run `make images` first")
    most = max(args.hosts)
    everyone = start_hosts(most + 1)
    cache, hosts = everyone[0], everyone[1:]
    try:
        cache.group = "site_cache"
        address = ip_of(cache.name)
        cache.hostvars = {"site_cache_address": address}
        for host in hosts:
            host.group = "gateways"
        with tempfile.TemporaryDirectory(prefix="site-cache-bench-") as tmp:
            work = Path(tmp)
            manifest = make_model(work / "model", args.model_mib)
            extra = {"it_model_dir": str(work / "model"), "it_manifest": manifest, "it_image_ref": IMAGE,
                     "it_build_dir": str(work / "build"), "site_cache_deb_cache_dir": str(work / "debs"),
                     "container_runtime_compose_source": "none",
                     "container_runtime_daemon_options": {"insecure-registries": [f"{address}:5000"]}}
            # Warm-up: the cache's packages and Docker in every host, so that the measured runs ship artifacts only.
            run = run_playbook([cache, *hosts], PLAYBOOK, extra)
            if run.rc != 0:
                raise SystemExit("warm-up failed: " + json.dumps({h.name: run.failures(h.name) for h in everyone}))
            rows = []
            for count in args.hosts:
                base = ship(cache, hosts[:count], extra, "control_node")
                cached = ship(cache, hosts[:count], extra, "site_cache")
                rows.append((count, base, cached))
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", *[h.name for h in everyone]], capture_output=True, check=False)

    artifact = sum(f["size"] for f in manifest["files"])
    print(f"\nupstream bytes from the control node per site (model {artifact / 2**20:.1f} MiB + image archive)")
    print(f"{'hosts':>5} {'no cache MiB':>13} {'cache MiB':>10} {'ratio':>7} {'1/N':>6} "
          f"{'site network MiB':>17} {'no cache s':>11} {'cache s':>8}  sources")
    for count, base, cached in rows:
        print(f"{count:>5} {base['upstream'] / 2**20:>13.1f} {cached['upstream'] / 2**20:>10.1f} "
              f"{cached['upstream'] / base['upstream']:>7.3f} {1 / count:>6.3f} {cached['site'] / 2**20:>17.1f} "
              f"{base['seconds']:>11.0f} {cached['seconds']:>8.0f}  {base['from']} / {cached['from']}")
    if len(rows) > 1:
        first, last = rows[0][2]["upstream"], rows[-1][2]["upstream"]
        print(f"\ncache upstream, {rows[-1][0]} hosts vs {rows[0][0]} hosts: {last / first:.3f} (target 1.000: "
              "independent of N)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
