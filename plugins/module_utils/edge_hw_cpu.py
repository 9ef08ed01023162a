# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""CPU and memory of an edge host: ``/proc/cpuinfo`` and ``/proc/meminfo`` parsers.

Runs on the target (shipped with ``edge_hardware_facts``): standard library only, Python 3.6+ syntax.
"""

import re
from typing import Any, Dict, Iterable, List, Optional, Sequence


#: ``CPU implementer`` codes (MIDR_EL1 bits 31:24), as in the kernel's arch/arm64 cputype.h.
ARM_IMPLEMENTERS = {
    0x41: "ARM",
    0x42: "Broadcom",
    0x43: "Cavium",
    0x46: "Fujitsu",
    0x48: "HiSilicon",
    0x4E: "NVIDIA",
    0x50: "APM",
    0x51: "Qualcomm",
    0x61: "Apple",
    0x6D: "Microsoft",
    0xC0: "Ampere",
}

#: ``(implementer, CPU part)`` -> core name, for the cores found on edge boards and ARM servers.
ARM_PARTS = {
    (0x41, 0xD03): "Cortex-A53",  # Raspberry Pi 3, many gateways
    (0x41, 0xD04): "Cortex-A35",
    (0x41, 0xD05): "Cortex-A55",  # RK3588 little cores
    (0x41, 0xD07): "Cortex-A57",  # Jetson Nano / TX1 / TX2
    (0x41, 0xD08): "Cortex-A72",  # Raspberry Pi 4
    (0x41, 0xD09): "Cortex-A73",
    (0x41, 0xD0A): "Cortex-A75",
    (0x41, 0xD0B): "Cortex-A76",  # Raspberry Pi 5, RK3588 big cores
    (0x41, 0xD0C): "Neoverse-N1",  # AWS Graviton2, Ampere Altra
    (0x41, 0xD0D): "Cortex-A77",
    (0x41, 0xD0E): "Cortex-A76AE",
    (0x41, 0xD40): "Neoverse-V1",  # AWS Graviton3
    (0x41, 0xD41): "Cortex-A78",
    (0x41, 0xD42): "Cortex-A78AE",  # Jetson Orin
    (0x41, 0xD44): "Cortex-X1",
    (0x41, 0xD46): "Cortex-A510",
    (0x41, 0xD47): "Cortex-A710",
    (0x41, 0xD48): "Cortex-X2",
    (0x41, 0xD49): "Neoverse-N2",
    (0x41, 0xD4F): "Neoverse-V2",  # AWS Graviton4, NVIDIA Grace
    (0x41, 0xD80): "Cortex-A520",
    (0x41, 0xD81): "Cortex-A720",
    (0x41, 0xD84): "Neoverse-V3",
    (0x41, 0xD8E): "Neoverse-N3",
    (0x4E, 0x004): "Carmel",  # Jetson Xavier
    (0xC0, 0xAC3): "AmpereOne",
}

X86_VENDORS = {
    "GenuineIntel": "Intel",
    "AuthenticAMD": "AMD",
    "HygonGenuine": "Hygon",
    "CentaurHauls": "Centaur",
}

#: Normalised flag -> raw ``/proc/cpuinfo`` flags (x86 ``flags`` or ARM ``Features``) that imply it.
CPU_FLAG_SOURCES = (
    ("avx2", ("avx2",)),
    ("avx512f", ("avx512f",)),
    ("avx512_vnni", ("avx512_vnni",)),
    ("avx512_bf16", ("avx512_bf16",)),
    ("avx_vnni", ("avx_vnni",)),
    ("amx", ("amx_tile", "amx_int8", "amx_bf16")),
    ("neon", ("asimd", "neon")),
    ("sve", ("sve",)),
    ("dotprod", ("asimddp",)),
    ("i8mm", ("i8mm",)),
)

#: The normalised flags this module can report, in a stable order.
KNOWN_CPU_FLAGS = tuple(name for name, _raw in CPU_FLAG_SOURCES)


def _split_blocks(text: str) -> List[Dict[str, str]]:
    """Split ``key : value`` text separated by blank lines into dicts (first value of a key wins)."""
    blocks = []  # type: List[Dict[str, str]]
    current = {}  # type: Dict[str, str]
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        if ":" not in line:
            continue
        key, _sep, value = line.partition(":")
        key = key.strip()
        if key and key not in current:
            current[key] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def int_or_none(value: Optional[str], base: int = 10) -> Optional[int]:
    """``int(value, base)`` or None when value is missing or not a number."""
    if value is None:
        return None
    try:
        return int(value.strip(), base)
    except ValueError:
        return None


def normalize_cpu_flags(raw_flags: Iterable[str]) -> List[str]:
    """Map raw cpuinfo flags/features to the normalised names in ``KNOWN_CPU_FLAGS``."""
    raw = set(raw_flags)
    return [name for name, sources in CPU_FLAG_SOURCES if raw.intersection(sources)]


def arm_core_name(implementer: Optional[int], part: Optional[int]) -> Optional[str]:
    """Human name of an ARM core, e.g. ``ARM Cortex-A72``; a hex fallback for unknown parts."""
    if implementer is None or part is None:
        return None
    vendor = ARM_IMPLEMENTERS.get(implementer, "implementer 0x%02x" % implementer)
    core = ARM_PARTS.get((implementer, part))
    if core is None:
        return "%s part 0x%03x" % (vendor, part)
    return "%s %s" % (vendor, core)


def _cpu_arch_hint(first: Dict[str, str], raw_flags: Sequence[str]) -> Optional[str]:
    """Guess the kernel architecture from cpuinfo alone (used when ``uname`` is not the host's)."""
    if "vendor_id" in first or "flags" in first:
        return "x86_64" if "lm" in raw_flags else "i686"
    arch = first.get("CPU architecture", "")
    if arch.startswith("8") or arch.lower() == "aarch64":
        # A 32-bit kernel on an ARMv8 core (Raspberry Pi OS armhf) prints "model name: ARMv7".
        if first.get("model name", "").startswith("ARMv7"):
            return "armv7l"
        return "aarch64"
    if arch.startswith("7"):
        return "armv7l"
    return None


def parse_cpuinfo(text: str) -> Dict[str, Any]:
    """Parse ``/proc/cpuinfo`` (x86 and ARM).

    Returns ``model``, ``vendor``, ``sockets``, ``cores`` (physical), ``threads`` (logical),
    ``flags`` (normalised), ``hypervisor`` (x86 ``hypervisor`` flag), ``board`` (the
    ``Model`` line Raspberry Pi kernels append) and ``arch_hint``. Unknown values are None.

    x86 counts sockets as distinct ``physical id`` and cores as distinct
    ``(physical id, core id)``; without those (some hypervisors) it falls back to
    ``cpu cores`` per socket, then to the thread count. arm64 kernels print no topology here,
    and ARM edge cores have no SMT, so cores = threads and sockets = 1.
    """
    blocks = _split_blocks(text)
    procs = [b for b in blocks if b.get("processor", "").isdigit()]
    # Board lines (Raspberry Pi: Hardware, Revision, Serial, Model) follow the last processor,
    # usually after a blank line; take them from whichever block holds them.
    extras = {}  # type: Dict[str, str]
    for block in blocks:
        for key in ("Hardware", "Revision", "Model"):
            if key in block:
                extras.setdefault(key, block[key])
    if not procs:
        return {
            "model": None, "vendor": None, "sockets": None, "cores": None, "threads": None,
            "flags": [], "hypervisor": False, "board": extras.get("Model"), "arch_hint": None,
        }
    first = procs[0]
    raw_flags = (first.get("flags") or first.get("Features") or "").split()
    threads = len(procs)
    result = {
        "threads": threads,
        "flags": normalize_cpu_flags(raw_flags),
        "hypervisor": "hypervisor" in raw_flags,
        "board": extras.get("Model"),
        "arch_hint": _cpu_arch_hint(first, raw_flags),
    }  # type: Dict[str, Any]
    if "vendor_id" in first:
        result.update(_x86_identity(first))
        result.update(_x86_topology(procs, threads))
    else:
        result.update(_arm_identity(procs, extras))
        result["sockets"] = len({b["physical id"] for b in procs if "physical id" in b}) or 1
        result["cores"] = threads
    return result


def _x86_identity(first: Dict[str, str]) -> Dict[str, Any]:
    """Model and vendor from the first x86 processor block."""
    vendor_id = first.get("vendor_id", "")
    model = re.sub(r"\s+", " ", first.get("model name", "")).strip() or None
    return {"model": model, "vendor": X86_VENDORS.get(vendor_id, vendor_id or None)}


def _x86_topology(procs: List[Dict[str, str]], threads: int) -> Dict[str, Any]:
    """Sockets and physical cores from ``physical id`` / ``core id`` / ``cpu cores``."""
    sockets = {b["physical id"] for b in procs if "physical id" in b}
    core_keys = {(b.get("physical id"), b["core id"]) for b in procs if "core id" in b}
    n_sockets = len(sockets) or 1
    if core_keys:
        cores = len(core_keys)
    else:
        per_socket = int_or_none(procs[0].get("cpu cores"))
        cores = per_socket * n_sockets if per_socket else threads
    return {"sockets": n_sockets, "cores": min(cores, threads)}


def _arm_identity(procs: List[Dict[str, str]], extras: Dict[str, str]) -> Dict[str, Any]:
    """Model (core names, big.LITTLE joined with ' + ') and vendor for ARM."""
    names = []  # type: List[str]
    vendor = None
    for block in procs:
        implementer = int_or_none(block.get("CPU implementer"), 16)
        part = int_or_none(block.get("CPU part"), 16)
        name = arm_core_name(implementer, part)
        if vendor is None and implementer is not None:
            vendor = ARM_IMPLEMENTERS.get(implementer, "0x%02x" % implementer)
        if name and name not in names:
            names.append(name)
    model = " + ".join(names) if names else None
    if model is None:
        model = procs[0].get("model name") or extras.get("Hardware")
    return {"model": model, "vendor": vendor}


def parse_meminfo(text: str) -> Dict[str, Any]:
    """Parse ``/proc/meminfo`` into ``total_mb`` and ``available_mb`` (MiB).

    Kernels before 3.14 have no ``MemAvailable``: it is then estimated as
    MemFree + Buffers + Cached + SReclaimable, and ``available_source`` says ``estimate``.
    """
    values = {}  # type: Dict[str, int]
    for line in text.splitlines():
        match = re.match(r"^(\w+(?:\(\w+\))?):\s+(\d+)(?:\s+kB)?\s*$", line.strip())
        if match:
            values[match.group(1)] = int(match.group(2))
    total = values.get("MemTotal")
    if "MemAvailable" in values:
        available = values["MemAvailable"]  # type: Optional[int]
        source = "MemAvailable"  # type: Optional[str]
    elif total is not None and "MemFree" in values:
        available = sum(values.get(k, 0) for k in ("MemFree", "Buffers", "Cached", "SReclaimable"))
        available = min(available, total)
        source = "estimate"
    else:
        available, source = None, None
    return {
        "total_mb": total // 1024 if total is not None else None,
        "available_mb": available // 1024 if available is not None else None,
        "available_source": source,
    }
