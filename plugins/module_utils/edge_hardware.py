# -*- coding: utf-8 -*-
# Copyright (c) edgeai.slm_fleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hardware discovery for edge hosts: pure parsers plus one collector.

This file runs on the *target* host (it is shipped with the
``edgeai.slm_fleet.edge_hardware_facts`` module), so it uses the standard library only and
Python 3.6+ syntax: ``typing`` generics, no walrus operator, no dataclasses, no
``from __future__ import annotations``. ansible-core 2.17+ needs Python 3.7+ on targets anyway.

Every ``parse_*`` function takes the text of one file or one command output and returns plain
data; none of them reads the file system or raises on odd input. ``collect()`` is the only
function that touches the host: it reads files below a root directory (``/`` in production, a
fixture tree in tests or a mounted image), runs the few commands it is given, and assembles the
``edge_hardware`` fact. ``apply_override()`` merges the inventory's ``edge_hw_override`` over it.

Sizes are MiB throughout (``*_mb`` keys); ``/proc/meminfo`` kB are KiB.
"""

import copy
import errno
import os
import re
import subprocess
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

# ---------------------------------------------------------------------------------------------
# CPU
# ---------------------------------------------------------------------------------------------

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


def _int_or_none(value: Optional[str], base: int = 10) -> Optional[int]:
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
        per_socket = _int_or_none(procs[0].get("cpu cores"))
        cores = per_socket * n_sockets if per_socket else threads
    return {"sockets": n_sockets, "cores": min(cores, threads)}


def _arm_identity(procs: List[Dict[str, str]], extras: Dict[str, str]) -> Dict[str, Any]:
    """Model (core names, big.LITTLE joined with ' + ') and vendor for ARM."""
    names = []  # type: List[str]
    vendor = None
    for block in procs:
        implementer = _int_or_none(block.get("CPU implementer"), 16)
        part = _int_or_none(block.get("CPU part"), 16)
        name = arm_core_name(implementer, part)
        if vendor is None and implementer is not None:
            vendor = ARM_IMPLEMENTERS.get(implementer, "0x%02x" % implementer)
        if name and name not in names:
            names.append(name)
    model = " + ".join(names) if names else None
    if model is None:
        model = procs[0].get("model name") or extras.get("Hardware")
    return {"model": model, "vendor": vendor}


# ---------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# NVIDIA GPUs
# ---------------------------------------------------------------------------------------------

#: Fields asked from ``nvidia-smi --query-gpu``; ``compute_cap`` needs driver >= 510.
NVIDIA_SMI_FIELDS = ("index", "name", "memory.total", "driver_version", "compute_cap")
NVIDIA_SMI_FIELDS_LEGACY = ("index", "name", "memory.total", "driver_version")
_NA_VALUES = ("[N/A]", "N/A", "[Not Supported]", "[Unknown Error]", "[Insufficient Permissions]", "")


def nvidia_smi_argv(binary: str, fields: Sequence[str] = NVIDIA_SMI_FIELDS) -> List[str]:
    """The nvidia-smi command line whose output ``parse_nvidia_smi`` reads."""
    return [binary, "--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits"]


def _na(value: str) -> Optional[str]:
    """None for nvidia-smi's placeholders (``[N/A]``, ``[Not Supported]``...), else the value."""
    value = value.strip()
    return None if value in _NA_VALUES else value


def _mib(value: Optional[str]) -> Optional[int]:
    """``'15360'`` or ``'15360 MiB'`` -> 15360; None when absent or not a number."""
    if value is None:
        return None
    match = re.match(r"^(\d+(?:\.\d+)?)\s*(MiB)?$", value.strip())
    return int(float(match.group(1))) if match else None


