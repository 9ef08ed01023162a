# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Deployment profiles: thresholds, per-resource checks and the choice of profile for one host.

``slm_profile`` is the filter; ``docs/deployment_profiles.md`` section 2 explains the rules and messages.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_common import (
    gib_text,
    size_pair,
    one_decimal,
    cc_tuple,
    is_number,
    deep_merge,
    require_dict,
    hardware_fact,
    memory_mb,
    gpu_label,
)
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_tables import (
    GIB_MB,
    PROFILES,
    AUTO_ORDER,
    DEFAULT_THRESHOLDS,
    THRESHOLD_KEYS,
    VLLM_MIN_COMPUTE_CAPABILITY,
)


def merge_thresholds(thresholds: Any = None) -> dict[str, Any]:
    """DEFAULT_THRESHOLDS with ``thresholds`` merged over it, validated."""
    update = require_dict("thresholds", thresholds)
    for key, value in update.items():
        if key == "memory_tolerance_pct":
            if not is_number(value) or not 0 <= value <= 50:
                raise AnsibleFilterError(f"thresholds.memory_tolerance_pct must be a number from 0 to 50, got {value!r}")
        elif key in PROFILES:
            require_dict(f"thresholds.{key}", value)
            for sub, sub_value in value.items():
                _check_threshold(key, sub, sub_value)
        else:
            raise AnsibleFilterError(
                f"thresholds: unknown key '{key}'; allowed keys: memory_tolerance_pct, {', '.join(sorted(PROFILES))}")
    merged = deep_merge(DEFAULT_THRESHOLDS, update)
    for profile in PROFILES:
        _check_min_below_recommended(profile, merged[profile])
    return merged


def _check_threshold(profile: str, key: str, value: Any) -> None:
    """One profile threshold: a known key with a non-negative number (or a 'x.y' capability)."""
    if key not in THRESHOLD_KEYS:
        raise AnsibleFilterError(
            f"thresholds.{profile}: unknown key '{key}'; allowed keys: {', '.join(THRESHOLD_KEYS)}")
    if key == "min_compute_capability":
        if cc_tuple(value) is None:
            raise AnsibleFilterError(f"thresholds.{profile}.{key} must look like '7.0', got {value!r}")
    elif not is_number(value) or value < 0:
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
                      f"needs at least {one_decimal(min_gb)} GB")
    if has_mb >= accepted:
        warning = None
        if rec_mb is not None and has_mb < _accepted_mb(rec_gb, tolerance):
            warning = f"memory: has {gib_text(has_mb)} GB, below the {one_decimal(rec_gb)} GB recommended for profile {profile}"
        return _check(profile, "memory", has_mb, accepted, rec_mb, True, None, warning)
    return _check(profile, "memory", has_mb, accepted, rec_mb, False,
                  _shortage("memory", has_mb, "", profile, min_gb, rec_gb, tolerance))


def _shortage(resource: str, has_mb: float, what: str, profile: str, min_gb: float, rec_gb: float | None,
              tolerance: float, noun: str = "") -> str:
    """'memory: has 3.4 GB, profile edge_optimized needs at least 4.0 GB (recommended 6.0 GB; ...)'.

    ``what`` goes before the size (``NVIDIA T400 (GPU 0) with ``), ``noun`` after it (`` VRAM``).
    """
    accepted = _accepted_mb(min_gb, tolerance)
    has_text, accepted_text = size_pair(has_mb, accepted)
    extras = []
    if rec_gb is not None:
        extras.append(f"recommended {one_decimal(rec_gb)} GB")
    if tolerance:
        if resource == "gpu":
            extras.append(f"{accepted_text} reported by the driver passes, allowing {tolerance:g}% for ECC and "
                          f"driver reservations")
        else:
            extras.append(f"{accepted_text} visible to the OS passes, allowing {tolerance:g}% for firmware "
                          f"and kernel reservations")
    tail = f" ({'; '.join(extras)})" if extras else ""
    return f"{resource}: has {what}{has_text}{noun}, profile {profile} needs at least {one_decimal(min_gb)} GB{tail}"


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
                      f"{one_decimal(limits['min_disk_gb'])} GB")
    if free >= min_mb:
        return _check(profile, "disk", free, min_mb, None, True, None)
    has_text, _need = size_pair(free, min_mb)
    return _check(profile, "disk", free, min_mb, None, False,
                  f"disk: has {has_text} free on {where}, profile {profile} needs at least "
                  f"{one_decimal(limits['min_disk_gb'])} GB")


