# -*- coding: utf-8 -*-
# Copyright (c) edgeai.slm_fleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Deployment decisions: hardware facts -> profile -> engine, quantization, settings, memory budget.

Filters (all pure; they run on the controller and read nothing but their arguments):

``slm_profile(hardware, thresholds=None, requested=None)``
    Which deployment profile the host qualifies for (``development``, ``production_cpu``,
    ``production_gpu``, ``edge_optimized``), with every check and a refusal message per missing
    resource. Thresholds default to DESIGN.md's table; partial dicts merge over it.
``slm_engine_plan(hardware, profile_result, preferences=None, model=None, images=None)``
    Engine (``vllm``, ``ollama``, ``onnx``), model variant, engine settings and the memory and
    disk budget they imply, checked against the host.
``slm_os_check(hardware, supported=None)``
    Whether the OS is one the collection supports.
``slm_plan_row(hardware, profile_result, engine_plan, host=None, group=None, os_result=None)``
    One flat row of the fleet plan table (and its JSON).
``slm_model(model=None)``
    The model catalog entry (default Phi-4-mini-instruct) with ``model`` merged over it.

Units: every ``*_mb`` value is MiB; "GB" in messages is GiB (1024 MiB) with one decimal.
``docs/deployment_profiles.md`` explains the table, the formulas and every message.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from ansible.errors import AnsibleFilterError

MIB = 1024 * 1024
GIB_MB = 1024

# ------------------------------------------------------------------------------------------------
# Defaults
# ------------------------------------------------------------------------------------------------

PROFILES = ("development", "production_cpu", "production_gpu", "edge_optimized")

#: Order of the automatic choice; ``development`` is only ever chosen when requested.
AUTO_ORDER = ("production_gpu", "production_cpu", "edge_optimized")

#: DESIGN.md section 4. RAM and VRAM minimums are for *installed* memory; the check accepts
#: ``memory_tolerance_pct`` less, because the kernel and firmware keep part of it (a "4 GB"
#: Raspberry Pi 4 reports 3.7 GiB, an 8 GB Jetson Orin Nano 7.4 GiB). Disk is free space.
DEFAULT_THRESHOLDS: dict[str, Any] = {
    "memory_tolerance_pct": 10,
    "development": {"min_ram_gb": 6, "rec_ram_gb": 8, "min_disk_gb": 8},
    "production_cpu": {"min_ram_gb": 8, "rec_ram_gb": 12, "min_disk_gb": 10},
    "production_gpu": {
        "min_ram_gb": 6, "rec_ram_gb": 8, "min_vram_gb": 4, "rec_vram_gb": 6, "min_disk_gb": 8,
        "min_compute_capability": "7.0",
    },
    "edge_optimized": {"min_ram_gb": 4, "rec_ram_gb": 6, "min_disk_gb": 6},
}

THRESHOLD_KEYS = ("min_ram_gb", "rec_ram_gb", "min_vram_gb", "rec_vram_gb", "min_disk_gb", "min_compute_capability")

ENGINES = ("ollama", "onnx", "vllm")

#: Per profile: default engine, engines a site may prefer instead, and default serving shape.
#: ``context`` is the wanted context per sequence, halved down to ``min_context`` when memory is short.
#: edge_optimized accepts 1024 tokens: on a 4 GB board the int4 model's fp32 KV cache allows no more.
PROFILE_ENGINES: dict[str, dict[str, Any]] = {
    "production_gpu": {"engine": "vllm", "allowed": ("vllm", "ollama"), "context": 8192, "min_context": 2048,
                       "parallel": 8, "keep_alive": "-1"},
    "production_cpu": {"engine": "ollama", "allowed": ("ollama", "onnx", "vllm"), "context": 4096,
                       "min_context": 2048, "parallel": 2, "keep_alive": "-1"},
    "edge_optimized": {"engine": "onnx", "allowed": ("onnx", "ollama"), "context": 2048, "min_context": 1024,
                       "parallel": 1, "keep_alive": "-1"},
    "development": {"engine": "ollama", "allowed": ("ollama", "onnx", "vllm"), "context": 4096, "min_context": 2048,
                    "parallel": 1, "keep_alive": "5m"},
}

#: Memory an engine process needs beyond weights and KV cache (MiB); estimates, overridable.
RUNTIME_MB = {
    "vllm_gpu": 1024,  # CUDA context, activations of a prefill chunk, CUDA graphs
    "vllm_gpu_lean": 640,  # the same with --enforce-eager (no CUDA graphs)
    "vllm_cpu": 2048,  # torch + vLLM worker on the CPU build
    "vllm_host": 1024,  # vLLM's Python process in RAM, counted on unified-memory boards
    "ollama": 512,  # ollama server + llama.cpp compute buffers
    "onnx": 400,  # the project's FastAPI server + ONNX Runtime arenas
}

DEFAULT_PREFERENCES: dict[str, Any] = {
    "engine": None,
    "variant": None,
    "allow_vllm_cpu": False,
    "context": None,
    "parallel": None,
    "min_context": None,
    "keep_alive": None,
    "gpu_memory_utilization": None,
    "os_reserve_mb": 512,
    "max_threads": 8,
    "runtime_mb": None,
}

#: Minimum CUDA compute capability of vLLM (Volta).
VLLM_MIN_COMPUTE_CAPABILITY = "7.0"

# ------------------------------------------------------------------------------------------------
# Model catalog
# ------------------------------------------------------------------------------------------------

