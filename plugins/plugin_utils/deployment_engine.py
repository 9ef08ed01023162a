# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine plan of one host: engine, variant, settings, memory and disk budget.

``slm_engine_plan`` is the filter; docs/deployment_profiles.md section 3 explains it.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_budget import (
    slm_model,
    merge_preferences,
    refuse,
    plan_in_ram,
)
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_common import (
    gib_text,
    require_dict,
    hardware_fact,
)
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_profile import gpu_candidates
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_tables import (
    CONTAINER_HEADROOM_MB,
    ENGINES,
    PROFILE_ENGINES,
)
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_vllm import plan_vllm


def _normalize_arch(arch: Any) -> str:
    """Docker/Debian names to kernel names: amd64 -> x86_64, arm64 -> aarch64, armhf -> armv7l."""
    aliases = {"amd64": "x86_64", "x86-64": "x86_64", "arm64": "aarch64", "armhf": "armv7l",
               "arm": "armv7l", "arm/v7": "armv7l", "linux/amd64": "x86_64", "linux/arm64": "aarch64",
               "linux/arm/v7": "armv7l"}
    text = str(arch).strip().lower()
    return aliases.get(text, text)


def _image_for(images: dict[str, Any], engine: str, device: str) -> tuple[str, dict[str, Any] | None]:
    """The image entry used: ``vllm_cpu`` for the vLLM CPU build when listed, else the engine's."""
    if engine == "vllm" and device == "cpu" and "vllm_cpu" in images:
        return "vllm_cpu", images["vllm_cpu"]
    entry = images.get(engine)
    return engine, entry if isinstance(entry, dict) else None


def _image_refusal(images: dict[str, Any], engine: str, device: str, arch: str | None) -> str | None:
    """Refuse a host whose architecture the engine image is not built for."""
    key, entry = _image_for(images, engine, device)
    if not entry or not entry.get("arches") or not arch:
        return None
    arches = sorted({_normalize_arch(a) for a in entry["arches"]})
    if _normalize_arch(arch) in arches:
        return None
    return f"image: the {key} engine image is built for {', '.join(arches)} only; this host is {arch}"


