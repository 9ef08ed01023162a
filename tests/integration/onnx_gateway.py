"""What integration tests need to deploy and check ONNX gateways on real hosts: the inventory variables of
a gateway serving the lab's tiny model, and checks of what a host serves (engine record, `current` link,
release directories, a real answer)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / ".cache/lab/tiny-phi3-hf"
MODEL_ID = "lab-tiny-phi3"
ROOT = "/var/lib/slm-fleet/onnx"


def gateway_vars(tmp: Path, site: str, **overrides: Any) -> dict[str, Any]:
    """Variables of a gateway of site ``site``: ONNX engine, the tiny model, reasoning gate reported."""
    return {
        "slm_site": site,
        "edge_hw_override": {"memory": {"total_mb": 3791}, "gpus": []},
        "slm_engine_preferences": {"engine": "onnx"},
        "engine_onnx_model_source": str(LAB),
        "engine_onnx_model_id": MODEL_ID,
        # Its own build directory (model and image archive): the molecule scenarios run beside the
        # integration stage in make test and export the same image into .cache/build.
        "engine_onnx_build_dir": str(tmp / "build"),
        "engine_onnx_image_base": "slm-fleet/debian:bookworm",
        "engine_onnx_image_ca_bundle": "/etc/ssl/certs/ca-certificates.crt",
        "engine_onnx_health_timeout": 120,
        "container_runtime_compose_local_path": str(REPO / ".cache/artifacts/docker-compose-2.26.1-4-amd64"),
        "container_runtime_compose_sha256": "c0ef2e286ba1c45bf1868b70a1c71d30a802bb3996888f2f986c3166f9e45f57",
        "verify_gate": "report",
        "verify_max_tokens": 32,
        **overrides,
    }


def served(host) -> str:
    """The release the host's engine record says serves, checked against the `current` link."""
    record = json.loads(host.run("cat", "/etc/ansible/facts.d/slm_endpoint.fact").stdout)
    link = host.run("readlink", f"{ROOT}/current").stdout.strip().rsplit("/", 1)[-1]
    assert record["release"] == link, (record, link)
    return record["release"]


def answers(host) -> bool:
    """The engine answers a real request on its published port."""
    proc = host.run("python3", "-c", "import urllib.request,sys;"
                    "sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/v1/models', timeout=10).status == 200 else 1)")
    return proc.returncode == 0


def releases(host) -> set[str]:
    """Release directories on the host."""
    return set(host.run("ls", f"{ROOT}/releases").stdout.split())
