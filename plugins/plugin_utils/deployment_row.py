# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""OS support and the flat plan row per host (``slm_os_check``, ``slm_plan_row``).
"""

from __future__ import annotations

from typing import Any

from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_common import (
    gib_text,
    require_dict,
    hardware_fact,
    memory_mb,
)
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_tables import GIB_MB, DEFAULT_SUPPORTED_OS


def _version_tuple(value: Any) -> tuple[int, ...] | None:
    """'22.04' -> (22, 4); None when not numeric."""
    try:
        return tuple(int(part) for part in str(value).split("."))
    except ValueError:
        return None


def slm_os_check(hardware: Any, supported: Any = None) -> dict[str, Any]:
    """Whether the host's OS is supported: ``supported`` maps os-release IDs to minimum VERSION_IDs."""
    hardware = hardware_fact(hardware)
    table = {str(k): str(v) for k, v in require_dict("supported", supported).items()} or DEFAULT_SUPPORTED_OS
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
    hardware = hardware_fact(hardware)
    profile = require_dict("profile_result", profile_result)
    plan = require_dict("engine_plan", engine_plan)
    os_check = require_dict("os_result", os_result)
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
        "ram_gb": round(memory_mb(hardware) / GIB_MB, 1) if memory_mb(hardware) is not None else None,
        "gpu": ", ".join(f"{g.get('name')} {gib_text(g['memory_mb'])} GB" if g.get("memory_mb") else f"{g.get('name')} ? GB"
                         for g in gpus) or "-",
        "disk_free_gb": round(hardware["disk"]["free_mb"] / GIB_MB, 1)
        if (hardware.get("disk") or {}).get("free_mb") is not None else None,
        "profile": profile.get("profile"),
        "engine": plan.get("engine"),
        "quantization": plan.get("quantization"),
        "memory_budget": f"{gib_text(budget['total_mb'])}/{gib_text(budget['host_mb'])} GB {budget['against']}" if budget else "-",
        "verdict": "ok" if all(v == "ok" for v in verdicts) else "refused",
        "reasons": reasons,
        "warnings": list(profile.get("warnings") or []),
        "simulated": list(hardware.get("simulated") or []),
    }