def parse_nvidia_smi(text: str, fields: Sequence[str] = NVIDIA_SMI_FIELDS) -> List[Dict[str, Any]]:
    """Parse ``nvidia-smi --query-gpu=... --format=csv,noheader,nounits`` output.

    Lines that do not have exactly one value per field (error messages such as
    ``NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver`` or
    ``No devices were found``) are ignored, so error text yields an empty list.
    ``[N/A]`` values become None (unified-memory systems report ``memory.total`` as ``[N/A]``).
    """
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != len(fields):
            continue
        row = dict(zip(fields, parts))
        index = _int_or_none(_na(row.get("index", "")))
        if index is None:
            continue
        cap = _na(row.get("compute_cap", ""))
        gpus.append({
            "index": index,
            "name": _na(row.get("name", "")),
            "vendor": "nvidia",
            "memory_mb": _mib(_na(row.get("memory.total", ""))),
            "driver": _na(row.get("driver_version", "")),
            "compute_capability": cap if cap and re.match(r"^\d+\.\d+$", cap) else None,
            "unified_memory": False,
            "source": "nvidia-smi",
        })
    return gpus


def nvidia_smi_error(rc: int, out: str, err: str, fields: Sequence[str] = NVIDIA_SMI_FIELDS) -> Optional[str]:
    """One line explaining why nvidia-smi gave no GPU, or None when it listed some."""
    if rc == 0 and parse_nvidia_smi(out, fields):
        return None
    text = " ".join((err.strip() + " " + out.strip()).split())
    return "rc=%d: %s" % (rc, text[:300] or "no output")


def wants_legacy_fields(out: str, err: str) -> bool:
    """True when the driver predates the ``compute_cap`` query field (driver < 510)."""
    return 'Field "compute_cap" is not a valid field to query' in (out + err)


def parse_nvidia_proc_information(text: str) -> Dict[str, Any]:
    """Parse ``/proc/driver/nvidia/gpus/<bus>/information`` (``Model:``, ``Bus Location:``...)."""
    fields = {}  # type: Dict[str, str]
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return {
        "name": fields.get("Model") or None,
        "bus": fields.get("Bus Location") or None,
        "uuid": fields.get("GPU UUID") or None,
        "minor": _int_or_none(fields.get("Device Minor")),
    }


def parse_nvidia_proc_version(text: str) -> Optional[str]:
    """Driver version from ``/proc/driver/nvidia/version`` (``NVRM version: ... Kernel Module  535.183.01 ...``)."""
    match = re.search(r"NVRM version:.*?(?:Kernel Module|Open Kernel Module for \S+)\s+(\d+(?:\.\d+)+)", text)
    return match.group(1) if match else None


#: PCI classes of display devices: VGA, 3D controller, other display controller.
_PCI_DISPLAY_CLASSES = ("0300", "0302", "0380")


def parse_lspci_nvidia(text: str) -> List[Dict[str, Any]]:
    """NVIDIA display devices from ``lspci -nn`` (vendor 10de; the HDMI audio function is skipped).

    ``01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GA106 [GeForce RTX 3060]
    [10de:2504] (rev a1)`` -> name ``NVIDIA GeForce RTX 3060``, bus ``01:00.0``, device ``2504``.
    """
    pattern = re.compile(
        r"^(?P<bus>\S+)\s+(?P<cls_name>[^\[]+?)\s*\[(?P<cls>[0-9a-fA-F]{4})\]:\s+"
        r"(?P<desc>.*?)\s*\[10de:(?P<dev>[0-9a-fA-F]{4})\]"
    )
    gpus = []
    for line in text.splitlines():
        match = pattern.match(line.strip())
        if not match or match.group("cls").lower() not in _PCI_DISPLAY_CLASSES:
            continue
        desc = re.sub(r"^NVIDIA Corporation\s*", "", match.group("desc")).strip()
        bracket = re.search(r"\[([^\]]+)\]\s*$", desc)
        product = bracket.group(1) if bracket else desc
        gpus.append({
            "bus": match.group("bus"),
            "name": ("NVIDIA " + product).strip() if product else "NVIDIA GPU",
            "device_id": match.group("dev").lower(),
        })
    return gpus


# ---------------------------------------------------------------------------------------------
# Jetson (Tegra) boards
# ---------------------------------------------------------------------------------------------

#: Jetson family (from the device-tree model) -> CUDA compute capability of its integrated GPU.
JETSON_COMPUTE_CAPABILITY = (
    ("Orin", "8.7"),
    ("Xavier", "7.2"),
    ("TX2", "6.2"),
    ("TX1", "5.3"),
    ("Nano", "5.3"),  # the original Jetson Nano (Orin Nano matched above)
)


