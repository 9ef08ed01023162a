"""A full site run at -vvv leaks neither the API key nor the Hugging Face token anywhere.

One real systemd gateway host serves the tiny local checkpoint with the ONNX engine. The Hub token
is set although the source is local: the build still writes it to its private file and passes
HF_TOKEN_PATH (the code path that used to put it in the command's environment, which -vvv prints);
the builder just has no download to use it for. The run must succeed, and then neither value may
appear in its stdout or stderr, in any file of the report directory or the control node's build
directory, in any file of the host's engine root except the key file itself, or in `docker inspect`
of the engine container.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def files_below(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


@pytest.mark.slow
def test_site_run_at_vvv_leaks_no_secret(systemd_host, tmp_path):
    host = systemd_host
    api_key = f"sk-SECRETKEY-{uuid.uuid4().hex}"
    hf_token = f"hf_SECRETTOKEN{uuid.uuid4().hex}"
    report_dir, build_dir = tmp_path / "report", tmp_path / "build"
    hostvars = {
        "ansible_connection": "community.docker.docker",
        "ansible_python_interpreter": "/usr/bin/python3",
        "edge_hw_override": {"memory": {"total_mb": 3791}, "gpus": []},
        "slm_engine_preferences": {"engine": "onnx"},
        "container_runtime_compose_local_path": str(REPO / ".cache/artifacts/docker-compose-2.26.1-4-amd64"),
        "container_runtime_compose_sha256": "c0ef2e286ba1c45bf1868b70a1c71d30a802bb3996888f2f986c3166f9e45f57",
        "engine_onnx_model_source": str(REPO / ".cache/lab/tiny-phi3-hf"),
        "engine_onnx_model_id": "lab-tiny-phi3",
        "engine_onnx_build_dir": str(build_dir),
        "engine_onnx_image_base": "slm-fleet/debian:bookworm",
        "engine_onnx_image_ca_bundle": "/etc/ssl/certs/ca-certificates.crt",
        # A branch-named tag: this test must not replace the shared slm-fleet/slm-engine:0.1.0.
        "engine_onnx_image_tag": "artifact-safety-it",
        "engine_onnx_health_timeout": 120,
        "engine_onnx_bind_address": "0.0.0.0",
        "engine_onnx_api_key": api_key,
        "engine_onnx_hf_token": hf_token,
        "verify_gate": "report",
        "slm_report_dir": str(report_dir),
    }
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps(
        {"all": {"children": {"slm_fleet": {"children": {"iot_gateways": {"hosts": {host.name: hostvars}}}}}}}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_GATHERING="implicit",
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    env.pop("HF_TOKEN", None)
    token_dirs_before = set(Path("/tmp").glob("slm-hf-*"))
    started = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-vvv", "-i", str(inventory), "site.yml"],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    print(f"site.yml at -vvv on one gateway: {seconds:.0f} s, {len(proc.stdout)} bytes of output")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]

    places: dict[str, str] = {"ansible-playbook stdout": proc.stdout, "ansible-playbook stderr": proc.stderr}
    for path in files_below(report_dir) + files_below(build_dir / "models"):
        places[f"control node {path}"] = path.read_bytes().decode("utf-8", "replace")
    assert any("site_report" in name for name in places), sorted(places)

    listing = host.run("find", "/var/lib/slm-fleet", "-type", "f", "-size", "-1024k")
    assert listing.returncode == 0, listing.stderr
    key_files = []
    for path in listing.stdout.split():
        content = subprocess.run(["docker", "exec", host.name, "cat", path], capture_output=True,
                                 check=True).stdout.decode("utf-8", "replace")
        if path.endswith("/secrets/api_key"):
            key_files.append(content)
            continue
        places[f"host {path}"] = content
    assert key_files == [api_key], "the key must reach the host, and only in its key file"
    assert any("/releases/" in name and name.endswith("release.json") for name in places), sorted(places)

    names = host.run("docker", "ps", "-a", "--filter", "label=com.docker.compose.project", "--format", "{{.Names}}")
    containers = names.stdout.split()
    assert containers, names.stderr
    for name in containers:
        inspect = host.run("docker", "inspect", name)
        assert inspect.returncode == 0, inspect.stderr
        places[f"docker inspect {name}"] = inspect.stdout

    leaks = [(where, label) for where, text in places.items()
             for label, secret in (("engine_onnx_api_key", api_key), ("engine_onnx_hf_token", hf_token))
             if secret in text]
    print(f"checked {len(places)} places for 2 secrets")
    assert leaks == [], f"secrets found in: {leaks}"
    assert len(places) >= 8
    # The run took the token's code path (the private file), and removed the file.
    assert "HF_TOKEN_PATH" in proc.stdout and "Write the Hub token to a file only this user can read" in proc.stdout
    assert set(Path("/tmp").glob("slm-hf-*")) == token_dirs_before, "the token file was not removed"
