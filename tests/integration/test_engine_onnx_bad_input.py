"""engine_onnx refuses bad input before anything changes on the host, naming host and variable."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = "tests/integration/playbooks/engine_onnx.yml"
GATEWAY = {
    "edge_hw_override": {"memory": {"total_mb": 3791}, "gpus": []},
    "slm_engine_preferences": {"engine": "onnx"},
    "engine_onnx_model_source": str(REPO / ".cache/lab/tiny-phi3-hf"),
    "engine_onnx_model_id": "lab-tiny-phi3",
    "engine_onnx_build_dir": str(REPO / ".cache/build/onnx"),
}


@pytest.fixture(scope="module")
def gateway(systemd_host):
    systemd_host.group = "iot_gateways"
    return systemd_host


def untouched(host) -> None:
    assert host.run("test", "-e", "/var/lib/slm-fleet").returncode != 0, "/var/lib/slm-fleet was created"


@pytest.mark.parametrize("extra, fragments", [
    pytest.param({"engine_onnx_precision": "int3"},
                 ["engine_onnx_precision must be one of: int4, int8, fp16, fp32, got: int3"], id="unknown-precision"),
    pytest.param({"engine_onnx_model_source": "microsoft/Phi-4-mini-instruct", "engine_onnx_model_gated": True},
                 ["is gated (engine_onnx_model_gated: true) but", "engine_onnx_hf_token is empty"], id="gated-without-token"),
    pytest.param({"edge_hw_override": {"memory": {"total_mb": 1823}, "gpus": []}},
                 ["the model does not fit this host: memory: has 1.8 GB, profile edge_optimized needs at least 4.0 GB"],
                 id="does-not-fit"),
    pytest.param({"engine_onnx_bind_address": "0.0.0.0"},
                 ["engine_onnx_bind_address=0.0.0.0 publishes the model API beyond the host without a key",
                  "engine_onnx_expose_unauthenticated: true"], id="open-api"),
    pytest.param({"engine_onnx_model_source": "/nonexistent/checkpoint"},
                 ["engine_onnx_model_source=/nonexistent/checkpoint is a path without config.json"], id="missing-source"),
])
def test_bad_input_stops_the_host_untouched(gateway, extra, fragments):
    run = gateway.playbook(PLAYBOOK, {**GATEWAY, **extra})
    assert run.rc != 0
    [message, *_] = run.failures(gateway.name)
    if not message.startswith("Validation of arguments failed"):  # Ansible's own argument_specs message
        assert message.startswith(f"{gateway.name}: ") or "on the control node" in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    untouched(gateway)


def test_port_taken_by_another_program_is_named(gateway):
    server = "nohup python3 -m http.server 8000 --bind 0.0.0.0 >/dev/null 2>&1 & sleep 1"
    assert gateway.run("sh", "-c", server).returncode == 0
    try:
        run = gateway.playbook(PLAYBOOK, GATEWAY)
        assert run.rc != 0
        [message] = run.failures(gateway.name)
        assert message.startswith(f"{gateway.name}: engine_onnx_port=8000 is already taken by python3 (pid ")
        assert "choose a free port or stop that program" in message
        untouched(gateway)
    finally:
        gateway.run("pkill", "-f", "http.server 8000")