def _blank_plan(engine: str | None, profile: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """The plan skeleton every path fills in."""
    return {
        "engine": engine, "device": None, "model": model["name"], "variant": None, "quantization": None,
        "profile": profile.get("profile"), "settings": {}, "memory_budget": None, "disk_budget": None, "release": None,
        "verdict": "ok", "reasons": [], "notes": [], "simulated": list(profile.get("simulated") or []),
    }


def slm_engine_plan(hardware: Any, profile_result: Any, preferences: Any = None, model: Any = None,
                    images: Any = None) -> dict[str, Any]:
    """Engine, variant, settings and memory/disk budget for one host and its profile result."""
    hardware = hardware_fact(hardware)
    profile = require_dict("profile_result", profile_result)
    prefs = merge_preferences(preferences)
    catalog = slm_model(model)
    images = require_dict("images", images)
    name = profile.get("profile")
    if name not in PROFILE_ENGINES:
        plan = _blank_plan(None, profile, catalog)
        return refuse(plan, "profile: no deployment profile fits this host, so no engine was planned")
    engine = prefs["engine"] or PROFILE_ENGINES[name]["engine"]
    plan = _blank_plan(engine, profile, catalog)
    if profile.get("verdict") != "ok":
        plan["reasons"].append(f"profile: the host does not meet profile {name} (see the profile reasons)")
    if engine not in ENGINES:
        return refuse(plan, f"engine: unknown engine '{engine}'; known engines: {', '.join(ENGINES)}")
    allowed = PROFILE_ENGINES[name]["allowed"]
    if engine not in allowed:
        return refuse(plan, f"engine: {engine} is not offered for profile {name} (allowed: {', '.join(allowed)})")
    planner = {"vllm": plan_vllm, "ollama": _plan_ollama, "onnx": _plan_onnx}[engine]
    planner(plan, hardware, PROFILE_ENGINES[name], prefs, catalog)
    if plan["device"]:
        refusal = _image_refusal(images, engine, plan["device"], hardware.get("arch"))
        if refusal:
            plan["reasons"].append(refusal)
        _disk_budget(plan, hardware, catalog, images)
    plan["verdict"] = "refused" if plan["reasons"] else "ok"
    plan["release"] = release_shape(plan["memory_budget"])
    return plan


def release_shape(budget: dict[str, Any] | None) -> dict[str, Any] | None:
    """How an engine role stages a new release, from the memory budget (no role decides memory itself).

    ``switch``: ``beside`` when RAM holds the serving and the new release at once (the new one is checked
    on a second port before the switch, no downtime), else ``replace``; engines that live in VRAM are
    always replaced (one engine per GPU). ``memory_limit_mb``: the container's limit, the budget plus
    CONTAINER_HEADROOM_MB (None for GPU engines, whose host memory use the budget does not bound).
    """
    if not budget:
        return None
    if budget.get("against") != "ram":
        return {"switch": "replace", "memory_limit_mb": None}
    total = int(budget["total_mb"])
    both_fit = total * 2 <= int(budget["host_mb"])
    return {"switch": "beside" if both_fit else "replace", "memory_limit_mb": total + CONTAINER_HEADROOM_MB}


def _plan_ollama(plan: dict[str, Any], hardware: dict[str, Any], engine_defaults: dict[str, Any],
                 prefs: dict[str, Any], catalog: dict[str, Any]) -> None:
    """Ollama: num_ctx x num_parallel of f16 KV cache beside the GGUF weights, in RAM."""
    chosen = plan_in_ram(plan, hardware, engine_defaults, prefs, catalog, "ollama")
    if not chosen:
        return
    key, variant, ctx, seqs = chosen
    plan["settings"] = {
        "model_tag": variant.get("tag", catalog["name"]), "num_ctx": ctx, "num_parallel": seqs,
        "keep_alive": prefs["keep_alive"] or engine_defaults["keep_alive"], "max_loaded_models": 1,
        "kv_cache_type": "f16",
    }
    if variant.get("min_engine_version"):
        plan["notes"].append(f"ollama: {variant.get('tag', key)} needs Ollama >= {variant['min_engine_version']}")
    if gpu_candidates(hardware):
        plan["notes"].append("ollama: offloads layers to the GPU when they fit; the budget assumes the worst case, RAM")


def _plan_onnx(plan: dict[str, Any], hardware: dict[str, Any], engine_defaults: dict[str, Any],
               prefs: dict[str, Any], catalog: dict[str, Any]) -> None:
    """The project's ONNX Runtime GenAI engine: int4 weights and an fp32 KV cache of max_length x concurrency."""
    chosen = plan_in_ram(plan, hardware, engine_defaults, prefs, catalog, "onnx")
    if not chosen:
        return
    _key, _variant, ctx, seqs = chosen
    cpu = hardware.get("cpu") or {}
    cores = cpu.get("cores") or cpu.get("threads") or 1
    plan["settings"] = {"threads": max(1, min(cores, prefs["max_threads"])), "max_length": ctx, "concurrency": seqs}


def _disk_budget(plan: dict[str, Any], hardware: dict[str, Any], catalog: dict[str, Any], images: dict[str, Any]) -> None:
    """Model artifact plus engine image (when its size is known) against the free disk."""
    variant = catalog["variants"].get(plan["variant"] or "", {})
    if not variant:
        return
    key, entry = _image_for(images, plan["engine"], plan["device"])
    image_mb = int((entry or {}).get("size_mb") or 0)
    model_mb = int(variant["weights_mb"])
    free = (hardware.get("disk") or {}).get("free_mb")
    total = model_mb + image_mb
    plan["disk_budget"] = {"model_mb": model_mb, "image_mb": image_mb or None, "total_mb": total, "free_mb": free,
                           "fits": None if free is None else total <= free}
    if not image_mb:
        plan["notes"].append(f"disk: the {key} image size is unknown (images.{key}.size_mb); only the model is counted")
    if free is not None and total > free:
        where = (hardware.get("disk") or {}).get("checked_path") or "the data path"
        image_text = f" + {gib_text(image_mb)} GB image" if image_mb else ""
        plan["reasons"].append(f"disk: {plan['engine']} needs {gib_text(total)} GB ({gib_text(model_mb)} GB model{image_text}) "
                               f"on {where}, which has {gib_text(free)} GB free")
