# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the nvidia_gpu role does on one host: skip, refuse, only show a plan, or apply it.

``nvidia_gpu_plan(hardware, host_facts, settings)`` is pure: it reads the ``edge_hardware``
fact, the ``nvidia_gpu_host`` fact and the role's settings, and returns every decision with its
reason (driver, container toolkit, Docker's ``nvidia`` runtime, CDI spec, reboot).
"""

from __future__ import annotations

import json
from typing import Any, Optional

from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.nvidia_gpu_cuda import min_driver_for_cuda
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.nvidia_gpu_driver import decide_driver

CONTROL_NODE_NAMES = ("localhost", "127.0.0.1", "::1")
REBOOT_POLICIES = ("never", "if_needed")
SIMULATED_GPU_MODES = ("plan", "apply")
#: The runtime entry Docker gets (the binary the NVIDIA Container Toolkit installs).
RUNTIME_ENTRY = {"path": "nvidia-container-runtime", "runtimeArgs": []}

DEFAULTS: dict[str, Any] = {
    "host": "host", "connection": "ssh", "allow_control_node": False, "os_family": "Debian",
    "distribution": "Debian", "cuda_version": "12.8", "min_driver_version": "", "driver_install": True,
    "driver_packages": ["nvidia-driver"], "kernel_headers_install": False, "toolkit_install": True,
    "toolkit_source": "nvidia_repo", "toolkit_packages": ["nvidia-container-toolkit"], "docker_runtime": True,
    "cdi_generate": True, "reboot_policy": "never", "simulated_gpu": "plan",
}


def control_node_refusal(host: str, connection: Optional[str], allowed: bool = False) -> Optional[str]:
    """A refusal message when ``host`` is the control node (and that is not allowed), else None."""
    if allowed or not (host in CONTROL_NODE_NAMES or connection == "local"):
        return None
    return (f"{host}: nvidia_gpu changes drivers, packages and Docker's configuration and must not run on the "
            f"control node (host {host}, ansible_connection={connection}). Fix: target the GPU servers (group "
            f"gpu_servers), or set nvidia_gpu_allow_control_node: true if this machine really is one")


def nvidia_gpus(hardware: dict[str, Any]) -> list[dict[str, Any]]:
    """The NVIDIA GPUs of the ``edge_hardware`` fact (vendor nvidia or not stated)."""
    return [g for g in hardware.get("gpus") or [] if (g.get("vendor") or "nvidia") == "nvidia"]


def _skip(plan: dict[str, Any], reason: str) -> dict[str, Any]:
    plan.update(action="skip", reason=reason, summary=f"{plan['host']}: nothing to do: {reason}")
    return plan


def _toolkit(hf: dict[str, Any], s: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    binaries = hf.get("binaries") or {}
    if binaries.get("nvidia-ctk") and binaries.get("nvidia-container-runtime"):
        installed = ((hf.get("packages") or {}).get("nvidia-container-toolkit") or {}).get("installed")
        return {"action": "keep", "packages": [], "version": installed,
                "reason": f"nvidia-ctk is at {binaries['nvidia-ctk']}; kept"}
    if s["toolkit_install"]:
        where = "NVIDIA's apt repository" if s["toolkit_source"] == "nvidia_repo" else "the configured apt repositories"
        return {"action": "install", "packages": list(s["toolkit_packages"]), "version": None,
                "reason": f"not installed; {', '.join(s['toolkit_packages'])} from {where}"}
    notes.append("the NVIDIA Container Toolkit is not installed and nvidia_gpu_toolkit_install is false: "
                 "containers started with Docker's nvidia runtime fail until nvidia-container-runtime exists")
    return {"action": "none", "packages": [], "version": None, "reason": "not installed; installing is off"}


def _runtime(host: str, hf: dict[str, Any], s: dict[str, Any], refusals: list[str]) -> dict[str, Any]:
    if not s["docker_runtime"]:
        return {"action": "none", "entry": None, "reason": "nvidia_gpu_docker_runtime is false"}
    if not (hf.get("binaries") or {}).get("dockerd"):
        refusals.append(f"{host}: Docker is not installed (no dockerd), so its nvidia runtime cannot be registered. "
                        f"Fix: run edgeai.slm_fleet.container_runtime before nvidia_gpu, or set "
                        f"nvidia_gpu_docker_runtime: false")
    return {"action": "register", "entry": dict(RUNTIME_ENTRY),
            "reason": "runtimes.nvidia merged into daemon.json (other runtimes and keys kept)"}


def _cdi(hf: dict[str, Any], s: dict[str, Any], driver: dict[str, Any], toolkit: dict[str, Any]) -> dict[str, Any]:
    spec = hf.get("cdi_spec") or {}
    if not s["cdi_generate"]:
        return {"action": "none", "reason": "nvidia_gpu_cdi_generate is false"}
    if toolkit["action"] == "none":
        return {"action": "none", "reason": "no NVIDIA Container Toolkit (nvidia-ctk) to generate it"}
    if driver["reboot_pending"]:
        return {"action": "defer", "reason": "the driver is not loaded yet: generated on the first run after the reboot"}
    if not spec.get("exists"):
        return {"action": "generate", "reason": f"{spec.get('path') or 'the spec'} is missing"}
    seen = spec.get("driver_versions") or []
    if driver.get("version") and driver["version"] not in seen:
        return {"action": "generate", "reason": f"the spec was generated for driver {', '.join(seen) or 'unknown'}, "
                                                f"the driver is {driver['version']}"}
    if toolkit["action"] == "install":
        return {"action": "generate", "reason": "the toolkit is installed in this run"}
    return {"action": "keep", "reason": f"the spec matches driver {driver.get('version')}"}


def reboot_decision(pending: bool, policy: str, reason: str = "") -> dict[str, Any]:
    """``{pending, action: reboot|report|none, reason}`` for a reboot policy."""
    if not pending:
        return {"pending": False, "action": "none", "reason": "no reboot needed"}
    action = "reboot" if policy == "if_needed" else "report"
    how = "rebooting now (nvidia_gpu_reboot_policy: if_needed)" if action == "reboot" else \
        "reboot pending: not rebooted (nvidia_gpu_reboot_policy: never); reboot the host, then run again"
    return {"pending": True, "action": action, "reason": f"{reason}; {how}" if reason else how}


def _summary(plan: dict[str, Any]) -> str:
    parts = [f"driver: {plan['driver']['action']} ({plan['driver']['reason']})",
             f"toolkit: {plan['toolkit']['action']}", f"docker runtime: {plan['runtime']['action']}",
             f"CDI spec: {plan['cdi']['action']}", f"reboot: {plan['reboot']['action']}"]
    gpus = ", ".join(plan["gpus"]) + (" (simulated)" if plan["simulated"] else "")
    return f"{plan['host']}: {gpus}: " + "; ".join(parts)


def nvidia_gpu_plan(hardware: dict[str, Any], host_facts: Optional[dict[str, Any]] = None,
                    settings: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """Every decision of the role for one host (see the module docstring)."""
    hardware = (hardware or {}).get("edge_hardware", hardware or {})
    hf = host_facts or {}
    s = dict(DEFAULTS, **(settings or {}))
    host = s["host"]
    plan: dict[str, Any] = {"host": host, "action": "apply", "reason": "", "gpus": [], "simulated": False,
                            "refusals": [], "notes": [], "cuda_version": s["cuda_version"], "min_driver": None}
    refused = control_node_refusal(host, s["connection"], s["allow_control_node"])
    if refused:
        plan.update(action="refuse", reason=refused, refusals=[refused], summary=refused)
        return plan
    jetson = hardware.get("jetson")
    if jetson:
        return _skip(plan, f"Jetson board ({jetson.get('model') or 'Tegra'}, L4T {jetson.get('l4t_release') or '?'}): "
                           f"driver and container runtime ship with JetPack and are left as shipped")
    gpus = nvidia_gpus(hardware)
    if not gpus:
        probes = hardware.get("probes") or {}
        seen = ", ".join(f"{k}: {probes[k]}" for k in ("nvidia_smi", "lspci") if probes.get(k))
        return _skip(plan, "no NVIDIA GPU" + (f" ({seen})" if seen else ""))
    plan["gpus"] = [g.get("name") or "NVIDIA GPU" for g in gpus]
    plan["simulated"] = any(k == "gpus" or k.startswith("gpus.") for k in hardware.get("simulated") or [])
    plan["host_simulated"] = list(hf.get("simulated") or [])
    refusals, notes = plan["refusals"], plan["notes"]
    if s["os_family"] != "Debian":
        refusals.append(f"{host}: nvidia_gpu supports the Debian OS family (Debian, Ubuntu), this host reports "
                        f"os_family={s['os_family']}. Fix: install the driver and toolkit with the distribution's "
                        f"own tooling, and leave this host out of the role")
    try:
        plan["min_driver"] = min_driver_for_cuda(s["cuda_version"], s["min_driver_version"])
    except ValueError as exc:
        plan.update(action="refuse", reason=f"{host}: {exc}", refusals=[f"{host}: {exc}"])
        plan["summary"] = plan["reason"]
        return plan
    ctx = {"min_driver": plan["min_driver"], "cuda_version": s["cuda_version"]}
    plan["driver"] = decide_driver(host, hardware, hf, s, ctx, gpus, refusals, notes)
    plan["toolkit"] = _toolkit(hf, s, notes)
    plan["runtime"] = _runtime(host, hf, s, refusals)
    plan["cdi"] = _cdi(hf, s, plan["driver"], plan["toolkit"])
    plan["reboot"] = reboot_decision(plan["driver"]["reboot_pending"], s["reboot_policy"], plan["driver"]["reason"])
    if hf.get("reboot_required") and not plan["reboot"]["pending"]:
        notes.append("the host already waits for a reboot (/var/run/reboot-required) for other packages: "
                     "nvidia_gpu does not reboot for them")
    plan["summary"] = _summary(plan)
    if plan["simulated"] and s["simulated_gpu"] == "plan":
        # Nothing is done to a simulated GPU, so its refusals are reported, not enforced.
        plan.update(action="plan_only", reason="the GPU is simulated (edge_hw_override): plan shown, nothing changed "
                                               "(nvidia_gpu_simulated_gpu: apply acts on it)")
    elif refusals:
        plan.update(action="refuse", reason="; ".join(refusals))
    else:
        plan["reason"] = "applying the plan"
    return plan


def daemon_runtimes(daemon_json: Any, entry: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The ``runtimes`` value for daemon.json: the file's runtimes with ``nvidia`` merged in.

    ``daemon_json`` is the parsed file or its text (None / "" when it does not exist); runtimes
    that other tools registered (``crun``, ``sysbox-runc``...) are kept as they are. Text that is
    not JSON yields only ``nvidia``: the docker_daemon_json module then refuses the file itself.
    """
    if isinstance(daemon_json, str):
        try:
            daemon_json = json.loads(daemon_json) if daemon_json.strip() else {}
        except ValueError:
            daemon_json = {}
    current = daemon_json if isinstance(daemon_json, dict) else {}
    runtimes = current.get("runtimes") if isinstance(current.get("runtimes"), dict) else {}
    return dict(runtimes, nvidia=dict(entry or RUNTIME_ENTRY))