def gpu_candidates(hardware: dict[str, Any], min_cc: str = VLLM_MIN_COMPUTE_CAPABILITY) -> list[dict[str, Any]]:
    """NVIDIA GPUs with a known size and a recent enough (or unknown) compute capability, largest first."""
    floor = cc_tuple(min_cc) or (0, 0)
    found = []
    for gpu in hardware.get("gpus") or []:
        cap = cc_tuple(gpu.get("compute_capability"))
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
        notes.append(f"{gib_text(gpu['memory_mb'])} GB VRAM is below the {one_decimal(rec_gb)} GB recommended for profile {profile}")
    if gpu.get("compute_capability") is None:
        notes.append("its compute capability is unknown (driver older than 510?)")
    if gpu.get("unified_memory"):
        notes.append("it shares the system RAM (unified memory); the engine budget counts that memory once")
    return f"gpu: {gpu_label(gpu)}: " + "; ".join(notes) if notes else None


_SOURCE_HINTS = {
    "lspci": "found by lspci only: the NVIDIA driver is not loaded",
    "proc": "listed by the NVIDIA driver, but nvidia-smi did not answer",
    "nvidia-smi": "nvidia-smi reports its memory as [N/A]",
}


def _gpu_refusal(profile: str, hardware: dict[str, Any], usable: list[dict[str, Any]], min_gb: float,
                 rec_gb: float | None, tolerance: float, min_cc: str) -> str:
    """Why no GPU qualifies, naming the best GPU the host does have."""
    gpus = [g for g in hardware.get("gpus") or [] if g.get("vendor", "nvidia") == "nvidia"]
    rec = f" (recommended {one_decimal(rec_gb)} GB)" if rec_gb is not None else ""
    if usable:
        return _shortage("gpu", usable[0]["memory_mb"], f"{gpu_label(usable[0])} with ", profile, min_gb, rec_gb,
                         tolerance, noun=" VRAM")
    if not gpus:
        return f"gpu: has no NVIDIA GPU, profile {profile} needs one with at least {one_decimal(min_gb)} GB VRAM{rec}"
    old = [g for g in gpus if cc_tuple(g.get("compute_capability")) is not None
           and cc_tuple(g.get("compute_capability")) < (cc_tuple(min_cc) or (0, 0))]
    if old:
        gpu = old[0]
        return (f"gpu: has {gpu_label(gpu)} with compute capability {gpu['compute_capability']}, profile {profile} "
                f"needs at least {min_cc} (the oldest GPUs vLLM runs on)")
    gpu = gpus[0]
    hint = _SOURCE_HINTS.get(gpu.get("source", ""), "its memory was not reported")
    return (f"gpu: has {gpu_label(gpu)} but its VRAM is unknown ({hint}), profile {profile} needs at least "
            f"{one_decimal(min_gb)} GB VRAM; fix the driver or declare the GPU in edge_hw_override.gpus")


def profile_checks(profile: str, hardware: dict[str, Any], thresholds: dict[str, Any]) -> list[dict[str, Any]]:
    """All checks of one profile on one host."""
    limits = thresholds[profile]
    tolerance = thresholds["memory_tolerance_pct"]
    checks = [_memory_check(profile, limits, tolerance, memory_mb(hardware))]
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
    hardware = hardware_fact(hardware)
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
