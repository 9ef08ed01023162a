"""engine_ollama refuses bad input before anything changes on the host, naming host and variable.

The host is a real systemd container; no engine image is needed, since every case must stop in
the role's validation, before anything is shipped, rendered or started.
"""

from __future__ import annotations

import pytest

PLAYBOOK = "tests/integration/playbooks/engine_ollama.yml"
SERVER = {
    "edge_hw_override": {"memory": {"total_mb": 16384}, "gpus": []},
    "engine_ollama_image": "slm-fleet/ollama-api-emulator",
    "engine_ollama_image_tag": "0.1.0",
    "engine_ollama_image_source": "build",
}


@pytest.fixture(scope="module")
def server(systemd_host):
    systemd_host.group = "edge_servers"
    return systemd_host


def untouched(host) -> None:
    assert host.run("test", "-e", "/var/lib/slm-fleet").returncode != 0, "/var/lib/slm-fleet was created"


@pytest.mark.parametrize("extra, fragments", [
    pytest.param({"engine_ollama_image": "ollama/ollama", "engine_ollama_image_tag": "latest"},
                 ["engine_ollama_image_tag is 'latest': pin a release tag of ollama/ollama at 0.5.13 or later"],
                 id="unpinned-image-tag"),
    pytest.param({"engine_ollama_image": "ollama/ollama", "engine_ollama_image_tag": "0.5.7"},
                 ["engine_ollama_image_tag is '0.5.7'", "phi4-mini needs Ollama >= 0.5.13"], id="too-old-ollama"),
    pytest.param({"engine_ollama_model": "phi4-mini"},
                 ["engine_ollama_model is 'phi4-mini': give the model with a pinned tag"], id="unpinned-model"),
    pytest.param({"engine_ollama_variants": [{"name": "phi4-mini-reasoning"},
                                             {"name": "phi4-mini-coder", "from": "phi4-mini-tuned"}]},
                 ["engine_ollama_variants[1] (phi4-mini-coder) has from=phi4-mini-tuned",
                  "from engine_ollama_model (phi4-mini:3.8b) or from a variant declared above it"],
                 id="variant-from-undeclared"),
    pytest.param({"engine_ollama_num_parallel": 8, "engine_ollama_context_length": 16384},
                 ["engine_ollama_num_parallel=8 x engine_ollama_context_length=16384 tokens is not allowed",
                  "16384 MiB here (128 KiB per token)", "The plan allows 2 x 4096"], id="parallel-x-context-over-budget"),
    pytest.param({"engine_ollama_bind_address": "0.0.0.0"},
                 ["engine_ollama_bind_address=0.0.0.0 publishes Ollama's API beyond the host, and Ollama has no API key",
                  "engine_ollama_expose_unauthenticated: true"], id="open-api"),
    pytest.param({"engine_ollama_webui_enabled": True},
                 ["Open WebUI (engine_ollama_webui_enabled: true) needs", "engine_ollama_webui_secret_key",
                  "the key is empty or shorter"], id="webui-without-key"),
    pytest.param({"engine_ollama_model_source": "gguf", "engine_ollama_gguf_dir": "/nonexistent"},
                 ["engine_ollama_model_source=gguf needs engine_ollama_gguf_dir",
                  "engine_ollama_gguf_dir='/nonexistent'"], id="gguf-missing"),
    pytest.param({"edge_hw_override": {"memory": {"total_mb": 65536},
                                       "gpus": [{"name": "NVIDIA A10", "memory_mb": 23028, "compute_capability": "8.6",
                                                 "driver": "550.54.15"}]},
                  "slm_engine_preferences": {"engine": "ollama"}},
                 ["engine_ollama_gpu is true (preflight found an NVIDIA GPU)", "no nvidia runtime",
                  "Run the nvidia_gpu role first"], id="gpu-without-nvidia-runtime"),
    pytest.param({"engine_ollama_kv_cache_type": "q5_1"},
                 ["engine_ollama_kv_cache_type", "q5_1"], id="wrong-choice"),
])
def test_bad_input_stops_the_host_untouched(server, extra, fragments):
    run = server.playbook(PLAYBOOK, {**SERVER, **extra})
    assert run.rc != 0
    [message, *_] = run.failures(server.name)
    if not message.startswith("Validation of arguments failed"):  # Ansible's own argument_specs message
        assert message.startswith(f"{server.name}: "), message
        assert "Nothing was changed" in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    untouched(server)
