"""Faults survived: real systemd hosts, real site.yml runs with the ONNX engine, and a fault injected mid-run.

Two gateways serve release A of the tiny model. Each later release ships the same model plus one padding
file (a new manifest, so a new model version and a new release), and each test breaks something while it
is being shipped:

1. the disk fills while the model files are being copied (a small tmpfs under the host's model directory,
   filled once the copy has begun, after the free-space check passed);
2. the controller is killed (SIGKILL to ansible-playbook's process group) while a large file is in flight,
   and the same command is run again: the interrupted copy resumes;
3. a host disappears (``docker kill``) while its model is being shipped, in a batch of two: the other host
   finishes.

Each asserts that nothing is lost (the host keeps serving its previous release: engine record, `current`
link and a real HTTP request; no half-written version is promoted), then that repeating the same command
converges. The module ends with one line: ``faults survived: N/3``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import onnx_gateway
import pytest
from onnx_gateway import MODEL_ID, REPO, answers, releases, served

MODELS = f"/var/lib/slm-fleet/onnx/models/{MODEL_ID}"
MIB = 1024 * 1024
# The small filesystem of the disk-full fault: room for two versions of the tiny model and a copy.
TMPFS_MIB = 48
FAULTS = ("disk full during the artifact copy", "controller killed mid-copy, run repeated",
          "host gone mid-run, the other finishes")
SURVIVED: dict[str, bool] = {}


@pytest.fixture(scope="module", autouse=True)
def figure_line(request):
    """Print the module's figure once, after its last test."""
    yield
    line = "faults survived: %d/%d" % (sum(SURVIVED.values()), len(FAULTS))
    lost = [name for name in FAULTS if not SURVIVED.get(name)]
    if lost:
        line += " (not survived: %s)" % ", ".join(lost)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("\n" + line)


def gateway_vars(tmp: Path) -> dict[str, Any]:
    return onnx_gateway.gateway_vars(
        tmp, "faults-it", verify_max_tokens=16,
        # The free-space check must pass on the small filesystem: the fault comes after it.
        slm_release_space_margin_bytes=4 * MIB)


# ------------------------------------------------------------------------------------------ helpers

def entries(host, path: str) -> set[str]:
    """Names in a host directory, dot-files included."""
    return set(host.run("ls", "-A", path).stdout.split())


def staging_left(host) -> set[str]:
    return {name for name in entries(host, MODELS) if name.startswith(".staging-")}


def matches(host, model_dir: str, manifest: dict[str, Any]) -> list[str]:
    """Files of ``model_dir`` on the host whose sha256 differs from the manifest (empty: all verified)."""
    paths = [f"{model_dir}/{f['path']}" for f in manifest["files"]]
    out = host.run("sha256sum", *paths).stdout
    got = {line.split(None, 1)[1].strip(): line.split()[0] for line in out.splitlines() if line.strip()}
    return [f["path"] for f in manifest["files"] if got.get(f"{model_dir}/{f['path']}") != f["sha256"]]


def no_traceback(run, host) -> None:
    """No Python traceback in the run's output or in any failure message of ``host``.

    (ansible-core 2.19 puts ``exception: "(traceback unavailable)"`` in every failed result, even a plain
    ``fail`` task's: the key alone says nothing.)
    """
    text = json.dumps(run.report) + run.stderr
    assert "Traceback (most recent call last)" not in text, text[-3000:]
    assert not [m for m in run.failures(host.name) if "Traceback" in m or 'File "' in m], run.failures(host.name)


def task_result(run, host, name: str) -> dict[str, Any]:
    """The last result of the task called ``name`` on ``host`` ({} when it did not run there)."""
    found: dict[str, Any] = {}
    for play in run.report.get("plays", []):
        for task in play.get("tasks", []):
            # The json callback prefixes a role's tasks with "<role> : ".
            if task["task"]["name"].split(" : ")[-1] == name and host.name in task.get("hosts", {}):
                found = task["hosts"][host.name]
    return found


def summary(tmp: Path) -> dict[str, Any]:
    return json.loads((tmp / "rollout.json").read_text())


def wait_until_running(host) -> None:
    for _attempt in range(120):
        if host.run("systemctl", "is-system-running").stdout.strip() in ("running", "degraded"):
            return
        time.sleep(0.5)
    pytest.fail(f"{host.name} did not come back")