#: Phi-4-mini-instruct (3.8 B). Geometry from its config.json; sizes in MiB (see docs for sources).
PHI4_MINI: dict[str, Any] = {
    "name": "phi-4-mini-instruct",
    "geometry": {
        "vocab_size": 200064, "hidden_size": 3072, "num_layers": 32, "num_attention_heads": 24,
        "num_kv_heads": 8, "head_dim": 128, "intermediate_size": 8192, "max_context": 131072,
        "tied_embeddings": True, "rope": "longrope",
    },
    "tool_call_parser": "phi4_mini_json",
    "variants": {
        # 3.836 B parameters x 2 bytes = 7.67 GB = 7317 MiB.
        "bf16": {"engine": "vllm", "quantization": "bf16", "dtype": "bfloat16", "weights_mb": 7317,
                 "kv_bytes": 2, "min_compute_capability": "8.0"},
        "fp16": {"engine": "vllm", "quantization": "fp16", "dtype": "float16", "weights_mb": 7317,
                 "kv_bytes": 2, "min_compute_capability": "7.0"},
        # Estimate: 3.22 B linear weights at 4 bit + group-128 scales/zeros + the bf16 tied embedding.
        "awq": {"engine": "vllm", "quantization": "awq", "dtype": "float16", "weights_mb": 2770,
                "kv_bytes": 2, "min_compute_capability": "7.5", "needs_checkpoint": "AWQ"},
        # Ollama's phi4-mini tag (Q4_K_M GGUF, ~2.5 GB); needs Ollama >= 0.5.13; f16 KV cache.
        "q4_k_m": {"engine": "ollama", "quantization": "Q4_K_M", "tag": "phi4-mini", "weights_mb": 2500,
                   "kv_bytes": 2, "min_engine_version": "0.5.13"},
        # onnxruntime-genai builder, -p int4 -e cpu, shared int4 embeddings (measured ~2.45 GB).
        # CPU int4 models keep inputs/outputs in fp32, so the KV cache is fp32 (4 bytes).
        "onnx_int4": {"engine": "onnx", "quantization": "int4", "weights_mb": 2450, "kv_bytes": 4,
                      "shared_embeddings": True},
        # Microsoft's older prebuilt CPU int4 export keeps the 200k-row embedding in fp32 (~4.9 GB).
        "onnx_int4_prebuilt": {"engine": "onnx", "quantization": "int4", "weights_mb": 4900, "kv_bytes": 4,
                               "shared_embeddings": False},
    },
    # Candidate variants per engine, best first.
    "defaults": {"vllm": ["bf16", "fp16", "awq"], "vllm_cpu": ["bf16"], "ollama": ["q4_k_m"], "onnx": ["onnx_int4"]},
}

MODEL_CATALOG = {PHI4_MINI["name"]: PHI4_MINI}
DEFAULT_MODEL = PHI4_MINI["name"]
GEOMETRY_KEYS = ("num_layers", "num_kv_heads", "head_dim", "max_context")

# ------------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------------


def _gb(mb: float, digits: int = 1) -> str:
    """MiB as GiB text with ``digits`` decimals: 3891 -> '3.8'."""
    return f"{mb / GIB_MB:.{digits}f}"


def _size_pair(has_mb: float, need_mb: float) -> tuple[str, str]:
    """'3.4 GB', '3.6 GB'; in MB when one decimal of GB would print a shortfall as equal (3686 vs 3687 MB)."""
    if _gb(has_mb) == _gb(need_mb):
        return f"{math.floor(has_mb)} MB", f"{math.ceil(need_mb)} MB"
    return f"{_gb(has_mb)} GB", f"{_gb(need_mb)} GB"


def _num(value: Any) -> str:
    """A threshold for messages: 4 -> '4.0', 4.5 -> '4.5'."""
    return f"{float(value):.1f}"


def _cc(value: Any) -> tuple[int, int] | None:
    """Compute capability '8.6' -> (8, 6); None when unknown or malformed."""
    if value is None:
        return None
    try:
        major, _sep, minor = str(value).partition(".")
        return int(major), int(minor or 0)
    except ValueError:
        return None


def _is_number(value: Any) -> bool:
    """True for int/float (not bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Dicts merge recursively, everything else is replaced; ``base`` is not modified."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _require_dict(name: str, value: Any) -> dict[str, Any]:
    """``value`` or {} when None; AnsibleFilterError when it is not a dict."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AnsibleFilterError(f"{name} must be a dict, got {type(value).__name__}: {value!r}")
    return value


def _hardware(hardware: Any) -> dict[str, Any]:
    """The ``edge_hardware`` fact, accepting the fact itself or ``ansible_facts``."""
    hardware = _require_dict("hardware", hardware)
    if "edge_hardware" in hardware and isinstance(hardware["edge_hardware"], dict):
        hardware = hardware["edge_hardware"]
    return hardware


def _memory_mb(hardware: dict[str, Any]) -> int | None:
    """Total RAM (MiB) or None."""
    return (hardware.get("memory") or {}).get("total_mb")


def _gpu_label(gpu: dict[str, Any]) -> str:
    """'NVIDIA A10 (GPU 0)'."""
    return f"{gpu.get('name') or 'NVIDIA GPU'} (GPU {gpu.get('index', '?')})"


# ------------------------------------------------------------------------------------------------
# Thresholds
# ------------------------------------------------------------------------------------------------


def merge_thresholds(thresholds: Any = None) -> dict[str, Any]:
    """DEFAULT_THRESHOLDS with ``thresholds`` merged over it, validated."""
    update = _require_dict("thresholds", thresholds)
    for key, value in update.items():
        if key == "memory_tolerance_pct":
            if not _is_number(value) or not 0 <= value <= 50:
                raise AnsibleFilterError(f"thresholds.memory_tolerance_pct must be a number from 0 to 50, got {value!r}")
        elif key in PROFILES:
            _require_dict(f"thresholds.{key}", value)
            for sub, sub_value in value.items():
                _check_threshold(key, sub, sub_value)
        else:
            raise AnsibleFilterError(
                f"thresholds: unknown key '{key}'; allowed keys: memory_tolerance_pct, {', '.join(sorted(PROFILES))}")
    merged = _deep_merge(DEFAULT_THRESHOLDS, update)
    for profile in PROFILES:
        _check_min_below_recommended(profile, merged[profile])
    return merged


