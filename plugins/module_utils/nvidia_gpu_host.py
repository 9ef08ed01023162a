# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Parsers for the GPU host prerequisites: Secure Boot, MOK keys, apt candidates, CDI specs.

Runs on the target (shipped with ``nvidia_gpu_host_facts``): standard library only, Python 3.6+
syntax. The GPU itself and the loaded driver are read by ``edge_hw_gpu`` (nvidia-smi,
``/proc/driver/nvidia``, lspci, Jetson); this file only adds what the driver and toolkit
decisions need on top of it.
"""

import re
from typing import Any, Dict, List, Optional

#: EFI variable holding the Secure Boot state (GUID of EFI_GLOBAL_VARIABLE).
SECURE_BOOT_EFIVAR = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"


def parse_mokutil_sb_state(text: str) -> Optional[str]:
    """``mokutil --sb-state`` -> ``enabled``, ``disabled``, ``unsupported`` (legacy BIOS) or None."""
    lowered = text.lower()
    if "secureboot enabled" in lowered:
        return "enabled"
    if "secureboot disabled" in lowered:
        return "disabled"
    if "doesn't support secure boot" in lowered or "efi variables are not supported" in lowered:
        return "unsupported"
    return None


def parse_secure_boot_efivar(data: bytes) -> Optional[str]:
    """The efivarfs file: 4 bytes of attributes, then one byte, 1 = Secure Boot enforcing."""
    if len(data) < 5:
        return None
    return "enabled" if data[4] == 1 else "disabled"


def parse_mokutil_test_key(text: str) -> Optional[bool]:
    """``mokutil --test-key KEY``: True when the key is enrolled, False when not, None otherwise."""
    if "is already enrolled" in text:
        return True
    if "is not enrolled" in text:
        return False
    return None


def _apt_version(value: str) -> Optional[str]:
    value = value.strip()
    return None if not value or value == "(none)" else value


def parse_apt_cache_policy(text: str) -> Dict[str, Dict[str, Optional[str]]]:
    """``apt-cache policy PKG...`` -> ``{pkg: {"installed": ver|None, "candidate": ver|None}}``.

    Packages apt has never heard of are not printed at all, so they are absent from the result.
    """
    packages = {}  # type: Dict[str, Dict[str, Optional[str]]]
    current = None  # type: Optional[Dict[str, Optional[str]]]
    for line in text.splitlines():
        header = re.match(r"^(\S+):\s*$", line)
        if header:
            current = {"installed": None, "candidate": None}
            packages[header.group(1)] = current
            continue
        field = re.match(r"^\s+(Installed|Candidate):\s*(.*)$", line)
        if field and current is not None:
            current[field.group(1).lower()] = _apt_version(field.group(2))
    return packages


#: Libraries of the driver that ``nvidia-ctk cdi generate`` mounts by their versioned file name.
_CDI_DRIVER_LIB = re.compile(r"lib(?:cuda|nvidia-ml)\.so\.(\d+\.\d+(?:\.\d+)?)\b")


def cdi_spec_driver_versions(text: str) -> List[str]:
    """Driver versions a CDI spec was generated for (from ``libcuda.so.<version>`` mounts)."""
    return sorted(set(_CDI_DRIVER_LIB.findall(text)))


def cdi_spec_kind(text: str) -> Optional[str]:
    """The ``kind:`` of a CDI spec (``nvidia.com/gpu``), None when the text is not one."""
    match = re.search(r"^kind:\s*\"?([^\"\s]+)\"?\s*$", text, re.MULTILINE)
    return match.group(1) if match else None


def parse_modinfo_field(text: str) -> Optional[str]:
    """``modinfo -F FIELD nvidia`` prints the value or nothing (an unsigned module has no signer)."""
    value = text.strip()
    return value or None


def host_facts_skeleton() -> Dict[str, Any]:
    """The shape of the ``nvidia_gpu_host`` fact with every value unknown."""
    return {
        "kernel_release": None,
        "kernel_headers": False,
        "secure_boot": "unknown",
        "secure_boot_source": None,
        "mok_keys": {},
        "module": {"present": False, "version": None, "signer": None, "loaded_version": None},
        "binaries": {},
        "cdi_spec": {"path": None, "exists": False, "kind": None, "driver_versions": []},
        "packages": {},
        "reboot_required": False,
        "probes": {},
        "simulated": [],
    }
