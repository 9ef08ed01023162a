# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The model catalog entry, KV-cache arithmetic and fitting weights + KV cache + runtime into memory.

Shared by the engine planners (``deployment_engine`` for Ollama/ONNX, ``deployment_vllm``).
"""

from __future__ import annotations

import math
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_common import (
    gib_text,
    is_number,
    deep_merge,
    require_dict,
    memory_mb,
)
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_tables import (
    MIB,
    ENGINES,
    DEFAULT_PREFERENCES,
    MODEL_CATALOG,
    DEFAULT_MODEL,
    GEOMETRY_KEYS,
    RUNTIME_MB,
)


def slm_model(model: Any = None) -> dict[str, Any]:
    """The catalog entry for ``model.name`` (default Phi-4-mini-instruct) with ``model`` merged over it.

    A ``model`` naming another model must bring ``geometry`` and ``variants`` itself.
    """
    update = require_dict("model", model)
    name = update.get("name", DEFAULT_MODEL)
    base = MODEL_CATALOG.get(name, {"name": name, "geometry": {}, "variants": {}, "defaults": {}})
    merged = deep_merge(base, update)
    missing = [k for k in GEOMETRY_KEYS if not is_number(merged["geometry"].get(k))]
    if missing:
        raise AnsibleFilterError(f"model {name}: geometry needs numbers for {', '.join(missing)}")
    for key, variant in merged["variants"].items():
        if variant.get("engine") not in ENGINES or not is_number(variant.get("weights_mb")) \
                or not is_number(variant.get("kv_bytes")):
            raise AnsibleFilterError(
                f"model {name}: variant '{key}' needs engine (one of {', '.join(ENGINES)}), weights_mb and kv_bytes")
    return merged


def kv_bytes_per_token(model: dict[str, Any], kv_bytes: float) -> int:
    """KV cache per token: 2 (K and V) x layers x KV heads x head_dim x bytes per value.

    Phi-4-mini: 2 x 32 x 8 x 128 x 2 B = 131072 B = 128 KiB (fp16), 256 KiB with an fp32 cache.
    """
    geometry = model["geometry"]
    return int(2 * geometry["num_layers"] * geometry["num_kv_heads"] * geometry["head_dim"] * kv_bytes)


def kv_cache_mb(per_token: int, context: int, sequences: int) -> int:
    """KV cache (MiB, rounded up) for ``sequences`` sequences of ``context`` tokens."""
    return math.ceil(per_token * context * sequences / MIB)


def merge_preferences(preferences: Any) -> dict[str, Any]:
    """DEFAULT_PREFERENCES with ``preferences`` over it; unknown keys are refused by name."""
    update = require_dict("preferences", preferences)
    unknown = sorted(set(update) - set(DEFAULT_PREFERENCES))
    if unknown:
        raise AnsibleFilterError(
            f"preferences: unknown key '{unknown[0]}'; allowed keys: {', '.join(sorted(DEFAULT_PREFERENCES))}")
    merged = dict(DEFAULT_PREFERENCES, **{k: v for k, v in update.items() if v is not None})
    for key in ("context", "parallel", "min_context", "os_reserve_mb", "max_threads", "runtime_mb"):
        value = merged[key]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise AnsibleFilterError(f"preferences.{key} must be a non-negative integer, got {value!r}")
    util = merged["gpu_memory_utilization"]
    if util is not None and (not is_number(util) or not 0.1 <= util <= 0.99):
        raise AnsibleFilterError(f"preferences.gpu_memory_utilization must be between 0.1 and 0.99, got {util!r}")
    return merged


def refuse(plan: dict[str, Any], reason: str) -> dict[str, Any]:
    """Add a reason and mark the plan refused."""
    plan["reasons"].append(reason)
    plan["verdict"] = "refused"
    return plan


def candidate_variants(plan: dict[str, Any], catalog: dict[str, Any], engine_key: str, prefs: dict[str, Any]) -> list[str]:
    """Candidate variant keys for ``engine_key`` (``vllm``, ``vllm_cpu``, ``ollama``, ``onnx``)."""
    engine = engine_key.split("_")[0]
    if prefs["variant"]:
        variant = catalog["variants"].get(prefs["variant"])
        if not variant or variant["engine"] != engine:
            known = sorted(k for k, v in catalog["variants"].items() if v["engine"] == engine)
            refuse(plan, f"variant: {catalog['name']} has no {engine} variant '{prefs['variant']}' "
                   f"(known: {', '.join(known)})")
            return []
        return [prefs["variant"]]
    return [v for v in catalog.get("defaults", {}).get(engine_key, []) if v in catalog["variants"]]


def fit_context(capacity_mb: float, weights_mb: float, runtime_mb: float, per_token: int, context: int,
                min_context: int, parallel: int) -> tuple[int, int] | None:
    """Largest context (halving from ``context`` down to ``min_context``) whose KV cache fits beside
    weights and runtime, then as many parallel sequences of it as fit (1..``parallel``)."""
    free = capacity_mb - weights_mb - runtime_mb
    ctx = context
    while ctx > min_context and kv_cache_mb(per_token, ctx, 1) > free:
        ctx = max(min_context, ctx // 2)
    one = kv_cache_mb(per_token, ctx, 1)
    if one > free:
        return None
    return ctx, max(1, min(parallel, int(free // one)))


def budget_dict(weights: int, per_token: int, ctx: int, seqs: int, runtime: int, capacity: float,
                against: str) -> dict[str, Any]:
    """The memory_budget dict."""
    kv = kv_cache_mb(per_token, ctx, seqs)
    total = weights + kv + runtime
    return {"weights_mb": weights, "kv_cache_mb": kv, "runtime_mb": runtime, "total_mb": total,
            "host_mb": int(capacity), "against": against, "context": ctx, "sequences": seqs,
            "kv_per_token_kb": per_token // 1024, "fits": total <= capacity}


def note_reduced_context(plan: dict[str, Any], engine: str, wanted: int, ctx: int) -> None:
    """Say so when memory forced a shorter context than wanted."""
    if ctx < wanted:
        plan["notes"].append(f"{engine}: context limited to {ctx} tokens by memory (wanted {wanted})")


def serving_shape(engine_defaults: dict[str, Any], prefs: dict[str, Any], catalog: dict[str, Any]) -> tuple[int, int, int]:
    """(context, parallel, min_context) wanted, capped at the model's maximum context."""
    max_ctx = int(catalog["geometry"]["max_context"])
    context = min(prefs["context"] or engine_defaults["context"], max_ctx)
    min_context = min(prefs["min_context"] or engine_defaults["min_context"], context)
    return context, max(1, prefs["parallel"] or engine_defaults["parallel"]), min_context


