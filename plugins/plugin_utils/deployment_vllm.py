# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vLLM plans: the best variant and mode for a GPU (or the CPU build when allowed).
"""

from __future__ import annotations

import math
from typing import Any

from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_budget import (
    kv_bytes_per_token,
    refuse,
    candidate_variants,
    fit_context,
    budget_dict,
    note_reduced_context,
    serving_shape,
    no_fit_reason,
    plan_in_ram,
)
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_common import (
    gib_text,
    cc_tuple,
    memory_mb,
    gpu_label,
)
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_profile import gpu_candidates
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_tables import (
    GIB_MB,
    RUNTIME_MB,
    VLLM_MIN_COMPUTE_CAPABILITY,
)


def plan_vllm(plan: dict[str, Any], hardware: dict[str, Any], engine_defaults: dict[str, Any],
              prefs: dict[str, Any], catalog: dict[str, Any]) -> None:
    """vLLM on the best GPU, or on the CPU build when allowed and no GPU qualifies."""
    gpus = gpu_candidates(hardware)
    if gpus:
        _plan_vllm_gpu(plan, hardware, gpus[0], engine_defaults, prefs, catalog)
        return
    if not prefs["allow_vllm_cpu"]:
        refuse(plan, f"gpu: engine vllm needs an NVIDIA GPU with compute capability {VLLM_MIN_COMPUTE_CAPABILITY} or "
               f"newer and known VRAM, and this host has none; set the engine preference allow_vllm_cpu: true "
               f"to run the vLLM CPU build instead")
        return
    chosen = plan_in_ram(plan, hardware, engine_defaults, prefs, catalog, "vllm_cpu")
    if not chosen:
        return
    _key, variant, ctx, seqs = chosen
    kv = plan["memory_budget"]["kv_cache_mb"]
    plan["settings"] = {
        "device": "cpu", "max_model_len": ctx, "max_num_seqs": seqs, "dtype": variant.get("dtype", "bfloat16"),
        "kvcache_space_gb": max(1, math.ceil(kv / GIB_MB)), "omp_threads_bind": "auto", "enforce_eager": True,
        "tool_call_parser": catalog.get("tool_call_parser"), "enable_auto_tool_choice": bool(catalog.get("tool_call_parser")),
    }
    flags = (hardware.get("cpu") or {}).get("flags") or []
    if hardware.get("arch") == "x86_64" and "avx512f" not in flags:
        plan["notes"].append("vllm: the CPU build is much slower without AVX-512 on x86_64")


def _vllm_modes(prefs: dict[str, Any]) -> list[tuple[str, float, int, bool]]:
    """(name, gpu_memory_utilization, runtime_mb, enforce_eager): standard first, then lean for small GPUs."""
    util = prefs["gpu_memory_utilization"]
    runtime = prefs["runtime_mb"]
    standard = ("standard", util or 0.90, runtime if runtime is not None else RUNTIME_MB["vllm_gpu"], False)
    lean = ("lean", util or 0.95, runtime if runtime is not None else RUNTIME_MB["vllm_gpu_lean"], True)
    return [standard, lean]


def _vllm_gpu_capacity(gpu: dict[str, Any], hardware: dict[str, Any], util: float, prefs: dict[str, Any]) -> float:
    """VRAM vLLM may use; on unified memory also bounded by RAM minus OS and vLLM's host process."""
    capacity = gpu["memory_mb"] * util
    if gpu.get("unified_memory"):
        ram = memory_mb(hardware) or gpu["memory_mb"]
        capacity = min(capacity, ram - prefs["os_reserve_mb"] - RUNTIME_MB["vllm_host"])
    return max(0.0, capacity)


