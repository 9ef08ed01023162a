"""slm_engine_plan: engine choice, refusals, settings and the memory-budget arithmetic.

Expected numbers are worked out here from the documented inputs, not read back from the code:
  KV cache per token = 2 x 32 layers x 8 KV heads x 128 head_dim x bytes (2 for fp16, 4 for fp32)
  weights (MiB): bf16/fp16 7317, awq 2770, Ollama Q4_K_M 2500, ONNX int4 2450, prebuilt ONNX int4 4900
  runtime (MiB): vLLM GPU 1024 (lean 640), vLLM CPU 2048, Ollama 512, ONNX 400; OS reserve 512
"""

from __future__ import annotations

import math

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgeai.slm_fleet.plugins.filter import deployment as d
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils import deployment_budget as budget
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils import deployment_engine

GB = 1024
KV16 = 2 * 32 * 8 * 128 * 2  # 131072 B = 128 KiB per token
KV32 = 2 * KV16
OS_RESERVE = 512


def kv_mb(per_token, tokens, seqs=1):
    return math.ceil(per_token * tokens * seqs / 2**20)


def host(ram_mb=16 * GB, disk_mb=100 * GB, gpus=(), arch="x86_64", cores=8, threads=16, flags=("avx2", "avx512f"),
         jetson=None):
    return {
        "arch": arch,
        "cpu": {"model": "test CPU", "cores": cores, "threads": threads, "sockets": 1, "flags": list(flags)},
        "memory": {"total_mb": ram_mb, "available_mb": ram_mb},
        "disk": {"path": "/var/lib", "checked_path": "/var/lib", "mount": "/", "free_mb": disk_mb},
        "gpus": list(gpus), "jetson": jetson, "simulated": [],
        "os": {"id": "debian", "version_id": "12", "pretty_name": "Debian GNU/Linux 12 (bookworm)"},
    }


def gpu(memory_mb, cc="8.6", name="NVIDIA A10", index=0, unified=False):
    return {"index": index, "name": name, "vendor": "nvidia", "memory_mb": memory_mb, "driver": "550.120",
            "compute_capability": cc, "unified_memory": unified, "source": "nvidia-smi"}


def plan_for(hw, preferences=None, model=None, images=None, requested=None, thresholds=None):
    profile = d.slm_profile(hw, thresholds, requested)
    return d.slm_engine_plan(hw, profile, preferences, model, images)


# ------------------------------------------------------------------------------------------------
# Arithmetic
# ------------------------------------------------------------------------------------------------


def test_kv_cache_per_token_phi4_mini():
    model = d.slm_model()
    assert budget.kv_bytes_per_token(model, 2) == 131072 == 128 * 1024
    assert budget.kv_bytes_per_token(model, 4) == 262144
    assert budget.kv_cache_mb(131072, 4096, 2) == 1024  # 128 KiB x 8192 tokens = 1 GiB


def test_bf16_weights_match_the_geometry():
    g = d.slm_model()["geometry"]
    h, kv_dim = g["hidden_size"], g["num_kv_heads"] * g["head_dim"]
    per_layer = h * (h + 2 * kv_dim) + h * h + h * 2 * g["intermediate_size"] + g["intermediate_size"] * h + 2 * h
    params = g["vocab_size"] * h + g["num_layers"] * per_layer + h  # tied embedding counted once
    assert 3.83e9 < params < 3.85e9  # Phi-4-mini is 3.8 B
    assert abs(params * 2 / 2**20 - d.slm_model()["variants"]["bf16"]["weights_mb"]) < 5


def test_model_override_changes_the_kv_cache():
    model = d.slm_model({"geometry": {"num_kv_heads": 4}})
    assert budget.kv_bytes_per_token(model, 2) == KV16 // 2
    assert model["geometry"]["num_layers"] == 32  # the rest of the catalog entry is kept