def _ram_capacity(hardware: dict[str, Any], prefs: dict[str, Any]) -> float | None:
    """RAM an engine may use: total minus the OS reserve; None when RAM is unknown."""
    total = memory_mb(hardware)
    return None if total is None else max(0, total - prefs["os_reserve_mb"])


def no_fit_reason(engine: str, variant_key: str, weights: int, runtime: int, per_token: int, min_context: int,
                  capacity: float, where: str) -> str:
    """'memory: onnx with onnx_int4_prebuilt needs 5.3 GB (...), the host can give it 3.2 GB (...)'."""
    kv = kv_cache_mb(per_token, min_context, 1)
    need = weights + kv + runtime
    return (f"memory: {engine} with {variant_key} needs {gib_text(need)} GB ({gib_text(weights)} GB weights + {gib_text(kv, 2)} GB "
            f"KV cache for one {min_context}-token sequence + {gib_text(runtime)} GB runtime), {where} gives it "
            f"{gib_text(max(capacity, 0))} GB")


def plan_in_ram(plan: dict[str, Any], hardware: dict[str, Any], engine_defaults: dict[str, Any],
                prefs: dict[str, Any], catalog: dict[str, Any], engine_key: str) -> tuple | None:
    """Shared fit for engines that live in RAM (``engine_key``: ``ollama``, ``onnx`` or ``vllm_cpu``).

    Sets the plan's device, variant, quantization and memory budget and returns
    (variant_key, variant, ctx, seqs), or refuses the plan and returns None.
    """
    plan["device"] = "cpu"
    runtime = prefs["runtime_mb"] if prefs["runtime_mb"] is not None else RUNTIME_MB[engine_key]
    capacity = _ram_capacity(hardware, prefs)
    if capacity is None:
        refuse(plan, "memory: total RAM is unknown, so no memory budget can be checked")
        return None
    context, parallel, min_context = serving_shape(engine_defaults, prefs, catalog)
    where = f"the host ({gib_text(memory_mb(hardware))} GB RAM minus {gib_text(prefs['os_reserve_mb'])} GB kept for the OS)"
    candidates = candidate_variants(plan, catalog, engine_key, prefs)
    last = None
    for key in candidates:
        variant = catalog["variants"][key]
        per_token = kv_bytes_per_token(catalog, variant["kv_bytes"])
        fitted = fit_context(capacity, variant["weights_mb"], runtime, per_token, context, min_context, parallel)
        if fitted:
            plan["memory_budget"] = budget_dict(variant["weights_mb"], per_token, fitted[0], fitted[1], runtime, capacity,
                                                "ram")
            note_reduced_context(plan, engine_key.split("_")[0], context, fitted[0])
            plan.update(variant=key, quantization=variant["quantization"])
            return key, variant, fitted[0], fitted[1]
        last = (key, variant, per_token)
    if last:
        key, variant, per_token = last
        plan["memory_budget"] = budget_dict(variant["weights_mb"], per_token, min_context, 1, runtime, capacity, "ram")
        refuse(plan, no_fit_reason(engine_key.split("_")[0], key, variant["weights_mb"], runtime, per_token,
                                   min_context, capacity, where))
        if key == "onnx_int4_prebuilt" or (variant.get("engine") == "onnx" and not variant.get("shared_embeddings", True)):
            plan["notes"].append("onnx: an int4 export with shared (int4) embeddings is about half the size; "
                                 "build it with onnxruntime-genai >= 0.18 on a build host")
    elif not plan["reasons"]:
        refuse(plan, f"variant: {catalog['name']} has no variant for engine {engine_key}")
    return None