def _check_threshold(profile: str, key: str, value: Any) -> None:
    """One profile threshold: a known key with a non-negative number (or a 'x.y' capability)."""
    if key not in THRESHOLD_KEYS:
        raise AnsibleFilterError(
            f"thresholds.{profile}: unknown key '{key}'; allowed keys: {', '.join(THRESHOLD_KEYS)}")
    if key == "min_compute_capability":
        if _cc(value) is None:
            raise AnsibleFilterError(f"thresholds.{profile}.{key} must look like '7.0', got {value!r}")
    elif not _is_number(value) or value < 0:
        raise AnsibleFilterError(f"thresholds.{profile}.{key} must be a non-negative number of GB, got {value!r}")


def _check_min_below_recommended(profile: str, values: dict[str, Any]) -> None:
    """A minimum above its recommendation is a configuration mistake."""
    for resource in ("ram", "vram"):
        low, high = values.get(f"min_{resource}_gb"), values.get(f"rec_{resource}_gb")
        if low is not None and high is not None and low > high:
            raise AnsibleFilterError(
                f"thresholds.{profile}: min_{resource}_gb ({low}) is above rec_{resource}_gb ({high})")


def _accepted_mb(min_gb: float, tolerance_pct: float) -> float:
    """The smallest reported size (MiB) accepted for ``min_gb`` of installed memory."""
    return min_gb * GIB_MB * (1 - tolerance_pct / 100.0)


# ------------------------------------------------------------------------------------------------
# Profile checks
# ------------------------------------------------------------------------------------------------


def _check(profile: str, resource: str, has_mb: int | None, min_mb: float, rec_mb: float | None,
           ok: bool, message: str | None, warning: str | None = None) -> dict[str, Any]:
    """One row of ``checks``."""
    return {"profile": profile, "resource": resource, "has_mb": has_mb, "min_mb": round(min_mb),
            "recommended_mb": round(rec_mb) if rec_mb is not None else None, "ok": ok,
            "message": message, "warning": warning}


def _memory_check(profile: str, limits: dict[str, Any], tolerance: float, has_mb: int | None) -> dict[str, Any]:
    """RAM against ``min_ram_gb`` (with the reservation tolerance) and ``rec_ram_gb``."""
    min_gb, rec_gb = limits["min_ram_gb"], limits.get("rec_ram_gb")
    accepted = _accepted_mb(min_gb, tolerance)
    rec_mb = rec_gb * GIB_MB if rec_gb is not None else None
    if has_mb is None:
        return _check(profile, "memory", None, accepted, rec_mb, False,
                      f"memory: total RAM is unknown (/proc/meminfo could not be read), profile {profile} "
                      f"needs at least {_num(min_gb)} GB")
    if has_mb >= accepted:
        warning = None
        if rec_mb is not None and has_mb < _accepted_mb(rec_gb, tolerance):
            warning = f"memory: has {_gb(has_mb)} GB, below the {_num(rec_gb)} GB recommended for profile {profile}"
        return _check(profile, "memory", has_mb, accepted, rec_mb, True, None, warning)
    return _check(profile, "memory", has_mb, accepted, rec_mb, False,
                  _shortage("memory", has_mb, "", profile, min_gb, rec_gb, tolerance))


def _shortage(resource: str, has_mb: float, what: str, profile: str, min_gb: float, rec_gb: float | None,
              tolerance: float, noun: str = "") -> str:
    """'memory: has 3.4 GB, profile edge_optimized needs at least 4.0 GB (recommended 6.0 GB; ...)'.

    ``what`` goes before the size (``NVIDIA T400 (GPU 0) with ``), ``noun`` after it (`` VRAM``).
    """
    accepted = _accepted_mb(min_gb, tolerance)
    has_text, accepted_text = _size_pair(has_mb, accepted)
    extras = []
    if rec_gb is not None:
        extras.append(f"recommended {_num(rec_gb)} GB")
    if tolerance:
        if resource == "gpu":
            extras.append(f"{accepted_text} reported by the driver passes, allowing {tolerance:g}% for ECC and "
                          f"driver reservations")
        else:
            extras.append(f"{accepted_text} visible to the OS passes, allowing {tolerance:g}% for firmware "
                          f"and kernel reservations")
    tail = f" ({'; '.join(extras)})" if extras else ""
    return f"{resource}: has {what}{has_text}{noun}, profile {profile} needs at least {_num(min_gb)} GB{tail}"


def _disk_check(profile: str, limits: dict[str, Any], disk: dict[str, Any]) -> dict[str, Any]:
    """Free disk where models and images go against ``min_disk_gb`` (no tolerance: it is free space)."""
    min_mb = limits["min_disk_gb"] * GIB_MB
    free = disk.get("free_mb")
    where = disk.get("checked_path") or disk.get("path") or "the data path"
    if disk.get("mount") and disk.get("mount") != where:
        where = f"{where} (mount {disk['mount']})"
    if free is None:
        return _check(profile, "disk", None, min_mb, None, False,
                      f"disk: free space on {where} is unknown, profile {profile} needs at least "
                      f"{_num(limits['min_disk_gb'])} GB")
    if free >= min_mb:
        return _check(profile, "disk", free, min_mb, None, True, None)
    has_text, _need = _size_pair(free, min_mb)
    return _check(profile, "disk", free, min_mb, None, False,
                  f"disk: has {has_text} free on {where}, profile {profile} needs at least "
                  f"{_num(limits['min_disk_gb'])} GB")


