# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``edge_hw_override``: merging an inventory's simulated hardware over the detected facts.

Runs on the target (shipped with ``edge_hardware_facts``): standard library only, Python 3.6+ syntax.
"""

import copy
from typing import Any, Dict, List, Optional, Sequence


class OverrideError(ValueError):
    """An ``edge_hw_override`` that cannot be applied (unknown key, wrong type)."""


#: Top-level keys of the fact that an override may set, and the keys allowed below dict sections.
OVERRIDE_SCHEMA = {
    "arch": None,
    "board": None,
    "os": ("id", "family", "version_id", "codename", "pretty_name"),
    "cpu": ("model", "vendor", "sockets", "cores", "threads", "flags"),
    "memory": ("total_mb", "available_mb"),
    "disk": ("path", "mount", "total_mb", "free_mb"),
    "gpus": None,
    "jetson": ("model", "l4t_release"),
    "virtualization": ("container", "vm"),
}

GPU_KEYS = ("index", "name", "vendor", "memory_mb", "driver", "compute_capability", "unified_memory", "source")

_INT_KEYS = ("sockets", "cores", "threads", "total_mb", "available_mb", "free_mb", "memory_mb", "index")


def _check_int(path: str, value: Any) -> None:
    """Raise OverrideError unless ``value`` is a non-negative integer (or None)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise OverrideError("edge_hw_override: '%s' must be a non-negative integer, got %r" % (path, value))


def normalize_override_gpus(gpus: Any) -> List[Dict[str, Any]]:
    """Validate an override's ``gpus`` list and fill the keys it leaves out."""
    if not isinstance(gpus, list):
        raise OverrideError("edge_hw_override: 'gpus' must be a list of GPUs (use [] for none), got %r" % (gpus,))
    result = []
    for position, gpu in enumerate(gpus):
        if not isinstance(gpu, dict):
            raise OverrideError("edge_hw_override: gpus[%d] must be a dict, got %r" % (position, gpu))
        unknown = sorted(set(gpu) - set(GPU_KEYS))
        if unknown:
            raise OverrideError(
                "edge_hw_override: unknown key 'gpus[%d].%s'; allowed keys in a GPU: %s"
                % (position, unknown[0], ", ".join(GPU_KEYS))
            )
        entry = {
            "index": position, "name": "simulated GPU", "vendor": "nvidia", "memory_mb": None,
            "driver": None, "compute_capability": None, "unified_memory": False, "source": "override",
        }
        entry.update(gpu)
        for key in ("memory_mb", "index"):
            _check_int("gpus[%d].%s" % (position, key), entry[key])
        if entry["compute_capability"] is not None:
            entry["compute_capability"] = str(entry["compute_capability"])
        result.append(entry)
    return result


def apply_override(facts: Dict[str, Any], override: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Deep-merge ``override`` over detected ``facts`` and record what it changed in ``simulated``.

    Dicts merge key by key; lists (``gpus``, ``cpu.flags``) and scalars are replaced whole.
    Each replaced leaf or list is listed in ``simulated`` as a dotted key (``memory.total_mb``,
    ``gpus``). When ``memory.total_mb`` is simulated and ``available_mb`` is not, the detected
    available memory is capped at the simulated total and ``memory.available_mb`` is listed too,
    since it no longer is the measured value. Unknown keys raise ``OverrideError``.
    """
    merged = copy.deepcopy(facts)
    simulated = list(merged.get("simulated") or [])
    if not override:
        merged["simulated"] = simulated
        return merged
    if not isinstance(override, dict):
        raise OverrideError("edge_hw_override must be a dict, got %r" % (override,))
    for key in sorted(override):
        if key not in OVERRIDE_SCHEMA:
            raise OverrideError(
                "edge_hw_override: unknown key '%s'; allowed keys: %s" % (key, ", ".join(sorted(OVERRIDE_SCHEMA)))
            )
        value = override[key]
        allowed = OVERRIDE_SCHEMA[key]
        if key == "gpus":
            merged["gpus"] = normalize_override_gpus(value)
            simulated.append("gpus")
        elif allowed is None or value is None:
            merged[key] = value
            simulated.append(key)
        else:
            merged[key] = _merge_section(key, merged.get(key), value, allowed, simulated)
    _cap_available_memory(merged, override, simulated)
    _mark_override_sources(merged, override)
    merged["simulated"] = sorted(set(simulated))
    return merged


def _mark_override_sources(merged: Dict[str, Any], override: Dict[str, Any]) -> None:
    """Say ``override`` in ``virtualization.*_source`` for the values the override set."""
    virt_override = override.get("virtualization") or {}
    virtualization = merged.get("virtualization")
    if isinstance(virtualization, dict):
        for key in ("container", "vm"):
            if key in virt_override:
                virtualization[key + "_source"] = "override"


def _merge_section(key: str, base: Any, value: Any, allowed: Sequence[str], simulated: List[str]) -> Dict[str, Any]:
    """Merge one dict section of the override (``memory``, ``cpu``...) over the detected one."""
    if not isinstance(value, dict):
        raise OverrideError("edge_hw_override: '%s' must be a dict (or null), got %r" % (key, value))
    section = dict(base) if isinstance(base, dict) else {}
    for sub in sorted(value):
        if sub not in allowed:
            raise OverrideError(
                "edge_hw_override: unknown key '%s.%s'; allowed keys under '%s': %s"
                % (key, sub, key, ", ".join(sorted(allowed)))
            )
        if sub in _INT_KEYS:
            _check_int("%s.%s" % (key, sub), value[sub])
        if key == "cpu" and sub == "flags":
            if not isinstance(value[sub], list):
                raise OverrideError("edge_hw_override: 'cpu.flags' must be a list, got %r" % (value[sub],))
        section[sub] = value[sub]
        simulated.append("%s.%s" % (key, sub))
    return section


def _cap_available_memory(merged: Dict[str, Any], override: Dict[str, Any], simulated: List[str]) -> None:
    """Keep ``available_mb <= total_mb`` when only the total was simulated."""
    mem_override = override.get("memory") or {}
    memory = merged.get("memory") or {}
    if "total_mb" in mem_override and "available_mb" not in mem_override:
        total, available = memory.get("total_mb"), memory.get("available_mb")
        if total is not None and (available is None or available > total):
            memory["available_mb"] = total
            simulated.append("memory.available_mb")
