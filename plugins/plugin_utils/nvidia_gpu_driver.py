# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The NVIDIA driver decision: keep a working driver, install the distribution's, or refuse.

Every refusal names the fix. Inputs are the ``edge_hardware`` fact (GPUs, running driver,
nvidia-smi's answer) and the ``nvidia_gpu_host`` fact (module, Secure Boot, headers, packages).
"""

from __future__ import annotations

from typing import Any, Optional

from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.nvidia_gpu_cuda import (
    CUDA_MIN_DRIVER,
    at_least,
    upstream_version,
)

#: What nvidia-smi prints when the user-space libraries were upgraded under a loaded module.
MISMATCH = "Driver/library version mismatch"

#: Where a distribution's driver packages live, for the "no candidate" fix.
REPO_FIX = {
    "Debian": "enable the contrib, non-free and non-free-firmware components in the host's apt sources",
    "Ubuntu": "enable the restricted component in the host's apt sources",
}


def newest_cuda_for(driver: Optional[str]) -> Optional[str]:
    """The newest CUDA minor in the table whose minimum driver ``driver`` satisfies."""
    fitting = [cuda for cuda, minimum in CUDA_MIN_DRIVER.items() if at_least(driver, minimum)]
    return max(fitting, key=lambda c: tuple(int(p) for p in c.split("."))) if fitting else None


def _too_old(host: str, what: str, version: str, ctx: dict[str, Any]) -> str:
    newest = newest_cuda_for(version)
    older = f"use an image built for CUDA {newest} or older (nvidia_gpu_cuda_version)" if newest \
        else "no CUDA version in the table runs on it"
    return (f"{host}: {what} {version} is older than {ctx['min_driver']}, the minimum NVIDIA driver for CUDA "
            f"{ctx['cuda_version']} (the vLLM image's CUDA; NVIDIA CUDA release notes). Fix: install a driver >= "
            f"{ctx['min_driver']} (variable nvidia_gpu_driver_packages; on Ubuntu nvidia_gpu_driver_branch), or "
            f"{older}")


def _unsigned(host: str, version: Optional[str]) -> str:
    return (f"{host}: Secure Boot is enabled and the installed nvidia kernel module {version or ''} is not signed: "
            f"the kernel will refuse to load it. Fix: sign it with a key enrolled in MOK (DKMS signs with "
            f"/var/lib/dkms/mok.pub once it is enrolled: mokutil --import /var/lib/dkms/mok.pub, reboot, confirm "
            f"in MokManager, then reinstall the driver), or disable Secure Boot in the firmware")


def _working_driver(hardware: dict[str, Any], host_facts: dict[str, Any], gpus: list[dict[str, Any]]) -> Optional[str]:
    for gpu in gpus:
        if gpu.get("driver"):
            return str(gpu["driver"])
    return (host_facts.get("module") or {}).get("loaded_version")


def _installed_driver(host_facts: dict[str, Any], packages: list[str]) -> Optional[str]:
    module = host_facts.get("module") or {}
    if module.get("present") and module.get("version"):
        return str(module["version"])
    for name in packages[:1]:
        installed = ((host_facts.get("packages") or {}).get(name) or {}).get("installed")
        if installed:
            return upstream_version(installed)
    return None


def _install_checks(host: str, hf: dict[str, Any], s: dict[str, Any], ctx: dict[str, Any],
                    refusals: list[str]) -> tuple[list[str], Optional[str]]:
    """The packages to install (driver, perhaps headers) and the driver version, or refusals."""
    packages = list(s["driver_packages"])
    main = packages[0] if packages else "(none)"
    known = hf.get("packages") or {}
    candidate = (known.get(main) or {}).get("candidate")
    missing = [name for name in packages or [main] if not (known.get(name) or {}).get("candidate")]
    fix = REPO_FIX.get(s.get("distribution") or "", "add a repository that provides it")
    if missing:
        refusals.append(f"{host}: the driver package(s) {', '.join(missing)} have no installation candidate in the "
                        f"configured apt repositories. Fix: {fix}, or set nvidia_gpu_driver_packages to packages "
                        f"that exist")
    if candidate and not at_least(candidate, ctx["min_driver"]):
        refusals.append(_too_old(host, f"the candidate of {main} (driver to install) is", candidate, ctx))
    release = hf.get("kernel_release") or "(unknown)"
    if not hf.get("kernel_headers"):
        headers = f"linux-headers-{release}"
        if not s["kernel_headers_install"]:
            refusals.append(f"{host}: the headers of the running kernel {release} are missing "
                            f"(/lib/modules/{release}/build): DKMS cannot build the nvidia module. Fix: install "
                            f"{headers}, or set nvidia_gpu_kernel_headers_install: true")
        elif not ((hf.get("packages") or {}).get(headers) or {}).get("candidate"):
            refusals.append(f"{host}: the headers of the running kernel {release} are missing and no package "
                            f"{headers} is available. Fix: upgrade to and boot the distribution's current kernel "
                            f"(its headers are packaged), then run again")
        else:
            packages.append(headers)
    if hf.get("secure_boot") == "enabled":
        enrolled = [key for key, state in (hf.get("mok_keys") or {}).items() if state == "enrolled"]
        if not enrolled:
            checked = ", ".join(sorted(hf.get("mok_keys") or {})) or "none found"
            refusals.append(f"{host}: Secure Boot is enabled and no module signing key is enrolled in MOK (keys "
                            f"checked: {checked}): the DKMS-built nvidia module would be unsigned and refused by "
                            f"the kernel. Fix: enroll DKMS's key (mokutil --import /var/lib/dkms/mok.pub, reboot, "
                            f"confirm in MokManager), or disable Secure Boot in the firmware")
    return packages, upstream_version(candidate)


def decide_driver(host: str, hardware: dict[str, Any], hf: dict[str, Any], s: dict[str, Any], ctx: dict[str, Any],
                  gpus: list[dict[str, Any]], refusals: list[str], notes: list[str]) -> dict[str, Any]:
    """``{action: keep|install|none, version, packages, reboot_pending, reason}``; refusals appended."""
    working = _working_driver(hardware, hf, gpus)
    smi_probe = str((hardware.get("probes") or {}).get("nvidia_smi") or "")
    if working:
        if not at_least(working, ctx["min_driver"]):
            refusals.append(_too_old(host, "the running NVIDIA driver", working, ctx))
        pending = MISMATCH in smi_probe
        reason = f"driver {working} is running; kept"
        if pending:
            reason += f"; nvidia-smi reports '{MISMATCH}': a reboot loads the newer module"
        return {"action": "keep", "version": working, "packages": [], "reboot_pending": pending, "reason": reason}
    installed = _installed_driver(hf, s["driver_packages"])
    if installed:
        module = hf.get("module") or {}
        if hf.get("secure_boot") == "enabled" and module.get("present") and not module.get("signer"):
            refusals.append(_unsigned(host, installed))
        if not at_least(installed, ctx["min_driver"]):
            refusals.append(_too_old(host, "the installed NVIDIA driver", installed, ctx))
        return {"action": "keep", "version": installed, "packages": [], "reboot_pending": True,
                "reason": f"driver {installed} is installed but not loaded; a reboot loads it"}
    if not s["driver_install"]:
        names = ", ".join(g.get("name") or "NVIDIA GPU" for g in gpus)
        refusals.append(f"{host}: {names} has no NVIDIA driver and nvidia_gpu_driver_install is false. Fix: install "
                        f"a driver >= {ctx['min_driver']} (CUDA {ctx['cuda_version']}), or set "
                        f"nvidia_gpu_driver_install: true to install {', '.join(s['driver_packages'])}")
        return {"action": "none", "version": None, "packages": [], "reboot_pending": False,
                "reason": "no driver; installing is not allowed"}
    packages, version = _install_checks(host, hf, s, ctx, refusals)
    if hf.get("secure_boot") == "unknown":
        notes.append("Secure Boot state unknown (no mokutil, no EFI variable): module signing not checked")
    return {"action": "install", "version": version, "packages": packages, "reboot_pending": True,
            "reason": f"no driver; the distribution's {', '.join(packages)} will be installed ({version}); "
                      f"a reboot loads it"}