def gpu_candidates(hardware: dict[str, Any], min_cc: str = VLLM_MIN_COMPUTE_CAPABILITY) -> list[dict[str, Any]]:
    """NVIDIA GPUs with a known size and a recent enough (or unknown) compute capability, largest first."""
    floor = _cc(min_cc) or (0, 0)
    found = []
    for gpu in hardware.get("gpus") or []:
        cap = _cc(gpu.get("compute_capability"))
        if gpu.get("vendor", "nvidia") == "nvidia" and gpu.get("memory_mb") and (cap is None or cap >= floor):
            found.append(gpu)
    return sorted(found, key=lambda g: (-g["memory_mb"], g.get("index", 0)))


def _vram_check(profile: str, limits: dict[str, Any], tolerance: float, hardware: dict[str, Any]) -> dict[str, Any]:
    """The best GPU against ``min_vram_gb`` / ``rec_vram_gb`` / ``min_compute_capability``."""
    min_gb, rec_gb = limits.get("min_vram_gb", 0), limits.get("rec_vram_gb")
    accepted = _accepted_mb(min_gb, tolerance)
    rec_mb = rec_gb * GIB_MB if rec_gb is not None else None
    min_cc = str(limits.get("min_compute_capability", VLLM_MIN_COMPUTE_CAPABILITY))
    usable = gpu_candidates(hardware, min_cc)
    if usable and usable[0]["memory_mb"] >= accepted:
        gpu = usable[0]
        row = _check(profile, "gpu", gpu["memory_mb"], accepted, rec_mb, True, None, _gpu_warning(gpu, rec_gb, tolerance, profile))
        row["gpu_index"] = gpu.get("index")
        return row
    return _check(profile, "gpu", usable[0]["memory_mb"] if usable else None, accepted, rec_mb, False,
                  _gpu_refusal(profile, hardware, usable, min_gb, rec_gb, tolerance, min_cc))


def _gpu_warning(gpu: dict[str, Any], rec_gb: float | None, tolerance: float, profile: str) -> str | None:
    """Below-recommended VRAM, unknown capability, or shared memory: worth saying, not refusing."""
    notes = []
    if rec_gb is not None and gpu["memory_mb"] < _accepted_mb(rec_gb, tolerance):
        notes.append(f"{_gb(gpu['memory_mb'])} GB VRAM is below the {_num(rec_gb)} GB recommended for profile {profile}")
    if gpu.get("compute_capability") is None:
        notes.append("its compute capability is unknown (driver older than 510?)")
    if gpu.get("unified_memory"):
        notes.append("it shares the system RAM (unified memory); the engine budget counts that memory once")
    return f"gpu: {_gpu_label(gpu)}: " + "; ".join(notes) if notes else None


_SOURCE_HINTS = {
    "lspci": "found by lspci only: the NVIDIA driver is not loaded",
    "proc": "listed by the NVIDIA driver, but nvidia-smi did not answer",
    "nvidia-smi": "nvidia-smi reports its memory as [N/A]",
}


def _gpu_refusal(profile: str, hardware: dict[str, Any], usable: list[dict[str, Any]], min_gb: float,
                 rec_gb: float | None, tolerance: float, min_cc: str) -> str:
    """Why no GPU qualifies, naming the best GPU the host does have."""
    gpus = [g for g in hardware.get("gpus") or [] if g.get("vendor", "nvidia") == "nvidia"]
    rec = f" (recommended {_num(rec_gb)} GB)" if rec_gb is not None else ""
    if usable:
        return _shortage("gpu", usable[0]["memory_mb"], f"{_gpu_label(usable[0])} with ", profile, min_gb, rec_gb,
                         tolerance, noun=" VRAM")
    if not gpus:
        return f"gpu: has no NVIDIA GPU, profile {profile} needs one with at least {_num(min_gb)} GB VRAM{rec}"
    old = [g for g in gpus if _cc(g.get("compute_capability")) is not None
           and _cc(g.get("compute_capability")) < (_cc(min_cc) or (0, 0))]
    if old:
        gpu = old[0]
        return (f"gpu: has {_gpu_label(gpu)} with compute capability {gpu['compute_capability']}, profile {profile} "
                f"needs at least {min_cc} (the oldest GPUs vLLM runs on)")
    gpu = gpus[0]
    hint = _SOURCE_HINTS.get(gpu.get("source", ""), "its memory was not reported")
    return (f"gpu: has {_gpu_label(gpu)} but its VRAM is unknown ({hint}), profile {profile} needs at least "
            f"{_num(min_gb)} GB VRAM; fix the driver or declare the GPU in edge_hw_override.gpus")


def profile_checks(profile: str, hardware: dict[str, Any], thresholds: dict[str, Any]) -> list[dict[str, Any]]:
    """All checks of one profile on one host."""
    limits = thresholds[profile]
    tolerance = thresholds["memory_tolerance_pct"]
    checks = [_memory_check(profile, limits, tolerance, _memory_mb(hardware))]
    if "min_vram_gb" in limits:
        checks.append(_vram_check(profile, limits, tolerance, hardware))
    checks.append(_disk_check(profile, limits, hardware.get("disk") or {}))
    return checks


