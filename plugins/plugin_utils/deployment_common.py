# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small helpers shared by the deployment decisions: units in messages, argument checks, fact access.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_tables import GIB_MB


def gib_text(mb: float, digits: int = 1) -> str:
    """MiB as GiB text with ``digits`` decimals: 3891 -> '3.8'."""
    return f"{mb / GIB_MB:.{digits}f}"


def size_pair(has_mb: float, need_mb: float) -> tuple[str, str]:
    """'3.4 GB', '3.6 GB'; in MB when one decimal of GB would print a shortfall as equal (3686 vs 3687 MB)."""
    if gib_text(has_mb) == gib_text(need_mb):
        return f"{math.floor(has_mb)} MB", f"{math.ceil(need_mb)} MB"
    return f"{gib_text(has_mb)} GB", f"{gib_text(need_mb)} GB"


def one_decimal(value: Any) -> str:
    """A threshold for messages: 4 -> '4.0', 4.5 -> '4.5'."""
    return f"{float(value):.1f}"


def cc_tuple(value: Any) -> tuple[int, int] | None:
    """Compute capability '8.6' -> (8, 6); None when unknown or malformed."""
    if value is None:
        return None
    try:
        major, _sep, minor = str(value).partition(".")
        return int(major), int(minor or 0)
    except ValueError:
        return None


def is_number(value: Any) -> bool:
    """True for int/float (not bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Dicts merge recursively, everything else is replaced; ``base`` is not modified."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def require_dict(name: str, value: Any) -> dict[str, Any]:
    """``value`` or {} when None; AnsibleFilterError when it is not a dict."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AnsibleFilterError(f"{name} must be a dict, got {type(value).__name__}: {value!r}")
    return value


def hardware_fact(hardware: Any) -> dict[str, Any]:
    """The ``edge_hardware`` fact, accepting the fact itself or ``ansible_facts``."""
    hardware = require_dict("hardware", hardware)
    if "edge_hardware" in hardware and isinstance(hardware["edge_hardware"], dict):
        hardware = hardware["edge_hardware"]
    return hardware


def memory_mb(hardware: dict[str, Any]) -> int | None:
    """Total RAM (MiB) or None."""
    return (hardware.get("memory") or {}).get("total_mb")


def gpu_label(gpu: dict[str, Any]) -> str:
    """'NVIDIA A10 (GPU 0)'."""
    return f"{gpu.get('name') or 'NVIDIA GPU'} (GPU {gpu.get('index', '?')})"