def parse_nv_tegra_release(text: str) -> Optional[Dict[str, Any]]:
    """Parse ``/etc/nv_tegra_release``: ``# R36 (release), REVISION: 4.0, ... BOARD: generic, ...``.

    Returns ``{"l4t_release": "36.4.0", "board": "generic"}`` or None when the text is not one.
    """
    match = re.search(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    if not match:
        return None
    revision = match.group(2).strip(".")
    if revision.count(".") == 0:
        revision += ".0"
    board = re.search(r"BOARD:\s*([^,\s]+)", text)
    return {"l4t_release": "%s.%s" % (match.group(1), revision), "board": board.group(1) if board else None}


def parse_device_tree_model(raw: str) -> Optional[str]:
    """``/proc/device-tree/model`` ends with a NUL byte; return the clean string or None."""
    model = raw.replace("\x00", "").strip()
    return model or None


def jetson_compute_capability(model: Optional[str]) -> Optional[str]:
    """Compute capability of a Jetson's integrated GPU from its model string; None if unknown."""
    for family, capability in JETSON_COMPUTE_CAPABILITY:
        if model and family.lower() in model.lower():
            return capability
    return None


def jetson_gpu(model: Optional[str], ram_total_mb: Optional[int], driver: Optional[str] = None) -> Dict[str, Any]:
    """The integrated GPU of a Jetson: its memory is the board's RAM (``unified_memory: true``)."""
    family = None
    for name, _cap in JETSON_COMPUTE_CAPABILITY:
        if model and name.lower() in model.lower():
            family = name
            break
    return {
        "index": 0,
        "name": "NVIDIA Jetson %s integrated GPU" % family if family else "NVIDIA Tegra integrated GPU",
        "vendor": "nvidia",
        "memory_mb": ram_total_mb,
        "driver": driver,
        "compute_capability": jetson_compute_capability(model),
        "unified_memory": True,
        "source": "tegra",
    }


# ---------------------------------------------------------------------------------------------
# Operating system
# ---------------------------------------------------------------------------------------------

#: ``ID`` / ``ID_LIKE`` -> Ansible-style ``os_family``.
OS_FAMILIES = (
    ("debian", "Debian"), ("ubuntu", "Debian"), ("raspbian", "Debian"),
    ("rhel", "RedHat"), ("fedora", "RedHat"), ("centos", "RedHat"), ("rocky", "RedHat"),
    ("almalinux", "RedHat"), ("ol", "RedHat"), ("amzn", "RedHat"),
    ("suse", "Suse"), ("opensuse", "Suse"), ("sles", "Suse"),
    ("alpine", "Alpine"), ("arch", "Archlinux"),
)


def _unquote(value: str) -> str:
    """Strip one level of shell quoting from an os-release value."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return re.sub(r"\\(.)", r"\1", value)


def parse_os_release(text: str) -> Dict[str, Any]:
    """Parse ``/etc/os-release`` into ``id``, ``family``, ``version_id``, ``codename``, ``pretty_name``."""
    values = {}  # type: Dict[str, str]
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _sep, value = line.partition("=")
        values[key.strip()] = _unquote(value)
    os_id = values.get("ID", "").lower() or None
    likes = [os_id] + values.get("ID_LIKE", "").lower().split() if os_id else []
    family = None
    for candidate in likes:
        family = dict(OS_FAMILIES).get(candidate)
        if family:
            break
    codename = values.get("VERSION_CODENAME") or values.get("UBUNTU_CODENAME")
    if not codename:
        match = re.search(r"\(([A-Za-z]+)\)", values.get("VERSION", ""))
        codename = match.group(1).lower() if match else None
    return {
        "id": os_id,
        "family": family,
        "version_id": values.get("VERSION_ID") or None,
        "codename": codename or None,
        "pretty_name": values.get("PRETTY_NAME") or values.get("NAME") or None,
    }


# ---------------------------------------------------------------------------------------------
# Virtualization and containers
# ---------------------------------------------------------------------------------------------

#: DMI ``sys_vendor`` / ``product_name`` fragments -> systemd-detect-virt VM identifiers.
DMI_VM_MARKERS = (
    ("KVM", "kvm"), ("QEMU", "qemu"), ("VMware", "vmware"), ("VirtualBox", "oracle"),
    ("innotek", "oracle"), ("Xen", "xen"), ("HVM domU", "xen"), ("Amazon EC2", "amazon"),
    ("Google Compute Engine", "google"), ("Parallels", "parallels"), ("BHYVE", "bhyve"),
    ("OpenStack", "kvm"),
)

#: ``/proc/1/cgroup`` path fragments -> container engine.
CGROUP_CONTAINER_MARKERS = (
    ("/docker/", "docker"), ("docker-", "docker"), ("/libpod", "podman"), ("libpod-", "podman"),
    ("/lxc/", "lxc"), ("lxc.payload", "lxc"), ("/kubepods", "container-other"),
    ("/containerd/", "container-other"),
)


def _sdv_value(output: Optional[str]) -> Optional[str]:
    """First word of ``systemd-detect-virt`` output (``none`` included), or None when not run."""
    if output is None:
        return None
    words = output.strip().split()
    return words[0] if words else None


def detect_container(
    sdv_container: Optional[str] = None,
    dockerenv: bool = False,
    containerenv: bool = False,
    pid1_environ: Optional[str] = None,
    pid1_cgroup: Optional[str] = None,
) -> Tuple[str, str]:
    """Return ``(container, source)``; container is ``none``, ``docker``, ``podman``, ``lxc``...

    Evidence is taken in this order: ``systemd-detect-virt --container``, ``/run/.containerenv``
    (podman), ``/.dockerenv``, ``container=`` in PID 1's environment, PID 1's cgroup path.
    """
    value = _sdv_value(sdv_container)
    if value:
        return value, "systemd-detect-virt"
    if containerenv:
        return "podman", "/run/.containerenv"
    if dockerenv:
        return "docker", "/.dockerenv"
    if pid1_environ:
        for item in pid1_environ.split("\x00"):
            if item.startswith("container=") and item.partition("=")[2]:
                return item.partition("=")[2], "/proc/1/environ"
    for line in (pid1_cgroup or "").splitlines():
        for marker, engine in CGROUP_CONTAINER_MARKERS:
            if marker in line:
                return engine, "/proc/1/cgroup"
    return "none", "no container markers"


def detect_vm(
    sdv_vm: Optional[str] = None,
    dmi_vendor: Optional[str] = None,
    dmi_product: Optional[str] = None,
    cpu_hypervisor_flag: bool = False,
) -> Tuple[str, str]:
    """Return ``(vm, source)``; vm is ``none``, a systemd-detect-virt id (``kvm``, ``vmware``...)
    or ``unknown`` when only the CPU's ``hypervisor`` flag says the host is virtual."""
    value = _sdv_value(sdv_vm)
    if value:
        return value, "systemd-detect-virt"
    dmi = " ".join(x for x in (dmi_vendor, dmi_product) if x)
    if "Microsoft Corporation" in dmi and "Virtual Machine" in dmi:
        return "microsoft", "dmi"
    for marker, vm in DMI_VM_MARKERS:
        if marker.lower() in dmi.lower():
            return vm, "dmi"
    if cpu_hypervisor_flag:
        return "unknown", "cpuinfo hypervisor flag"
    return "none", "no VM markers"


# ---------------------------------------------------------------------------------------------
# Disk
# ---------------------------------------------------------------------------------------------


def nearest_existing(path: str) -> str:
    """``path`` itself or its closest existing ancestor (models dirs often do not exist yet)."""
    current = os.path.abspath(path)
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def mount_point(path: str, stop: str = "/") -> str:
    """The mount point holding ``path``: walk up while the device stays the same (not above ``stop``)."""
    current = os.path.abspath(path)
    stop = os.path.abspath(stop)
    device = os.stat(current).st_dev
    while current != stop:
        parent = os.path.dirname(current)
        if parent == current or os.stat(parent).st_dev != device:
            break
        current = parent
    return current


def disk_usage(path: str) -> Dict[str, int]:
    """``total_mb`` and ``free_mb`` of the file system holding ``path`` (free = available to
    unprivileged users, ``f_bavail``, which is what is left once root's reserve is untouched)."""
    stats = os.statvfs(path)
    return {
        "total_mb": stats.f_blocks * stats.f_frsize // (1024 * 1024),
        "free_mb": stats.f_bavail * stats.f_frsize // (1024 * 1024),
    }


# ---------------------------------------------------------------------------------------------
# Override (edge_hw_override)
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Collection (the only part that touches the host)
# ---------------------------------------------------------------------------------------------

Runner = Callable[[List[str]], Tuple[int, str, str]]


def run_command(argv: List[str], timeout: int = 10) -> Tuple[int, str, str]:
    """Run ``argv`` with a timeout and the C locale; never raise (rc 127 = could not start, 124 = timeout)."""
    env = dict(os.environ, LC_ALL="C", LANG="C")
    try:
        proc = subprocess.run(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
            timeout=timeout, env=env, check=False,
        )
    except subprocess.TimeoutExpired:
        return 124, "", "timed out after %ss" % timeout
    except (OSError, ValueError) as exc:
        return 127, "", str(exc)
    return proc.returncode, proc.stdout or "", proc.stderr or ""


class HostReader(object):
    """Reads files below ``root`` and remembers what could not be read (never raises)."""

    def __init__(self, root: str = "/") -> None:
        self.root = os.path.abspath(root)
        self.errors = []  # type: List[str]

    def path(self, path: str) -> str:
        """``path`` (absolute, as on the host) resolved below the root."""
        return os.path.join(self.root, path.lstrip("/"))

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists below the root."""
        return os.path.exists(self.path(path))

    def read(self, path: str, quiet: bool = False) -> Optional[str]:
        """Text of ``path`` or None; a failure other than 'missing' is noted unless ``quiet``."""
        try:
            with open(self.path(path), "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except (IOError, OSError) as exc:
            missing = getattr(exc, "errno", None) in (errno.ENOENT, errno.ENOTDIR)
            if not missing and not quiet:
                self.errors.append("%s: %s" % (path, exc.strerror or exc))
            return None

    def glob_dirs(self, path: str) -> List[str]:
        """Sorted names of the entries of directory ``path`` (empty when it does not exist)."""
        try:
            return sorted(os.listdir(self.path(path)))
        except (IOError, OSError):
            return []


def collect(
    root: str = "/",
    disk_path: str = "/var/lib",
    commands: Optional[Dict[str, Optional[str]]] = None,
    run: Optional[Runner] = None,
    machine: Optional[str] = None,
) -> Dict[str, Any]:
    """Assemble the ``edge_hardware`` fact for the host below ``root``.

    ``commands`` maps ``nvidia_smi``, ``lspci`` and ``systemd_detect_virt`` to executable
    paths (None = not installed / not to be run); ``run`` executes an argv and returns
    ``(rc, stdout, stderr)``. ``machine`` is ``platform.machine()`` of the running host;
    when None (a root other than ``/``), the architecture is inferred from cpuinfo.
    Missing files and tools are not errors; failed reads are listed in ``errors``.
    """
    reader = HostReader(root)
    commands = commands or {}
    run = run or run_command
    probes = {}  # type: Dict[str, str]

    cpu = parse_cpuinfo(reader.read("/proc/cpuinfo") or "")
    memory = parse_meminfo(reader.read("/proc/meminfo") or "")
    os_info = parse_os_release(reader.read("/etc/os-release") or reader.read("/usr/lib/os-release") or "")
    jetson, board = _collect_jetson(reader, cpu)
    gpus = _collect_gpus(reader, commands, run, probes, jetson, memory.get("total_mb"))
    virtualization = _collect_virtualization(reader, commands, run, probes, cpu.get("hypervisor", False))
    disk = _collect_disk(reader, disk_path)

    facts = {
        "arch": machine or cpu.get("arch_hint"),
        "board": board,
        "os": os_info,
        "cpu": {key: cpu.get(key) for key in ("model", "vendor", "sockets", "cores", "threads", "flags")},
        "memory": {"total_mb": memory["total_mb"], "available_mb": memory["available_mb"]},
        "disk": disk,
        "gpus": gpus,
        "jetson": jetson,
        "virtualization": virtualization,
        "probes": probes,
        "errors": reader.errors,
        "simulated": [],
    }  # type: Dict[str, Any]
    if memory.get("available_source") == "estimate":
        probes["meminfo"] = "no MemAvailable (kernel < 3.14): available memory estimated"
    return facts


def _collect_jetson(reader: HostReader, cpu: Dict[str, Any]) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """``(jetson, board)``: Jetson info when ``/etc/nv_tegra_release`` or a Jetson device-tree model exists."""
    dt_model = parse_device_tree_model(reader.read("/proc/device-tree/model", quiet=True) or "")
    board = dt_model or cpu.get("board")
    release = parse_nv_tegra_release(reader.read("/etc/nv_tegra_release", quiet=True) or "")
    is_jetson = release is not None or bool(dt_model and "jetson" in dt_model.lower())
    if not is_jetson:
        return None, board
    return {"model": dt_model, "l4t_release": release["l4t_release"] if release else None}, board


def _collect_gpus(
    reader: HostReader,
    commands: Dict[str, Optional[str]],
    run: Runner,
    probes: Dict[str, str],
    jetson: Optional[Dict[str, Any]],
    ram_total_mb: Optional[int],
) -> List[Dict[str, Any]]:
    """GPUs from nvidia-smi, else /proc/driver/nvidia, else lspci; plus a Jetson's integrated GPU."""
    gpus = _gpus_from_nvidia_smi(commands.get("nvidia_smi"), run, probes)
    if not gpus:
        gpus = _gpus_from_proc(reader, probes)
    if not gpus:
        gpus = _gpus_from_lspci(commands.get("lspci"), run, probes)
    if jetson is not None:
        gpus = _with_jetson_gpu(gpus, jetson, ram_total_mb)
    return gpus


def _gpus_from_nvidia_smi(binary: Optional[str], run: Runner, probes: Dict[str, str]) -> List[Dict[str, Any]]:
    """Query nvidia-smi; retry without ``compute_cap`` on drivers that do not know that field."""
    if not binary:
        probes["nvidia_smi"] = "not found"
        return []
    fields = NVIDIA_SMI_FIELDS
    rc, out, err = run(nvidia_smi_argv(binary, fields))
    if rc != 0 and wants_legacy_fields(out, err):
        fields = NVIDIA_SMI_FIELDS_LEGACY
        rc, out, err = run(nvidia_smi_argv(binary, fields))
    error = nvidia_smi_error(rc, out, err, fields)
    if error:
        probes["nvidia_smi"] = "failed " + error
        return []
    probes["nvidia_smi"] = "ok" if fields == NVIDIA_SMI_FIELDS else "ok (driver without compute_cap)"
    return parse_nvidia_smi(out, fields)


def _gpus_from_proc(reader: HostReader, probes: Dict[str, str]) -> List[Dict[str, Any]]:
    """GPUs the loaded NVIDIA kernel driver lists under /proc/driver/nvidia/gpus (no VRAM size there)."""
    buses = reader.glob_dirs("/proc/driver/nvidia/gpus")
    if not buses:
        return []
    driver = parse_nvidia_proc_version(reader.read("/proc/driver/nvidia/version", quiet=True) or "")
    gpus = []
    for position, bus in enumerate(buses):
        info = parse_nvidia_proc_information(reader.read("/proc/driver/nvidia/gpus/%s/information" % bus) or "")
        minor = info.get("minor")
        gpus.append({
            "index": minor if minor is not None else position,
            "name": info.get("name") or "NVIDIA GPU",
            "vendor": "nvidia", "memory_mb": None, "driver": driver, "compute_capability": None,
            "unified_memory": False, "source": "proc",
        })
    probes["proc_driver_nvidia"] = "%d GPU(s), VRAM not reported there" % len(gpus)
    return gpus


def _gpus_from_lspci(binary: Optional[str], run: Runner, probes: Dict[str, str]) -> List[Dict[str, Any]]:
    """NVIDIA devices on the PCI bus (driver possibly missing; name only)."""
    if not binary:
        probes["lspci"] = "not found"
        return []
    rc, out, err = run([binary, "-nn"])
    if rc != 0:
        probes["lspci"] = "failed rc=%d: %s" % (rc, " ".join(err.split())[:200])
        return []
    devices = parse_lspci_nvidia(out)
    probes["lspci"] = "%d NVIDIA display device(s)" % len(devices)
    return [{
        "index": position, "name": device["name"], "vendor": "nvidia", "memory_mb": None, "driver": None,
        "compute_capability": None, "unified_memory": False, "source": "lspci",
    } for position, device in enumerate(devices)]


def _with_jetson_gpu(gpus: List[Dict[str, Any]], jetson: Dict[str, Any], ram_total_mb: Optional[int]) -> List[Dict[str, Any]]:
    """On a Jetson the GPU shares RAM: fill its memory with RAM, or add it when no tool listed it."""
    if not gpus:
        return [jetson_gpu(jetson.get("model"), ram_total_mb)]
    result = []
    for gpu in gpus:
        gpu = dict(gpu)
        if gpu.get("memory_mb") is None:
            gpu["memory_mb"] = ram_total_mb
            gpu["unified_memory"] = True
            gpu["source"] = gpu.get("source", "") + "+tegra"
        if gpu.get("compute_capability") is None:
            gpu["compute_capability"] = jetson_compute_capability(jetson.get("model"))
        result.append(gpu)
    return result


def _collect_virtualization(
    reader: HostReader, commands: Dict[str, Optional[str]], run: Runner, probes: Dict[str, str], hypervisor: bool
) -> Dict[str, str]:
    """Container and VM detection from systemd-detect-virt, marker files, DMI and cpuinfo."""
    sdv = commands.get("systemd_detect_virt")
    sdv_container = sdv_vm = None
    if sdv:
        # systemd-detect-virt prints "none" and exits 1 when it finds nothing: both are answers.
        rc_c, out_c, _err = run([sdv, "--container"])
        rc_v, out_v, _err = run([sdv, "--vm"])
        sdv_container = out_c if rc_c in (0, 1) and out_c.strip() else None
        sdv_vm = out_v if rc_v in (0, 1) and out_v.strip() else None
        probes["systemd_detect_virt"] = "ok" if sdv_container and sdv_vm else "no answer"
    else:
        probes["systemd_detect_virt"] = "not found"
    container, container_source = detect_container(
        sdv_container=sdv_container,
        dockerenv=reader.exists("/.dockerenv"),
        containerenv=reader.exists("/run/.containerenv"),
        pid1_environ=reader.read("/proc/1/environ", quiet=True),
        pid1_cgroup=reader.read("/proc/1/cgroup", quiet=True),
    )
    vm, vm_source = detect_vm(
        sdv_vm=sdv_vm,
        dmi_vendor=(reader.read("/sys/class/dmi/id/sys_vendor", quiet=True) or "").strip() or None,
        dmi_product=(reader.read("/sys/class/dmi/id/product_name", quiet=True) or "").strip() or None,
        cpu_hypervisor_flag=hypervisor,
    )
    return {"container": container, "container_source": container_source, "vm": vm, "vm_source": vm_source}


def _collect_disk(reader: HostReader, disk_path: str) -> Dict[str, Any]:
    """Free space of the file system that holds (or will hold) ``disk_path``."""
    target = reader.path(disk_path)
    checked = nearest_existing(target)
    result = {"path": disk_path, "checked_path": None, "mount": None, "total_mb": None, "free_mb": None}  # type: Dict[str, Any]
    if not checked.startswith(reader.root):
        checked = reader.root
    try:
        usage = disk_usage(checked)
        mount = mount_point(checked, stop=reader.root)
    except (IOError, OSError) as exc:
        reader.errors.append("%s: %s" % (disk_path, getattr(exc, "strerror", None) or exc))
        return result
    result.update(usage)
    result["checked_path"] = _host_relative(reader.root, checked)
    result["mount"] = _host_relative(reader.root, mount)
    return result


def _host_relative(root: str, path: str) -> str:
    """``path`` below ``root`` expressed as the host would see it (``/var/lib``)."""
    relative = os.path.relpath(path, root)
    return "/" if relative == "." else "/" + relative