def slm_profile(hardware: Any, thresholds: Any = None, requested: Any = None) -> dict[str, Any]:
    """Choose (or verify the requested) deployment profile for one host.

    Automatic choice: the first of ``production_gpu`` (only with a GPU of at least
    ``min_vram_gb``), ``production_cpu`` and ``edge_optimized`` whose every check passes.
    ``development`` is never chosen automatically. A requested profile is only verified.
    """
    hardware = _hardware(hardware)
    merged = merge_thresholds(thresholds)
    if requested not in (None, "", "auto"):
        if requested not in PROFILES:
            return _profile_result(None, "refused", requested, [], merged, hardware, [
                f"profile: unknown profile '{requested}'; known profiles: {', '.join(sorted(PROFILES))}"])
        checks = profile_checks(requested, hardware, merged)
        return _profile_from_checks(requested, requested, checks, merged, hardware)
    all_checks: list[dict[str, Any]] = []
    tried = []
    for profile in AUTO_ORDER:
        checks = profile_checks(profile, hardware, merged)
        if profile == "production_gpu" and not _gpu_row(checks)["ok"]:
            continue  # no usable GPU: the GPU profile is not a candidate at all
        tried.append(profile)
        all_checks.extend(checks)
        if all(c["ok"] for c in checks):
            return _profile_from_checks(profile, None, all_checks, merged, hardware)
    result = _profile_from_checks(tried[-1], None, all_checks, merged, hardware)
    result["summary"] = f"no profile fits: checked {', '.join(tried)}; " + "; ".join(result["reasons"])
    return result


def _gpu_row(checks: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``gpu`` check among a profile's checks."""
    return next(c for c in checks if c["resource"] == "gpu")


def _profile_from_checks(profile: str, requested: str | None, checks: list[dict[str, Any]], thresholds: dict[str, Any],
                         hardware: dict[str, Any]) -> dict[str, Any]:
    """Build the result: reasons from the failed checks of ``profile``, warnings from the passed ones."""
    own = [c for c in checks if c["profile"] == profile]
    reasons = [c["message"] for c in own if not c["ok"]]
    verdict = "refused" if reasons else "ok"
    result = _profile_result(profile, verdict, requested, checks, thresholds, hardware, reasons)
    result["warnings"] = [c["warning"] for c in own if c["ok"] and c.get("warning")]
    gpu_rows = [c for c in own if c["resource"] == "gpu" and c["ok"]]
    if gpu_rows:
        index = gpu_rows[0].get("gpu_index")
        result["gpu"] = next((g for g in hardware.get("gpus") or [] if g.get("index") == index), None)
    return result


def _profile_result(profile: str | None, verdict: str, requested: Any, checks: list[dict[str, Any]],
                    thresholds: dict[str, Any], hardware: dict[str, Any], reasons: list[str]) -> dict[str, Any]:
    """The dict slm_profile returns."""
    return {
        "profile": profile,
        "verdict": verdict,
        "requested": requested if requested not in (None, "", "auto") else None,
        "reasons": reasons,
        "warnings": [],
        "checks": checks,
        "gpu": None,
        "thresholds": dict(thresholds[profile], memory_tolerance_pct=thresholds["memory_tolerance_pct"])
        if profile in PROFILES else None,
        "simulated": list(hardware.get("simulated") or []),
        "summary": f"{profile}: " + ("qualifies" if verdict == "ok" else "; ".join(reasons)) if profile else
        "; ".join(reasons),
    }


# ------------------------------------------------------------------------------------------------
# Model catalog
# ------------------------------------------------------------------------------------------------


def slm_model(model: Any = None) -> dict[str, Any]:
    """The catalog entry for ``model.name`` (default Phi-4-mini-instruct) with ``model`` merged over it.

    A ``model`` naming another model must bring ``geometry`` and ``variants`` itself.
    """
    update = _require_dict("model", model)
    name = update.get("name", DEFAULT_MODEL)
    base = MODEL_CATALOG.get(name, {"name": name, "geometry": {}, "variants": {}, "defaults": {}})
    merged = _deep_merge(base, update)
    missing = [k for k in GEOMETRY_KEYS if not _is_number(merged["geometry"].get(k))]
    if missing:
        raise AnsibleFilterError(f"model {name}: geometry needs numbers for {', '.join(missing)}")
    for key, variant in merged["variants"].items():
        if variant.get("engine") not in ENGINES or not _is_number(variant.get("weights_mb")) \
                or not _is_number(variant.get("kv_bytes")):
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


# ------------------------------------------------------------------------------------------------
# Engine plan
# ------------------------------------------------------------------------------------------------


def merge_preferences(preferences: Any) -> dict[str, Any]:
    """DEFAULT_PREFERENCES with ``preferences`` over it; unknown keys are refused by name."""
    update = _require_dict("preferences", preferences)
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
    if util is not None and (not _is_number(util) or not 0.1 <= util <= 0.99):
        raise AnsibleFilterError(f"preferences.gpu_memory_utilization must be between 0.1 and 0.99, got {util!r}")
    return merged


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
        "profile": profile.get("profile"), "settings": {}, "memory_budget": None, "disk_budget": None,
        "verdict": "ok", "reasons": [], "notes": [], "simulated": list(profile.get("simulated") or []),
    }