@pytest.mark.parametrize(
    "model, message",
    [
        ({"name": "other-model"}, "model other-model: geometry needs numbers for num_layers, num_kv_heads, head_dim, "
                                  "max_context"),
        ({"variants": {"odd": {"engine": "tgi", "weights_mb": 1, "kv_bytes": 2}}}, "variant 'odd' needs engine"),
        ("phi", "model must be a dict"),
    ],
)
def test_bad_model_raises(model, message):
    with pytest.raises(AnsibleFilterError) as excinfo:
        d.slm_model(model)
    assert message in str(excinfo.value)


# ------------------------------------------------------------------------------------------------
# CPU engines
# ------------------------------------------------------------------------------------------------


def test_production_cpu_ollama_budget():
    plan = plan_for(host(ram_mb=16 * GB))
    capacity = 16 * GB - OS_RESERVE  # 15872
    free = capacity - 2500 - 512
    seqs = min(2, free // kv_mb(KV16, 4096))  # profile wants 2 sequences of 4096 tokens
    assert (plan["engine"], plan["variant"], plan["quantization"], plan["verdict"]) == ("ollama", "q4_k_m", "Q4_K_M", "ok")
    assert plan["settings"] == {"model_tag": "phi4-mini", "num_ctx": 4096, "num_parallel": seqs, "keep_alive": "-1",
                                "max_loaded_models": 1, "kv_cache_type": "f16"}
    assert plan["memory_budget"] == {
        "weights_mb": 2500, "kv_cache_mb": kv_mb(KV16, 4096, 2), "runtime_mb": 512,
        "total_mb": 2500 + 1024 + 512, "host_mb": capacity, "against": "ram", "context": 4096, "sequences": 2,
        "kv_per_token_kb": 128, "fits": True}


def test_gateway_onnx_int4_fits_4gb_pi_with_1024_context():
    # MemTotal 3791 MiB: 3791 - 512 = 3279 for the engine; 2450 + 400 leaves 429, so a 2048-token fp32 cache
    # (512 MiB) does not fit and the context halves to 1024 (256 MiB).
    plan = plan_for(host(ram_mb=3791, arch="aarch64", cores=4, threads=4, flags=("neon",)))
    assert (plan["profile"], plan["engine"], plan["variant"], plan["verdict"]) == ("edge_optimized", "onnx", "onnx_int4", "ok")
    assert plan["settings"] == {"threads": 4, "max_length": 1024, "concurrency": 1}
    budget = plan["memory_budget"]
    assert (budget["kv_cache_mb"], budget["total_mb"], budget["host_mb"]) == (256, 2450 + 256 + 400, 3791 - 512)
    assert budget["kv_per_token_kb"] == 256  # the int4 CPU export keeps an fp32 KV cache
    assert "onnx: context limited to 1024 tokens by memory (wanted 2048)" in plan["notes"]


def test_gateway_6gb_gets_the_full_2048_context():
    plan = plan_for(host(ram_mb=6 * GB, cores=4, threads=4))
    assert plan["settings"]["max_length"] == 2048 and plan["memory_budget"]["kv_cache_mb"] == kv_mb(KV32, 2048)


def test_onnx_threads_are_physical_cores_capped():
    assert plan_for(host(ram_mb=6 * GB, cores=2, threads=4))["settings"]["threads"] == 2
    assert plan_for(host(ram_mb=6 * GB, cores=32, threads=64))["settings"]["threads"] == 8
    assert plan_for(host(ram_mb=6 * GB, cores=32), {"max_threads": 16})["settings"]["threads"] == 16


def test_prebuilt_onnx_int4_does_not_fit_a_4gb_gateway():
    plan = plan_for(host(ram_mb=3791, arch="aarch64"), {"variant": "onnx_int4_prebuilt"})
    assert plan["verdict"] == "refused"
    need = 4900 + kv_mb(KV32, 1024) + 400
    assert plan["reasons"] == [
        f"memory: onnx with onnx_int4_prebuilt needs {need / 1024:.1f} GB (4.8 GB weights + 0.25 GB KV cache for one "
        f"1024-token sequence + 0.4 GB runtime), the host (3.7 GB RAM minus 0.5 GB kept for the OS) gives it 3.2 GB"]
    assert plan["memory_budget"]["fits"] is False
    assert any("shared (int4) embeddings" in note for note in plan["notes"])


def test_prebuilt_onnx_by_model_defaults_is_refused_the_same_way():
    plan = plan_for(host(ram_mb=3791), model={"defaults": {"onnx": ["onnx_int4_prebuilt"]}})
    assert plan["verdict"] == "refused" and plan["reasons"][0].startswith("memory: onnx with onnx_int4_prebuilt needs")


def test_resized_onnx_artifact_through_the_model_argument():
    plan = plan_for(host(ram_mb=3791), model={"variants": {"onnx_int4": {"weights_mb": 4900}}})
    assert plan["verdict"] == "refused"


def test_site_prefers_onnx_on_production_cpu():
    plan = plan_for(host(ram_mb=16 * GB, cores=8), {"engine": "onnx"})
    assert (plan["engine"], plan["verdict"]) == ("onnx", "ok")
    assert plan["settings"] == {"threads": 8, "max_length": 4096, "concurrency": 2}


def test_development_keeps_models_loaded_for_five_minutes():
    plan = plan_for(host(ram_mb=8 * GB), requested="development")
    assert plan["settings"]["keep_alive"] == "5m" and plan["settings"]["num_parallel"] == 1


def test_preferences_context_and_keep_alive():
    plan = plan_for(host(ram_mb=32 * GB), {"context": 16384, "parallel": 4, "keep_alive": "24h"})
    assert (plan["settings"]["num_ctx"], plan["settings"]["num_parallel"], plan["settings"]["keep_alive"]) == (
        16384, 4, "24h")


def test_context_is_capped_at_the_model_maximum():
    plan = plan_for(host(ram_mb=256 * GB), {"context": 1_000_000})
    assert plan["settings"]["num_ctx"] == 131072


# ------------------------------------------------------------------------------------------------
# vLLM
# ------------------------------------------------------------------------------------------------


def test_vllm_a10_bf16():
    plan = plan_for(host(ram_mb=64 * GB, gpus=[gpu(23028)]))
    capacity = 23028 * 0.90
    seqs = min(8, int((capacity - 7317 - 1024) // kv_mb(KV16, 8192)))
    assert seqs == 8
    assert (plan["engine"], plan["variant"], plan["device"], plan["verdict"]) == ("vllm", "bf16", "gpu", "ok")
    assert plan["settings"] == {
        "device": "cuda", "gpu_index": 0, "max_model_len": 8192, "max_num_seqs": 8, "gpu_memory_utilization": 0.9,
        "dtype": "bfloat16", "quantization": None, "enforce_eager": False, "tool_call_parser": "phi4_mini_json",
        "enable_auto_tool_choice": True}
    assert plan["memory_budget"]["total_mb"] == 7317 + kv_mb(KV16, 8192, 8) + 1024
    assert plan["memory_budget"]["host_mb"] == int(capacity) and plan["memory_budget"]["against"] == "vram"


def test_vllm_12gb_bf16_trades_sequences_for_precision():
    plan = plan_for(host(ram_mb=32 * GB, gpus=[gpu(12 * GB)]))
    free = 12 * GB * 0.9 - 7317 - 1024  # 2718.2
    assert plan["variant"] == "bf16" and plan["settings"]["max_num_seqs"] == int(free // 1024) == 2


def test_vllm_8gb_needs_awq():
    # bf16 weights (7317) do not fit 8192 * 0.9 = 7372.8 with 1024 runtime, nor 8192 * 0.95 with 640.
    plan = plan_for(host(ram_mb=16 * GB, gpus=[gpu(8 * GB, cc="8.6", name="NVIDIA GeForce RTX 3070")]))
    assert (plan["variant"], plan["quantization"]) == ("awq", "awq")
    assert plan["settings"]["quantization"] == "awq_marlin"  # Ampere: Marlin kernels
    assert plan["settings"]["max_num_seqs"] == int((8 * GB * 0.9 - 2770 - 1024) // 1024) == 3
    assert any("needs an AWQ checkpoint" in note for note in plan["notes"])


def test_vllm_t4_turing_uses_fp16_not_bf16():
    plan = plan_for(host(ram_mb=64 * GB, gpus=[gpu(15360, cc="7.5", name="Tesla T4")]))
    assert (plan["variant"], plan["settings"]["dtype"]) == ("fp16", "float16")
    assert plan["settings"]["max_num_seqs"] == int((15360 * 0.9 - 7317 - 1024) // 1024) == 5


def test_vllm_4gb_gpu_runs_lean_awq():
    # standard: 4096 * 0.9 - 2770 - 1024 < 0; lean: 4096 * 0.95 - 2770 - 640 = 481.2 -> 2048 tokens (256 MiB) x 1
    plan = plan_for(host(ram_mb=16 * GB, gpus=[gpu(4096, cc="7.5", name="NVIDIA GeForce GTX 1650")]))
    assert plan["verdict"] == "ok"
    s = plan["settings"]
    assert (s["max_model_len"], s["max_num_seqs"], s["gpu_memory_utilization"], s["enforce_eager"], s["quantization"]) == (
        2048, 1, 0.95, True, "awq")
    assert plan["memory_budget"]["total_mb"] == 2770 + 256 + 640


def test_vllm_gpu_too_small_is_refused_with_numbers():
    hw = host(gpus=[gpu(3 * GB, cc="8.6", name="NVIDIA RTX A500")])
    plan = plan_for(hw, requested="production_gpu", thresholds={"production_gpu": {"min_vram_gb": 2}})
    assert plan["verdict"] == "refused"
    need = 2770 + kv_mb(KV16, 2048) + 640
    assert plan["reasons"] == [
        f"memory: vllm with awq needs {need / 1024:.1f} GB (2.7 GB weights + 0.25 GB KV cache for one 2048-token "
        f"sequence + 0.6 GB runtime), NVIDIA RTX A500 (GPU 0) (3.0 GB at gpu_memory_utilization 0.95) gives it "
        f"{3 * GB * 0.95 / 1024:.1f} GB"]


def test_vllm_unknown_compute_capability_only_fp16():
    plan = plan_for(host(ram_mb=64 * GB, gpus=[gpu(16160, cc=None, name="Tesla V100-SXM2-16GB")]))
    assert plan["variant"] == "fp16"


def test_vllm_variant_preference_awq_on_big_gpu():
    plan = plan_for(host(ram_mb=64 * GB, gpus=[gpu(23028)]), {"variant": "awq"})
    assert plan["variant"] == "awq" and plan["settings"]["max_num_seqs"] == 8


def test_vllm_jetson_unified_memory_budget():
    hw = host(ram_mb=7620, arch="aarch64", cores=6, threads=6, gpus=[gpu(7620, cc="8.7", name="Orin (nvgpu)", unified=True)],
              jetson={"model": "NVIDIA Jetson Orin Nano Developer Kit", "l4t_release": "36.4.0"})
    plan = plan_for(hw)
    capacity = min(7620 * 0.9, 7620 - OS_RESERVE - 1024)  # RAM is shared with the OS and vLLM's own process
    assert capacity == 6084
    assert (plan["engine"], plan["variant"]) == ("vllm", "awq")
    assert plan["memory_budget"]["against"] == "unified" and plan["memory_budget"]["host_mb"] == 6084
    assert plan["settings"]["gpu_memory_utilization"] == math.floor(6084 / 7620 * 100) / 100 == 0.79
    assert any("L4T" in note for note in plan["notes"])


def test_vllm_without_gpu_is_refused():
    plan = plan_for(host(ram_mb=32 * GB), {"engine": "vllm"})
    assert plan["verdict"] == "refused"
    assert plan["reasons"] == [
        "gpu: engine vllm needs an NVIDIA GPU with compute capability 7.0 or newer and known VRAM, and this host has "
        "none; set the engine preference allow_vllm_cpu: true to run the vLLM CPU build instead"]


def test_vllm_cpu_build_when_allowed():
    plan = plan_for(host(ram_mb=16 * GB), {"engine": "vllm", "allow_vllm_cpu": True})
    capacity = 16 * GB - OS_RESERVE
    seqs = min(2, (capacity - 7317 - 2048) // kv_mb(KV16, 4096))
    assert (plan["device"], plan["variant"], plan["verdict"]) == ("cpu", "bf16", "ok")
    assert plan["settings"]["max_num_seqs"] == seqs == 2
    assert plan["settings"]["kvcache_space_gb"] == 1  # 1024 MiB of KV cache
    assert plan["settings"]["enforce_eager"] is True
    assert plan["memory_budget"]["total_mb"] == 7317 + 1024 + 2048


def test_vllm_cpu_build_on_8gb_does_not_fit():
    plan = plan_for(host(ram_mb=8 * GB), {"engine": "vllm", "allow_vllm_cpu": True})
    assert plan["verdict"] == "refused" and plan["reasons"][0].startswith("memory: vllm with bf16 needs 9.")


def test_vllm_cpu_build_without_avx512_gets_a_note():
    plan = plan_for(host(ram_mb=32 * GB, flags=("avx2",)), {"engine": "vllm", "allow_vllm_cpu": True})
    assert "vllm: the CPU build is much slower without AVX-512 on x86_64" in plan["notes"]


# ------------------------------------------------------------------------------------------------
# Engine preferences and refusals
# ------------------------------------------------------------------------------------------------


def test_unknown_engine_is_refused():
    plan = plan_for(host(), {"engine": "tgi"})
    assert plan["reasons"] == ["engine: unknown engine 'tgi'; known engines: ollama, onnx, vllm"]


def test_engine_not_offered_for_profile():
    plan = plan_for(host(ram_mb=5 * GB), {"engine": "vllm"})
    assert plan["reasons"] == ["engine: vllm is not offered for profile edge_optimized (allowed: onnx, ollama)"]


def test_unknown_variant_is_refused():
    plan = plan_for(host(), {"variant": "gguf_q8"})
    assert plan["reasons"] == ["variant: phi-4-mini-instruct has no ollama variant 'gguf_q8' (known: q4_k_m)"]


@pytest.mark.parametrize(
    "preferences, message",
    [
        ({"engin": "vllm"}, "preferences: unknown key 'engin'; allowed keys: allow_vllm_cpu, context, engine,"),
        ({"context": "4k"}, "preferences.context must be a non-negative integer, got '4k'"),
        ({"gpu_memory_utilization": 1.5}, "preferences.gpu_memory_utilization must be between 0.1 and 0.99"),
    ],
)
def test_bad_preferences_raise(preferences, message):
    with pytest.raises(AnsibleFilterError) as excinfo:
        plan_for(host(), preferences)
    assert message in str(excinfo.value)


def test_refused_profile_makes_a_refused_plan():
    plan = plan_for(host(ram_mb=2 * GB))
    assert plan["verdict"] == "refused"
    assert plan["reasons"][0] == "profile: the host does not meet profile edge_optimized (see the profile reasons)"
    assert plan["engine"] == "onnx"  # what it would have run, for the plan table


def test_no_profile_at_all():
    plan = d.slm_engine_plan(host(), d.slm_profile(host(), requested="tiny"))
    assert (plan["engine"], plan["verdict"], plan["reasons"]) == (
        None, "refused", ["profile: no deployment profile fits this host, so no engine was planned"])


# ------------------------------------------------------------------------------------------------
# Images and disk
# ------------------------------------------------------------------------------------------------


def test_x86_only_image_refuses_aarch64_host():
    images = {"onnx": {"arches": ["amd64"], "size_mb": 587}}
    plan = plan_for(host(ram_mb=6 * GB, arch="aarch64"), images=images)
    assert plan["reasons"] == ["image: the onnx engine image is built for x86_64 only; this host is aarch64"]
    assert plan_for(host(ram_mb=6 * GB, arch="aarch64"), images={"onnx": {"arches": ["amd64", "arm64"]}})[
        "verdict"] == "ok"


def test_vllm_cpu_image_is_looked_up_separately():
    images = {"vllm": {"arches": ["amd64", "arm64"]}, "vllm_cpu": {"arches": ["amd64"]}}
    plan = plan_for(host(ram_mb=32 * GB, arch="aarch64"), {"engine": "vllm", "allow_vllm_cpu": True}, images=images)
    assert plan["reasons"] == ["image: the vllm_cpu engine image is built for x86_64 only; this host is aarch64"]


def test_disk_budget_counts_model_and_image():
    plan = plan_for(host(ram_mb=6 * GB, disk_mb=6 * GB), images={"onnx": {"arches": ["amd64"], "size_mb": 587}})
    assert plan["disk_budget"] == {"model_mb": 2450, "image_mb": 587, "total_mb": 3037, "free_mb": 6 * GB, "fits": True}
    assert plan["verdict"] == "ok"


def test_disk_budget_refusal():
    # the profile check uses the thresholds; the disk budget uses the real artifact sizes
    plan = plan_for(host(ram_mb=32 * GB, disk_mb=12 * GB, gpus=[gpu(23028)]), images={"vllm": {"size_mb": 9000}})
    assert plan["verdict"] == "refused"
    assert plan["reasons"] == ["disk: vllm needs 15.9 GB (7.1 GB model + 8.8 GB image) on /var/lib, which has 12.0 GB free"]


def test_unknown_image_size_is_noted():
    plan = plan_for(host())
    assert "disk: the ollama image size is unknown (images.ollama.size_mb); only the model is counted" in plan["notes"]
    assert plan["disk_budget"]["image_mb"] is None


def test_ollama_on_a_gpu_host_notes_the_offload():
    plan = plan_for(host(ram_mb=32 * GB, gpus=[gpu(23028)]), {"engine": "ollama"})
    assert plan["engine"] == "ollama" and any("offloads layers to the GPU" in n for n in plan["notes"])


# ------------------------------------------------------------------------------------------------
# Release shape: how engine roles stage a new release (decided here, not in role Jinja)
# ------------------------------------------------------------------------------------------------


def test_a_16gb_server_starts_the_new_release_beside_the_serving_one():
    plan = plan_for(host(ram_mb=16 * GB))
    total = plan["memory_budget"]["total_mb"]  # 4036: twice that fits in 15872
    assert plan["release"] == {"switch": "beside", "memory_limit_mb": total + 512}


def test_a_4gb_gateway_replaces_its_release():
    plan = plan_for(host(ram_mb=3791, arch="aarch64", cores=4, threads=4, flags=("neon",)))
    assert plan["memory_budget"]["total_mb"] * 2 > plan["memory_budget"]["host_mb"]
    assert plan["release"] == {"switch": "replace", "memory_limit_mb": 2450 + 256 + 400 + 512}


def test_the_boundary_is_exactly_twice_the_budget():
    shape = deployment_engine.release_shape
    assert shape({"total_mb": 1000, "host_mb": 2000, "against": "ram"})["switch"] == "beside"
    assert shape({"total_mb": 1000, "host_mb": 1999, "against": "ram"})["switch"] == "replace"


def test_a_gpu_engine_is_always_replaced_without_a_container_memory_limit():
    plan = plan_for(host(ram_mb=64 * GB, gpus=[gpu(23028)]))
    assert (plan["engine"], plan["memory_budget"]["against"]) == ("vllm", "vram")
    assert plan["release"] == {"switch": "replace", "memory_limit_mb": None}


def test_an_undersized_host_deployed_anyway_replaces_its_release():
    # preflight_allow_undersized deploys refused hosts too: they still need a release shape.
    plan = plan_for(host(ram_mb=1024))
    assert plan["verdict"] == "refused"
    assert plan["release"] == {"switch": "replace", "memory_limit_mb": plan["memory_budget"]["total_mb"] + 512}