def make_variant(fleet: dict[str, Any], name: str, padding_mib: int) -> dict[str, Any]:
    """The built model plus a padding file the manifest covers: a new model version (a prebuilt directory)."""
    built = fleet["tmp"] / "build" / "models" / MODEL_ID
    out = fleet["tmp"] / "variants" / name
    shutil.copytree(built, out)
    manifest = json.loads((built / "manifest.json").read_text())
    block = hashlib.sha256(name.encode()).digest() * (MIB // 32)
    digest = hashlib.sha256()
    with open(out / "zz-padding.bin", "wb") as handle:
        for index in range(padding_mib):
            chunk = index.to_bytes(8, "big") + block[8:]
            handle.write(chunk)
            digest.update(chunk)
    manifest["files"].append({"path": "zz-padding.bin", "sha256": digest.hexdigest(), "size": padding_mib * MIB})
    manifest["build_key"] = hashlib.sha256((manifest["build_key"] + digest.hexdigest()).encode()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return {"dir": str(out), "manifest": manifest, "model_dir": f"{MODELS}/{manifest['build_key'][:12]}"}


def inventory_of(hosts) -> dict[str, Any]:
    """The inventory conftest.run_playbook writes, for runs this module has to start (and kill) itself."""
    groups: dict[str, dict[str, Any]] = {}
    for host in hosts:
        groups.setdefault(host.group, {"hosts": {}})["hosts"][host.name] = {
            "ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3",
            **host.hostvars}
    return {"all": {"children": {"slm_fleet": {"children": groups}, "site_cache": {"hosts": {}}}}}


def killed_run(hosts, extra: dict[str, Any], kill_when: Callable[[], bool], timeout: float = 900) -> bool:
    """site.yml in its own process group, SIGKILLed as soon as ``kill_when()``; True when it was killed."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_GATHERING="implicit")
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="inventory-") as inv:
        inv.write(json.dumps(inventory_of(hosts)))
        inv.flush()
        proc = subprocess.Popen(["ansible-playbook", "-i", inv.name, "site.yml", "-e", json.dumps(extra)], cwd=REPO,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                if kill_when():
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    return True
                time.sleep(0.1)
            return False
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


# ------------------------------------------------------------------------------------------ the site

@pytest.fixture(scope="module")
def fleet(make_hosts, tmp_path_factory, playbook):
    """Two gateways serving release A; the first keeps its model versions on a small tmpfs of its own."""
    tmp = tmp_path_factory.mktemp("faults-suite")
    hosts = make_hosts(2)
    for host in hosts:
        host.group = "iot_gateways"
        host.hostvars = gateway_vars(tmp)
    small = hosts[0]
    mounted = small.run("sh", "-c", f"mkdir -p {MODELS} && mount -t tmpfs -o size={TMPFS_MIB}m,mode=0755 "
                                    f"faults-suite-models {MODELS}")
    assert mounted.returncode == 0, mounted.stderr
    run = playbook(hosts, "site.yml", {"slm_report_dir": str(tmp), "rollout_batches": ["100%"]})
    assert run.rc == 0, (run.failures(hosts[0].name), run.failures(hosts[1].name), run.stderr[-3000:])
    release_a = {served(h) for h in hosts}
    assert len(release_a) == 1 and all(answers(h) for h in hosts)
    return {"hosts": hosts, "tmp": tmp, "playbook": playbook}


def site(fleet, hosts, variant: dict[str, Any], **extra):
    return fleet["playbook"](hosts, "site.yml", {"slm_report_dir": str(fleet["tmp"]), "rollout_batches": ["100%"],
                                                 "engine_onnx_prebuilt_dir": variant["dir"], **extra})


# ------------------------------------------------------------------------------------------ the faults

def test_disk_full_during_the_model_copy(fleet):
    host = fleet["hosts"][0]
    previous, before = served(host), releases(host)
    variant = make_variant(fleet, "disk-full", 8)
    # The filler waits until the copy has put its first file into the staging directory (the free-space
    # check has passed by then), then takes every free byte of the filesystem.
    filler = (f"echo $$ > /run/faults-suite-filler.pid; while ! ls {MODELS}/.staging-*/chat_template.jinja >/dev/null 2>&1; do sleep 0.05; done; "
              f"dd if=/dev/zero of={MODELS}/.faults-suite-filler bs=1M 2>/dev/null; touch /run/faults-suite-filled")
    subprocess.run(["docker", "exec", "-d", host.name, "sh", "-c", filler], check=True)
    try:
        run = site(fleet, [host], variant)
        assert host.run("test", "-e", "/run/faults-suite-filled").returncode == 0, "the filesystem never filled"
    finally:
        host.run("sh", "-c", "kill $(cat /run/faults-suite-filler.pid) 2>/dev/null; true")
    assert run.rc != 0
    no_traceback(run, host)
    # One message names the host and the cause; the rollout summary carries it.
    messages = [m for m in run.failures(host.name) if "No space left on device" in m]
    assert messages and all(host.name in m for m in messages), run.failures(host.name)
    assert any("The partial copy was removed" in m for m in messages), messages
    reason = summary(fleet["tmp"])["hosts"][host.name]["reason"]
    assert "No space left on device" in reason, reason
    # Nothing lost: the previous release serves; nothing half-written was promoted.
    assert served(host) == previous and answers(host)
    assert releases(host) == before
    assert host.run("test", "-e", variant["model_dir"]).returncode != 0
    assert staging_left(host) == set()
    # Space is freed; the same command converges: the new version verified, no staging left.
    host.run("rm", "-f", f"{MODELS}/.faults-suite-filler")
    run = site(fleet, [host], variant)
    assert run.rc == 0, (run.failures(host.name), run.stderr[-3000:])
    assert served(host) != previous and answers(host)
    assert matches(host, variant["model_dir"], variant["manifest"]) == []
    assert staging_left(host) == set()
    SURVIVED[FAULTS[0]] = True


def test_controller_killed_mid_copy_and_the_run_repeated(fleet):
    host = fleet["hosts"][1]
    previous, before = served(host), releases(host)
    variant = make_variant(fleet, "killed", 160)
    files = variant["manifest"]["files"]

    def large_file_in_flight() -> bool:
        # The copy action uploads each file into the connection's temporary directory (``.source``), then moves
        # it into staging; the padding file is the manifest's last: once the file before it is staged, its
        # copy has begun.
        probe = host.run("sh", "-c", f"ls {MODELS}/.staging-*/tokenizer_config.json >/dev/null 2>&1 || "
                                     "find /root/.ansible/tmp -name '.source*' -size +8M | grep -q .")
        return probe.returncode == 0

    assert killed_run([host], {"slm_report_dir": str(fleet["tmp"]), "rollout_batches": ["100%"],
                               "engine_onnx_prebuilt_dir": variant["dir"]}, large_file_in_flight)
    # Nothing lost: the previous release serves; the partial copy is not promoted.
    assert served(host) == previous and answers(host)
    assert releases(host) == before
    assert host.run("test", "-e", variant["model_dir"]).returncode != 0
    assert staging_left(host), "the kill came before the copy began"
    # The same command again: the files already staged are not sent again, every file is verified.
    run = site(fleet, [host], variant)
    assert run.rc == 0, (run.failures(host.name), run.stderr[-3000:])
    copied = task_result(run, host, "Copy the model files to the staging directory")["results"]
    resent = [r["item"]["path"] for r in copied if r.get("changed")]
    # Files staged before the kill are not sent again (the padding, in flight when the kill came, is, unless
    # its upload had already finished: the kill races with the copy).
    print(f"\nresumed copy: {len(resent)} of {len(files)} files sent again: {resent}")
    assert len(resent) < len(files), resent
    promoted = task_result(run, host, "Verify every file against the manifest and promote the version")
    assert promoted.get("verified") == len(files), promoted
    assert matches(host, variant["model_dir"], variant["manifest"]) == []
    release = served(host)
    assert release != previous and answers(host)
    assert staging_left(host) == set()
    # A third run changes nothing.
    run = site(fleet, [host], variant)
    assert run.rc == 0 and run.stats(host.name)["changed"] == 0, (run.stats(host.name), run.failures(host.name))
    assert served(host) == release
    SURVIVED[FAULTS[1]] = True


def test_host_gone_mid_run_the_other_finishes(fleet):
    hosts = fleet["hosts"]
    stays, goes = hosts
    previous_stays, previous_goes = served(stays), served(goes)
    variant = make_variant(fleet, "gone", 2)
    killed = threading.Event()

    def kill_when_its_model_ships() -> None:
        for _attempt in range(6000):
            if goes.run("sh", "-c", f"ls -d {MODELS}/.staging-*").returncode == 0:
                subprocess.run(["docker", "kill", goes.name], capture_output=True, check=False)
                killed.set()
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=kill_when_its_model_ships, daemon=True)
    watcher.start()
    try:
        run = site(fleet, hosts, variant, rollout_max_fail_percentage=50)
    finally:
        watcher.join(10)
    assert killed.is_set(), "the host was never killed"
    no_traceback(run, stays)
    result = summary(fleet["tmp"])
    assert result["status"] == "completed", result
    # A host that vanished did not finish its batch: the verdict counted it as failed (50 % tolerated here, so
    # the rollout completed for the other host), and the summary says failed and why.
    gone = result["hosts"][goes.name]
    assert gone["outcome"] == "failed" and "did not finish its batch" in gone["reason"], gone
    assert result["hosts"][stays.name]["outcome"] == "passed", result["hosts"][stays.name]
    release = served(stays)
    assert release not in (previous_stays, previous_goes) and answers(stays)
    assert matches(stays, variant["model_dir"], variant["manifest"]) == []
    # The host comes back serving its previous release; the same command converges it.
    subprocess.run(["docker", "start", goes.name], check=True, capture_output=True)
    wait_until_running(goes)
    assert served(goes) == previous_goes
    run = site(fleet, hosts, variant, rollout_max_fail_percentage=50)
    assert run.rc == 0, (run.failures(goes.name), run.stderr[-3000:])
    assert served(goes) == release and answers(goes)
    assert matches(goes, variant["model_dir"], variant["manifest"]) == []
    assert staging_left(goes) == set()
    SURVIVED[FAULTS[2]] = True
