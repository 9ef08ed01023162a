"""engine_vllm refuses bad input before anything changes on the host, naming host and variable.

The GPU cases simulate an NVIDIA A10 with edge_hw_override: no GPU exists on this machine, so what is
tested is the refusal, on a real host, before any change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = "tests/integration/playbooks/engine_vllm.yml"
SERVER = {
    "edge_hw_override": {"memory": {"total_mb": 65536}, "gpus": []},
    "slm_engine_preferences": {"engine": "vllm", "allow_vllm_cpu": True, "context": 2048},
    "engine_vllm_model_source": str(REPO / ".cache/lab/tiny-phi3-hf"),
    "engine_vllm_served_model_name": "lab-tiny-phi3",
    "engine_vllm_image_source": "build",
    "engine_vllm_cpu_image": "slm-fleet/vllm-cpu",
    "engine_vllm_cpu_image_tag": "0.32.0",
    "engine_vllm_build_dir": str(REPO / ".cache/build/vllm"),
}
A10 = {"memory": {"total_mb": 65536},
       "gpus": [{"name": "NVIDIA A10", "memory_mb": 23028, "compute_capability": "8.6", "driver": "550.54.15"}]}


@pytest.fixture(scope="module")
def server(systemd_host):
    systemd_host.group = "gpu_servers"
    return systemd_host


def untouched(host) -> None:
    assert host.run("test", "-e", "/var/lib/slm-fleet").returncode != 0, "/var/lib/slm-fleet was created"


@pytest.mark.parametrize("extra, fragments", [
    pytest.param({"engine_vllm_cpu_image_tag": "latest"},
                 ["engine_vllm_cpu_image_tag is 'latest': pin a release tag"], id="unpinned-image-tag"),
    pytest.param({"engine_vllm_model_source": "microsoft/Phi-4-mini-instruct"},
                 ["engine_vllm_model_source=microsoft/Phi-4-mini-instruct is a Hugging Face repo, and",
                  "engine_vllm_model_revision='' is not a commit (40 hex digits)"], id="unpinned-revision"),
    pytest.param({"engine_vllm_quantization": "awq"},
                 ["--quantization awq (engine_vllm_quantization", "declares none",
                  "its config.json quantization_config.quant_method"], id="awq-without-awq-checkpoint"),
    pytest.param({"engine_vllm_max_model_len": 8192},
                 ["engine_vllm_max_model_len=8192 is not allowed: the model handles at most 4096 tokens"],
                 id="context-above-the-model"),
    pytest.param({"engine_vllm_max_model_len": 3072},
                 ["engine_vllm_max_model_len=3072 is not allowed", "this host's memory budget 2048 tokens",
                  "use at most 2048"], id="context-beyond-the-budget"),
    pytest.param({"edge_hw_override": A10, "engine_vllm_quantization": "fp8"},
                 ["engine_vllm_quantization=fp8 needs an NVIDIA GPU with compute capability 8.9 or newer",
                  "NVIDIA A10 has 8.6"], id="fp8-on-ampere"),
    pytest.param({"edge_hw_override": A10},
                 ["the plan runs vLLM on the GPU, but this host's Docker engine has no nvidia runtime",
                  "Run the nvidia_gpu role"], id="gpu-without-nvidia-runtime"),
    pytest.param({"engine_vllm_bind_address": "0.0.0.0"},
                 ["engine_vllm_bind_address=0.0.0.0 publishes vLLM's API beyond the host",
                  "/invocations answers chat completions without it",
                  "engine_vllm_expose_unauthenticated: true"], id="open-api"),
    pytest.param({"engine_vllm_bind_address": "0.0.0.0", "engine_vllm_api_key": "k-0123456789"},
                 ["engine_vllm_api_key is set) guards /v1/* only"], id="key-does-not-close-the-port"),
    pytest.param({"engine_vllm_port": "eighty"},
                 ["engine_vllm_port", "eighty"], id="wrong-type"),
])
def test_bad_input_stops_the_host_untouched(server, extra, fragments):
    run = server.playbook(PLAYBOOK, {**SERVER, **extra})
    assert run.rc != 0
    message = run.failures(server.name)[0]
    if not message.startswith("Validation of arguments failed"):  # Ansible's own argument_specs message
        assert message.startswith(f"{server.name}: "), message
        assert "Nothing was changed" in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    untouched(server)
