# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""GPUs of an edge host: nvidia-smi, ``/proc/driver/nvidia``, lspci and Jetson parsers.

Runs on the target (shipped with ``edge_hardware_facts``): standard library only, Python 3.6+ syntax.
"""

import re
from typing import Any, Dict, List, Optional, Sequence

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.edge_hw_cpu import int_or_none


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
        index = int_or_none(_na(row.get("index", "")))
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
        "minor": int_or_none(fields.get("Device Minor")),
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