def slm_engine_plan(hardware: Any, profile_result: Any, preferences: Any = None, model: Any = None,
                    images: Any = None) -> dict[str, Any]:
    """Engine, variant, settings and memory/disk budget for one host and its profile result."""
    hardware = _hardware(hardware)
    profile = _require_dict("profile_result", profile_result)
    prefs = merge_preferences(preferences)
    catalog = slm_model(model)
    images = _require_dict("images", images)
    name = profile.get("profile")
    if name not in PROFILE_ENGINES:
        plan = _blank_plan(None, profile, catalog)
        return _refuse(plan, "profile: no deployment profile fits this host, so no engine was planned")
    engine = prefs["engine"] or PROFILE_ENGINES[name]["engine"]
    plan = _blank_plan(engine, profile, catalog)
    if profile.get("verdict") != "ok":
        plan["reasons"].append(f"profile: the host does not meet profile {name} (see the profile reasons)")
    if engine not in ENGINES:
        return _refuse(plan, f"engine: unknown engine '{engine}'; known engines: {', '.join(ENGINES)}")
    allowed = PROFILE_ENGINES[name]["allowed"]
    if engine not in allowed:
        return _refuse(plan, f"engine: {engine} is not offered for profile {name} (allowed: {', '.join(allowed)})")
    planner = {"vllm": _plan_vllm, "ollama": _plan_ollama, "onnx": _plan_onnx}[engine]
    planner(plan, hardware, PROFILE_ENGINES[name], prefs, catalog)
    if plan["device"]:
        refusal = _image_refusal(images, engine, plan["device"], hardware.get("arch"))
        if refusal:
            plan["reasons"].append(refusal)
        _disk_budget(plan, hardware, catalog, images)
    plan["verdict"] = "refused" if plan["reasons"] else "ok"
    return plan


def _refuse(plan: dict[str, Any], reason: str) -> dict[str, Any]:
    """Add a reason and mark the plan refused."""
    plan["reasons"].append(reason)
    plan["verdict"] = "refused"
    return plan


def _variants(plan: dict[str, Any], catalog: dict[str, Any], engine_key: str, prefs: dict[str, Any]) -> list[str]:
    """Candidate variant keys for ``engine_key`` (``vllm``, ``vllm_cpu``, ``ollama``, ``onnx``)."""
    engine = engine_key.split("_")[0]
    if prefs["variant"]:
        variant = catalog["variants"].get(prefs["variant"])
        if not variant or variant["engine"] != engine:
            known = sorted(k for k, v in catalog["variants"].items() if v["engine"] == engine)
            _refuse(plan, f"variant: {catalog['name']} has no {engine} variant '{prefs['variant']}' "
                          f"(known: {', '.join(known)})")
            return []
        return [prefs["variant"]]
    return [v for v in catalog.get("defaults", {}).get(engine_key, []) if v in catalog["variants"]]