def _plan_vllm_gpu(plan: dict[str, Any], hardware: dict[str, Any], gpu: dict[str, Any],
                   engine_defaults: dict[str, Any], prefs: dict[str, Any], catalog: dict[str, Any]) -> None:
    """Pick the best-precision variant and mode that fit the GPU: full context first, then any context."""
    plan["device"] = "gpu"
    cap = cc_tuple(gpu.get("compute_capability"))
    context, parallel, min_context = serving_shape(engine_defaults, prefs, catalog)
    candidates = []
    for key in candidate_variants(plan, catalog, "vllm", prefs):
        variant = catalog["variants"][key]
        need = cc_tuple(variant.get("min_compute_capability")) or (0, 0)
        if cap is not None and cap < need:
            continue
        if cap is None and need > (7, 0):
            continue  # unknown capability: only variants that run on any vLLM GPU
        candidates.append(key)
    if not candidates:
        if not plan["reasons"]:
            refuse(plan, f"gpu: {gpu_label(gpu)} with compute capability {gpu.get('compute_capability')} cannot run "
                   f"any vLLM variant of {catalog['name']}")
        return
    choice = _search_vllm(candidates, gpu, hardware, prefs, catalog, context, min_context, parallel)
    if choice is None:
        _vllm_no_fit(plan, candidates[-1], gpu, hardware, prefs, catalog, min_context)
        return
    key, mode, util, runtime, eager, capacity, ctx, seqs = choice
    variant = catalog["variants"][key]
    per_token = kv_bytes_per_token(catalog, variant["kv_bytes"])
    against = "unified" if gpu.get("unified_memory") else "vram"
    plan["memory_budget"] = budget_dict(variant["weights_mb"], per_token, ctx, seqs, runtime, capacity, against)
    note_reduced_context(plan, "vllm", context, ctx)
    plan.update(variant=key, quantization=variant["quantization"])
    if gpu.get("unified_memory"):
        util = math.floor(capacity / gpu["memory_mb"] * 100) / 100
    plan["settings"] = {
        "device": "cuda", "gpu_index": gpu.get("index", 0), "max_model_len": ctx, "max_num_seqs": seqs,
        "gpu_memory_utilization": round(util, 2), "dtype": variant.get("dtype"),
        "quantization": _vllm_quantization_arg(variant, cap), "enforce_eager": eager,
        "tool_call_parser": catalog.get("tool_call_parser"), "enable_auto_tool_choice": bool(catalog.get("tool_call_parser")),
    }
    if variant.get("needs_checkpoint"):
        plan["notes"].append(f"vllm: {key} needs an {variant['needs_checkpoint']} checkpoint of {catalog['name']}; "
                             f"--quantization {key} does not quantize the base model")
    if mode == "lean":
        plan["notes"].append("vllm: small GPU: --enforce-eager (no CUDA graphs) and a higher gpu_memory_utilization")
    if hardware.get("jetson"):
        plan["notes"].append("vllm: a Jetson needs an L4T (JetPack) build of the vLLM image, not the SBSA arm64 one")


def _search_vllm(candidates: list[str], gpu: dict[str, Any], hardware: dict[str, Any], prefs: dict[str, Any],
                 catalog: dict[str, Any], context: int, min_context: int, parallel: int) -> tuple | None:
    """First (variant, mode) that keeps the wanted context; failing that, the first that fits at all."""
    fallback = None
    for key in candidates:
        variant = catalog["variants"][key]
        per_token = kv_bytes_per_token(catalog, variant["kv_bytes"])
        for mode, util, runtime, eager in _vllm_modes(prefs):
            capacity = _vllm_gpu_capacity(gpu, hardware, util, prefs)
            fitted = fit_context(capacity, variant["weights_mb"], runtime, per_token, context, min_context, parallel)
            if not fitted:
                continue
            choice = (key, mode, util, runtime, eager, capacity, fitted[0], fitted[1])
            if fitted[0] == context:
                return choice
            fallback = fallback or choice
    return fallback


def _vllm_no_fit(plan: dict[str, Any], key: str, gpu: dict[str, Any], hardware: dict[str, Any],
                 prefs: dict[str, Any], catalog: dict[str, Any], min_context: int) -> None:
    """Refuse with the numbers of the smallest variant in lean mode (the last thing tried)."""
    variant = catalog["variants"][key]
    per_token = kv_bytes_per_token(catalog, variant["kv_bytes"])
    _mode, util, runtime, _eager = _vllm_modes(prefs)[-1]
    capacity = _vllm_gpu_capacity(gpu, hardware, util, prefs)
    against = "unified" if gpu.get("unified_memory") else "vram"
    plan["memory_budget"] = budget_dict(variant["weights_mb"], per_token, min_context, 1, runtime, capacity, against)
    where = f"{gpu_label(gpu)} ({gib_text(gpu['memory_mb'])} GB at gpu_memory_utilization {util:.2f})"
    refuse(plan, no_fit_reason("vllm", key, variant["weights_mb"], runtime, per_token, min_context, capacity, where))


def _vllm_quantization_arg(variant: dict[str, Any], cap: tuple[int, int] | None) -> str | None:
    """--quantization: none for bf16/fp16; awq_marlin (faster kernels) from Ampere on, else awq."""
    if variant.get("quantization") != "awq":
        return None
    return "awq_marlin" if cap is not None and cap >= (8, 0) else "awq"
