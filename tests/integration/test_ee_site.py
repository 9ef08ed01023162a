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
import subprocess

import pytest
from ee_job import REPO, assert_ran_in_the_ee, run_job

LAB = REPO / ".cache/lab/tiny-phi3-hf"
COMPOSE = REPO / ".cache/artifacts/docker-compose-2.26.1-4-amd64"
COMPOSE_SHA256 = "c0ef2e286ba1c45bf1868b70a1c71d30a802bb3996888f2f986c3166f9e45f57"
# Where the site's inputs appear inside the EE (read-only mounts).
MODEL_IN_EE = "/srv/slm-inputs/model"
COMPOSE_IN_EE = "/srv/slm-inputs/docker-compose"


def _host_answers(host) -> bool:
    """The engine answers a real request on its published port, on the host itself."""
    proc = host.run("python3", "-c", "import urllib.request,sys;"
                    "sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/v1/models', timeout=10).status == 200 else 1)")
    return proc.returncode == 0


@pytest.fixture(scope="module")
def job(make_hosts, tmp_path_factory):
    """One site.yml job in the EE against two gateways: the hosts and the runner's Job."""
    for path in (LAB / "config.json", COMPOSE):
        if not path.exists():
            pytest.fail(f"{path} is missing: run `make lab-model` / `make test`'s setup first")
    work = tmp_path_factory.mktemp("ee-site")

    # The model, built outside the job (a CI step): the EE only ships it.
    model = work / "model"
    build = subprocess.run(
        [str(REPO / ".venv/bin/python"), "-m", "slm_engine", "build", "--source", str(LAB), "--output", str(model),
         "--model-id", "lab-tiny-phi3", "--cache-dir", str(work / "hf-cache")],
        capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stderr[-3000:]

    hosts = make_hosts(2)
    gateway = {
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
    extravars = {
        "slm_site": "ee-it", "rollout_batches": ["100%"],
        # The report is written into this job's artifacts directory (what AWX_ISOLATED_DATA_DIR names).
        "slm_report_dir": "/runner/artifacts/{ident}/site-report"}
    run = run_job(hosts, work, "site.yml", "iot_gateways", gateway, extravars,
                  mounts=[f"{model}:{MODEL_IN_EE}:ro", f"{COMPOSE}:{COMPOSE_IN_EE}:ro"])
    return {"hosts": hosts, "run": run}


def test_the_job_ran_inside_the_ee_and_succeeded(job):
    # ansible-playbook inside the container (the EE's Python, not the test's virtualenv), over SSH.
    assert_ran_in_the_ee(job["run"], "site.yml", job["hosts"])


def test_every_host_serves_the_tiny_model(job):
    assert job["run"].rc == 0, job["run"].output[-4000:]
    for host in job["hosts"]:
        record = json.loads(host.run("cat", "/etc/ansible/facts.d/slm_endpoint.fact").stdout)
        assert record["engine"] == "onnx" and record["model"] == "lab-tiny-phi3", record
        assert _host_answers(host), host.name


def test_the_site_report_leaves_the_job_in_its_artifacts(job):
    report = job["run"].artifacts / "site-report"
    html = (report / "site_report.html").read_text()
    rollout = json.loads((report / "rollout.json").read_text())
    assert rollout["status"] == "completed", rollout
    for host in job["hosts"]:
        assert host.name in html
        assert rollout["hosts"][host.name]["outcome"] == "passed", rollout["hosts"][host.name]
        assert (report / "hosts" / f"{host.name}.json").is_file()
