"""site.yml inside the execution environment, run by ansible-runner with container isolation, as AWX runs a job.

The EE image (`make ee`, scripts/build-ee.sh) is the control node: ansible-runner starts it with the job's
private data directory mounted at /runner (project, inventory, extra vars, the machine credential's SSH key
loaded into an ssh-agent in the container) and the site's inputs mounted read-only, the way AWX's "paths to
expose to isolated jobs" does. Two real systemd gateways are reached over SSH as the automation user with
sudo (the AWX machine credential), not through the docker connection: an EE reaches a site's hosts over the
network, never through a container engine. The ONNX engine serves the tiny random-weight model, built
beforehand like a CI job would (engine_onnx_prebuilt_dir: the EE carries no model builder); the engine image
is built and exported by the EE's Docker CLI through the mounted Docker socket (engine_onnx_image_source:
build). The site report must leave the job in the runner's artifacts directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / ".cache/lab/tiny-phi3-hf"
COMPOSE = REPO / ".cache/artifacts/docker-compose-2.26.1-4-amd64"
COMPOSE_SHA256 = "c0ef2e286ba1c45bf1868b70a1c71d30a802bb3996888f2f986c3166f9e45f57"
VERSION = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
EE_IMAGE = os.environ.get("SLM_EE_IMAGE", f"slm-fleet/ee:{VERSION}")
# Where the site's inputs appear inside the EE (read-only mounts).
MODEL_IN_EE = "/srv/slm-inputs/model"
COMPOSE_IN_EE = "/srv/slm-inputs/docker-compose"


def _runner() -> str:
    found = REPO / ".cache/ee/tools/bin/ansible-runner"
    if found.exists():
        return str(found)
    on_path = shutil.which("ansible-runner")
    if not on_path:
        pytest.fail("ansible-runner is missing: run `make ee` (it installs requirements-ee.txt into .cache/ee/tools)")
    return on_path


def _ip(name: str) -> str:
    out = subprocess.run(["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out, f"{name} has no address on the default bridge"
    return out


def _events(artifacts: Path) -> list[dict[str, Any]]:
    events = [json.loads(p.read_text()) for p in (artifacts / "job_events").glob("*.json")]
    return sorted(events, key=lambda e: e.get("counter", 0))


def _host_answers(host) -> bool:
    """The engine answers a real request on its published port, on the host itself."""
    proc = host.run("python3", "-c", "import urllib.request,sys;"
                    "sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/v1/models', timeout=10).status == 200 else 1)")
    return proc.returncode == 0


@pytest.fixture(scope="module")
def job(make_hosts, tmp_path_factory):
    """One site.yml job in the EE against two gateways; returns the hosts, the artifacts dir and the runner rc."""
    if subprocess.run(["docker", "image", "inspect", EE_IMAGE], capture_output=True, check=False).returncode:
        pytest.fail(f"image {EE_IMAGE} is missing: run `make ee` first")
    for path in (LAB / "config.json", COMPOSE):
        if not path.exists():
            pytest.fail(f"{path} is missing: run `make lab-model` / `make test`'s setup first")
    runner = _runner()
    work = tmp_path_factory.mktemp("ee-site")

    # The model, built outside the job (a CI step): the EE only ships it.
    model = work / "model"
    build = subprocess.run(
        [str(REPO / ".venv/bin/python"), "-m", "slm_engine", "build", "--source", str(LAB), "--output", str(model),
         "--model-id", "lab-tiny-phi3", "--cache-dir", str(work / "hf-cache")],
        capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stderr[-3000:]

    hosts = make_hosts(2)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "slm-ee-it", "-f", str(work / "id_ed25519")],
                   check=True)
    public = (work / "id_ed25519.pub").read_bytes()
    for host in hosts:
        subprocess.run(["docker", "exec", "-i", host.name, "sh", "-c",
                        "cat > /home/ansible/.ssh/authorized_keys && chown ansible:ansible /home/ansible/.ssh/authorized_keys"
                        " && chmod 0600 /home/ansible/.ssh/authorized_keys"], input=public, check=True)

    # The job's private data directory, laid out as AWX lays it out for ansible-runner.
    ident = f"ee-site-{uuid.uuid4().hex[:8]}"
    pdd = work / "job"
    project = pdd / "project"
    project.mkdir(parents=True)
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(f"tar --null -T - -cf - | tar -xf - -C {project}", shell=True, cwd=REPO, input=files, check=True)
    gateway = {
        "ansible_user": "ansible",
        "ansible_python_interpreter": "/usr/bin/python3",
        "edge_hw_override": {"memory": {"total_mb": 3791}, "gpus": []},
        "slm_engine_preferences": {"engine": "onnx"},
        "engine_onnx_prebuilt_dir": MODEL_IN_EE,
        "engine_onnx_model_id": "lab-tiny-phi3",
        "engine_onnx_build_dir": "/runner/build",
        "engine_onnx_image_base": "slm-fleet/debian:bookworm",
        # Its own tag: other tests build slm-fleet/slm-engine:0.1.0 at the same time.
        "engine_onnx_image_tag": "ee-it",
        "engine_onnx_image_ca_bundle": "/usr/local/share/slm-fleet/ca-bundle.crt",
        "engine_onnx_health_timeout": 120,
        "container_runtime_compose_local_path": COMPOSE_IN_EE,
        "container_runtime_compose_sha256": COMPOSE_SHA256,
        "verify_gate": "report",
        "verify_max_tokens": 32,
    }
    inventory = {"all": {"children": {
        "slm_fleet": {"children": {"iot_gateways": {"hosts": {h.name: {"ansible_host": _ip(h.name), **gateway} for h in hosts}}}},
        "site_cache": {"hosts": {}}}}}
    (pdd / "inventory").mkdir()
    (pdd / "inventory/hosts.yml").write_text(yaml.safe_dump(inventory))
    (pdd / "env").mkdir()
    (pdd / "env/extravars").write_text(yaml.safe_dump({
        "slm_site": "ee-it", "rollout_batches": ["100%"],
        # The report is written into this job's artifacts directory (what AWX_ISOLATED_DATA_DIR names).
        "slm_report_dir": f"/runner/artifacts/{ident}/site-report"}))
    (pdd / "env/ssh_key").write_text((work / "id_ed25519").read_text())
    (pdd / "env/envvars").write_text(yaml.safe_dump({
        # As AWX sets it: the EE's collections, not the project's (empty) collections/ directory.
        "ANSIBLE_COLLECTIONS_PATH": "/usr/share/ansible/collections",
        # New throwaway hosts; AWX's default too (AWX_TASK_ENV / ANSIBLE_HOST_KEY_CHECKING).
        "ANSIBLE_HOST_KEY_CHECKING": "False",
    }))
    cmd = [runner, "run", str(pdd), "-p", "site.yml", "--ident", ident,
           "--process-isolation", "--process-isolation-executable", "docker", "--container-image", EE_IMAGE,
           "--container-volume-mount", "/var/run/docker.sock:/var/run/docker.sock",
           "--container-volume-mount", f"{model}:{MODEL_IN_EE}:ro",
           "--container-volume-mount", f"{COMPOSE}:{COMPOSE_IN_EE}:ro"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    artifacts = pdd / "artifacts" / ident
    return {"hosts": hosts, "artifacts": artifacts, "rc": proc.returncode, "output": proc.stdout + proc.stderr,
            "ident": ident}


def test_the_job_ran_inside_the_ee_and_succeeded(job):
    artifacts = job["artifacts"]
    assert job["rc"] == 0 and (artifacts / "rc").read_text().strip() == "0", job["output"][-4000:]
    assert (artifacts / "status").read_text().strip() == "successful"
    # The command ansible-runner ran: the EE image, started by docker, with the job's directory as /runner.
    command = json.loads((artifacts / "command").read_text())["command"]
    assert command[0].endswith("docker") and command[1] == "run" and EE_IMAGE in command, command
    assert any(arg.split(":")[1:2] in (["/runner"], ["/runner/"]) for arg in command), command
    events = _events(artifacts)
    # ansible-playbook inside the container: the EE's Python, not the test's virtualenv.
    start = next(e for e in events if e["event"] == "playbook_on_start")
    assert start["event_data"]["playbook"] == "site.yml"
    stats = next(e for e in events if e["event"] == "playbook_on_stats")["event_data"]
    for host in job["hosts"]:
        assert stats["ok"].get(host.name, 0) > 0, stats
        assert stats["failures"].get(host.name, 0) == 0 and stats["dark"].get(host.name, 0) == 0, stats
    # The hosts were reached over SSH with the job's key (the machine credential), as the automation user.
    for host in job["hosts"]:
        log = host.run("journalctl", "-u", "ssh", "--no-pager", "-o", "cat").stdout
        assert "Accepted publickey for ansible" in log, log[-2000:]


def test_every_host_serves_the_tiny_model(job):
    assert job["rc"] == 0, job["output"][-4000:]
    for host in job["hosts"]:
        record = json.loads(host.run("cat", "/etc/ansible/facts.d/slm_endpoint.fact").stdout)
        assert record["engine"] == "onnx" and record["model"] == "lab-tiny-phi3", record
        assert _host_answers(host), host.name


def test_the_site_report_leaves_the_job_in_its_artifacts(job):
    report = job["artifacts"] / "site-report"
    html = (report / "site_report.html").read_text()
    rollout = json.loads((report / "rollout.json").read_text())
    assert rollout["status"] == "completed", rollout
    for host in job["hosts"]:
        assert host.name in html
        assert rollout["hosts"][host.name]["outcome"] == "passed", rollout["hosts"][host.name]
        assert (report / "hosts" / f"{host.name}.json").is_file()