def _fit(capacity_mb: float, weights_mb: float, runtime_mb: float, per_token: int, context: int,
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


def _budget(weights: int, per_token: int, ctx: int, seqs: int, runtime: int, capacity: float,
            against: str) -> dict[str, Any]:
    """The memory_budget dict."""
    kv = kv_cache_mb(per_token, ctx, seqs)
    total = weights + kv + runtime
    return {"weights_mb": weights, "kv_cache_mb": kv, "runtime_mb": runtime, "total_mb": total,
            "host_mb": int(capacity), "against": against, "context": ctx, "sequences": seqs,
            "kv_per_token_kb": per_token // 1024, "fits": total <= capacity}


def _note_reduced(plan: dict[str, Any], engine: str, wanted: int, ctx: int) -> None:
    """Say so when memory forced a shorter context than wanted."""
    if ctx < wanted:
        plan["notes"].append(f"{engine}: context limited to {ctx} tokens by memory (wanted {wanted})")


def _shape(engine_defaults: dict[str, Any], prefs: dict[str, Any], catalog: dict[str, Any]) -> tuple[int, int, int]:
    """(context, parallel, min_context) wanted, capped at the model's maximum context."""
    max_ctx = int(catalog["geometry"]["max_context"])
    context = min(prefs["context"] or engine_defaults["context"], max_ctx)
    min_context = min(prefs["min_context"] or engine_defaults["min_context"], context)
    return context, max(1, prefs["parallel"] or engine_defaults["parallel"]), min_context


def _ram_capacity(hardware: dict[str, Any], prefs: dict[str, Any]) -> float | None:
    """RAM an engine may use: total minus the OS reserve; None when RAM is unknown."""
    total = _memory_mb(hardware)
    return None if total is None else max(0, total - prefs["os_reserve_mb"])


def _no_fit_reason(engine: str, variant_key: str, weights: int, runtime: int, per_token: int, min_context: int,
                   capacity: float, where: str) -> str:
    """'memory: onnx with onnx_int4_prebuilt needs 5.3 GB (...), the host can give it 3.2 GB (...)'."""
    kv = kv_cache_mb(per_token, min_context, 1)
    need = weights + kv + runtime
    return (f"memory: {engine} with {variant_key} needs {_gb(need)} GB ({_gb(weights)} GB weights + {_gb(kv, 2)} GB "
            f"KV cache for one {min_context}-token sequence + {_gb(runtime)} GB runtime), {where} gives it "
            f"{_gb(max(capacity, 0))} GB")


def _plan_cpu_engine(plan: dict[str, Any], hardware: dict[str, Any], engine_defaults: dict[str, Any],
                     prefs: dict[str, Any], catalog: dict[str, Any], engine_key: str, runtime: int) -> tuple | None:
    """Shared fit for engines that live in RAM; returns (variant_key, variant, ctx, seqs) or None."""
    plan["device"] = "cpu"
    capacity = _ram_capacity(hardware, prefs)
    if capacity is None:
        _refuse(plan, "memory: total RAM is unknown, so no memory budget can be checked")
        return None
    context, parallel, min_context = _shape(engine_defaults, prefs, catalog)
    where = f"the host ({_gb(_memory_mb(hardware))} GB RAM minus {_gb(prefs['os_reserve_mb'])} GB kept for the OS)"
    candidates = _variants(plan, catalog, engine_key, prefs)
    last = None
    for key in candidates:
        variant = catalog["variants"][key]
        per_token = kv_bytes_per_token(catalog, variant["kv_bytes"])
        fitted = _fit(capacity, variant["weights_mb"], runtime, per_token, context, min_context, parallel)
        if fitted:
            plan["memory_budget"] = _budget(variant["weights_mb"], per_token, fitted[0], fitted[1], runtime, capacity,
                                            "ram")
            _note_reduced(plan, engine_key.split("_")[0], context, fitted[0])
            return key, variant, fitted[0], fitted[1]
        last = (key, variant, per_token)
    if last:
        key, variant, per_token = last
        plan["memory_budget"] = _budget(variant["weights_mb"], per_token, min_context, 1, runtime, capacity, "ram")
        _refuse(plan, _no_fit_reason(engine_key.split("_")[0], key, variant["weights_mb"], runtime, per_token,
                                     min_context, capacity, where))
        if key == "onnx_int4_prebuilt" or (variant.get("engine") == "onnx" and not variant.get("shared_embeddings", True)):
            plan["notes"].append("onnx: an int4 export with shared (int4) embeddings is about half the size; "
                                 "build it with onnxruntime-genai >= 0.18 on a build host")
    elif not plan["reasons"]:
        _refuse(plan, f"variant: {catalog['name']} has no variant for engine {engine_key}")
    return None


def _plan_ollama(plan: dict[str, Any], hardware: dict[str, Any], engine_defaults: dict[str, Any],
                 prefs: dict[str, Any], catalog: dict[str, Any]) -> None:
    """Ollama: num_ctx x num_parallel of f16 KV cache beside the GGUF weights, in RAM."""
    runtime = prefs["runtime_mb"] if prefs["runtime_mb"] is not None else RUNTIME_MB["ollama"]
    chosen = _plan_cpu_engine(plan, hardware, engine_defaults, prefs, catalog, "ollama", runtime)
    if not chosen:
        return
    key, variant, ctx, seqs = chosen
    plan.update(variant=key, quantization=variant["quantization"])
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
    runtime = prefs["runtime_mb"] if prefs["runtime_mb"] is not None else RUNTIME_MB["onnx"]
    chosen = _plan_cpu_engine(plan, hardware, engine_defaults, prefs, catalog, "onnx", runtime)
    if not chosen:
        return
    key, variant, ctx, seqs = chosen
    cpu = hardware.get("cpu") or {}
    cores = cpu.get("cores") or cpu.get("threads") or 1
    plan.update(variant=key, quantization=variant["quantization"])
    plan["settings"] = {"threads": max(1, min(cores, prefs["max_threads"])), "max_length": ctx, "concurrency": seqs}


def _plan_vllm(plan: dict[str, Any], hardware: dict[str, Any], engine_defaults: dict[str, Any],
               prefs: dict[str, Any], catalog: dict[str, Any]) -> None:
    """vLLM on the best GPU, or on the CPU build when allowed and no GPU qualifies."""
    gpus = gpu_candidates(hardware)
    if gpus:
        _plan_vllm_gpu(plan, hardware, gpus[0], engine_defaults, prefs, catalog)
        return
    if not prefs["allow_vllm_cpu"]:
        _refuse(plan, f"gpu: engine vllm needs an NVIDIA GPU with compute capability {VLLM_MIN_COMPUTE_CAPABILITY} or "
                      f"newer and known VRAM, and this host has none; set the engine preference allow_vllm_cpu: true "
                      f"to run the vLLM CPU build instead")
        return
    runtime = prefs["runtime_mb"] if prefs["runtime_mb"] is not None else RUNTIME_MB["vllm_cpu"]
    chosen = _plan_cpu_engine(plan, hardware, engine_defaults, prefs, catalog, "vllm_cpu", runtime)
    if not chosen:
        return
    key, variant, ctx, seqs = chosen
    plan.update(variant=key, quantization=variant["quantization"])
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
        ram = _memory_mb(hardware) or gpu["memory_mb"]
        capacity = min(capacity, ram - prefs["os_reserve_mb"] - RUNTIME_MB["vllm_host"])
    return max(0.0, capacity)


def _plan_vllm_gpu(plan: dict[str, Any], hardware: dict[str, Any], gpu: dict[str, Any],
                   engine_defaults: dict[str, Any], prefs: dict[str, Any], catalog: dict[str, Any]) -> None:
    """Pick the best-precision variant and mode that fit the GPU: full context first, then any context."""
    plan["device"] = "gpu"
    cap = _cc(gpu.get("compute_capability"))
    context, parallel, min_context = _shape(engine_defaults, prefs, catalog)
    candidates = []
    for key in _variants(plan, catalog, "vllm", prefs):
        variant = catalog["variants"][key]
        need = _cc(variant.get("min_compute_capability")) or (0, 0)
        if cap is not None and cap < need:
            continue
        if cap is None and need > (7, 0):
            continue  # unknown capability: only variants that run on any vLLM GPU
        candidates.append(key)
    if not candidates:
        if not plan["reasons"]:
            _refuse(plan, f"gpu: {_gpu_label(gpu)} with compute capability {gpu.get('compute_capability')} cannot run "
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
    plan["memory_budget"] = _budget(variant["weights_mb"], per_token, ctx, seqs, runtime, capacity, against)
    _note_reduced(plan, "vllm", context, ctx)
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
            fitted = _fit(capacity, variant["weights_mb"], runtime, per_token, context, min_context, parallel)
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
    plan["memory_budget"] = _budget(variant["weights_mb"], per_token, min_context, 1, runtime, capacity, against)
    where = f"{_gpu_label(gpu)} ({_gb(gpu['memory_mb'])} GB at gpu_memory_utilization {util:.2f})"
    _refuse(plan, _no_fit_reason("vllm", key, variant["weights_mb"], runtime, per_token, min_context, capacity, where))


def _vllm_quantization_arg(variant: dict[str, Any], cap: tuple[int, int] | None) -> str | None:
    """--quantization: none for bf16/fp16; awq_marlin (faster kernels) from Ampere on, else awq."""
    if variant.get("quantization") != "awq":
        return None
    return "awq_marlin" if cap is not None and cap >= (8, 0) else "awq"


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
        image_text = f" + {_gb(image_mb)} GB image" if image_mb else ""
        plan["reasons"].append(f"disk: {plan['engine']} needs {_gb(total)} GB ({_gb(model_mb)} GB model{image_text}) "
                               f"on {where}, which has {_gb(free)} GB free")


# ------------------------------------------------------------------------------------------------
# OS support and the plan row
# ------------------------------------------------------------------------------------------------

#: OS ID -> oldest supported VERSION_ID (Docker Engine + Compose v2 available, Python 3.8+).
DEFAULT_SUPPORTED_OS = {"debian": "11", "ubuntu": "20.04", "raspbian": "11"}


def _version_tuple(value: Any) -> tuple[int, ...] | None:
    """'22.04' -> (22, 4); None when not numeric."""
    try:
        return tuple(int(part) for part in str(value).split("."))
    except ValueError:
        return None


def slm_os_check(hardware: Any, supported: Any = None) -> dict[str, Any]:
    """Whether the host's OS is supported: ``supported`` maps os-release IDs to minimum VERSION_IDs."""
    hardware = _hardware(hardware)
    table = {str(k): str(v) for k, v in _require_dict("supported", supported).items()} or DEFAULT_SUPPORTED_OS
    os_info = hardware.get("os") or {}
    os_id, version = os_info.get("id"), os_info.get("version_id")
    wanted = ", ".join(f"{k} >= {v}" for k, v in sorted(table.items()))
    shown = os_info.get("pretty_name") or os_id or "an unknown OS"
    if os_id not in table:
        return _os_result("refused", f"os: has {shown} ({os_id or 'no os-release ID'}), supported: {wanted}")
    have, need = _version_tuple(version), _version_tuple(table[os_id])
    if have is None:
        return _os_result("refused", f"os: has {shown} without a numeric VERSION_ID, supported: {wanted}")
    if need is not None and have < need:
        return _os_result("refused", f"os: has {shown} ({os_id} {version}), supported: {wanted}")
    return _os_result("ok", None)


def _os_result(verdict: str, reason: str | None) -> dict[str, Any]:
    """The dict slm_os_check returns."""
    return {"verdict": verdict, "reasons": [reason] if reason else []}


def _cpu_summary(cpu: dict[str, Any]) -> str:
    """'Intel Xeon Silver 4309Y x2, 16c/32t, avx512_vnni'."""
    model = (cpu.get("model") or "unknown CPU").replace("(R)", "").replace("(TM)", "").replace(" CPU", "")
    sockets = f" x{cpu['sockets']}" if (cpu.get("sockets") or 1) > 1 else ""
    flags = [f for f in ("amx", "avx512_vnni", "avx512f", "avx2", "sve", "i8mm", "dotprod", "neon")
             if f in (cpu.get("flags") or [])]
    best = f", {flags[0]}" if flags else ""
    return f"{' '.join(model.split())}{sockets}, {cpu.get('cores') or '?'}c/{cpu.get('threads') or '?'}t{best}"


def slm_plan_row(hardware: Any, profile_result: Any, engine_plan: Any, host: Any = None, group: Any = None,
                 os_result: Any = None) -> dict[str, Any]:
    """One host's line of the fleet plan: hardware summary, decisions, budget and verdict, flat."""
    hardware = _hardware(hardware)
    profile = _require_dict("profile_result", profile_result)
    plan = _require_dict("engine_plan", engine_plan)
    os_check = _require_dict("os_result", os_result)
    gpus = hardware.get("gpus") or []
    budget = plan.get("memory_budget") or {}
    reasons = list(os_check.get("reasons") or []) + list(profile.get("reasons") or []) + [
        r for r in plan.get("reasons") or [] if not r.startswith("profile: ")]
    verdicts = [profile.get("verdict"), plan.get("verdict"), os_check.get("verdict", "ok")]
    return {
        "host": host,
        "group": group,
        "arch": hardware.get("arch"),
        "cpu": _cpu_summary(hardware.get("cpu") or {}),
        "ram_gb": round(_memory_mb(hardware) / GIB_MB, 1) if _memory_mb(hardware) is not None else None,
        "gpu": ", ".join(f"{g.get('name')} {_gb(g['memory_mb'])} GB" if g.get("memory_mb") else f"{g.get('name')} ? GB"
                         for g in gpus) or "-",
        "disk_free_gb": round(hardware["disk"]["free_mb"] / GIB_MB, 1)
        if (hardware.get("disk") or {}).get("free_mb") is not None else None,
        "profile": profile.get("profile"),
        "engine": plan.get("engine"),
        "quantization": plan.get("quantization"),
        "memory_budget": f"{_gb(budget['total_mb'])}/{_gb(budget['host_mb'])} GB {budget['against']}" if budget else "-",
        "verdict": "ok" if all(v == "ok" for v in verdicts) else "refused",
        "reasons": reasons,
        "warnings": list(profile.get("warnings") or []),
        "simulated": list(hardware.get("simulated") or []),
    }


class FilterModule(object):
    """edgeai.slm_fleet deployment filters."""

    def filters(self) -> dict[str, Any]:
        """Filter name -> function."""
        return {
            "slm_profile": slm_profile,
            "slm_engine_plan": slm_engine_plan,
            "slm_os_check": slm_os_check,
            "slm_plan_row": slm_plan_row,
            "slm_model": slm_model,
        }
