# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""CUDA version -> minimum NVIDIA Linux driver, and driver version arithmetic.

Source: NVIDIA's CUDA Toolkit Release Notes, table "CUDA Toolkit and Corresponding Driver
Versions", column "Toolkit Driver Version, Linux x86_64", general-availability (GA) release of
each minor version. For example "CUDA 12.4 GA needs >= 550.54.14 on Linux" and "CUDA 12.8 GA
needs >= 570.26". An Update release of the same minor version may need a slightly newer driver
(12.4 Update 1: >= 550.54.15); set ``nvidia_gpu_min_driver_version`` for those.

These are the drivers a toolkit release ships with. Older drivers of the same CUDA major can
run newer minors through NVIDIA's "minor version compatibility" with documented limits (no PTX
JIT of newer PTX); vLLM relies on JIT-compiled kernels, so the plan asks for the full minimum.
"""

from __future__ import annotations

import re
from typing import Optional

#: CUDA major.minor -> minimum Linux x86_64 driver of its GA release (CUDA release notes).
CUDA_MIN_DRIVER = {
    "11.8": "520.61.05",
    "12.0": "525.60.13",
    "12.1": "530.30.02",
    "12.2": "535.54.03",
    "12.3": "545.23.06",
    "12.4": "550.54.14",
    "12.5": "555.42.02",
    "12.6": "560.28.03",
    "12.8": "570.26",
    "12.9": "575.51.03",
    "13.0": "580.65.06",
}

_VERSION = re.compile(r"^(?:\d+:)?(\d+(?:\.\d+)*)")


def version_tuple(version: Optional[str]) -> Optional[tuple[int, ...]]:
    """``'535.261.03-1'``, ``'1:550.54.15'``, ``'570.26'`` -> ints; None when not a version.

    A Debian epoch (``1:``) and revision (``-0ubuntu0.22.04.1``) are ignored: driver versions
    compare by their dotted numbers only.
    """
    if not version:
        return None
    match = _VERSION.match(str(version).strip())
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


def upstream_version(version: Optional[str]) -> Optional[str]:
    """The driver's own version inside a package version (``535.261.03-1`` -> ``535.261.03``)."""
    parts = version_tuple(version)
    if parts is None:
        return None
    match = _VERSION.match(str(version).strip())
    return match.group(1) if match else None


def at_least(version: Optional[str], minimum: str) -> bool:
    """True when ``version`` >= ``minimum`` (unknown versions are not at least anything)."""
    have, need = version_tuple(version), version_tuple(minimum)
    return have is not None and need is not None and have >= need


def cuda_key(cuda_version: str) -> Optional[str]:
    """``'12.4'``, ``'12.4.1'`` -> ``'12.4'``; None when it is not a CUDA version."""
    match = re.match(r"^(\d+)\.(\d+)(?:\.\d+)?$", str(cuda_version).strip())
    return "%s.%s" % (match.group(1), match.group(2)) if match else None


def min_driver_for_cuda(cuda_version: str, explicit: str = "") -> str:
    """The minimum driver for ``cuda_version``, or ``explicit`` when given.

    Raises ValueError with the known versions when the CUDA version is not in the table.
    """
    if explicit:
        if version_tuple(explicit) is None:
            raise ValueError("nvidia_gpu_min_driver_version must look like 550.54.14, got %r" % explicit)
        return explicit
    key = cuda_key(cuda_version)
    if key not in CUDA_MIN_DRIVER:
        raise ValueError(
            "nvidia_gpu_cuda_version=%r is not in the CUDA -> driver table (known: %s); set "
            "nvidia_gpu_min_driver_version from NVIDIA's CUDA release notes instead"
            % (cuda_version, ", ".join(CUDA_MIN_DRIVER)))
    return CUDA_MIN_DRIVER[key]


def driver_branch(version: Optional[str]) -> Optional[int]:
    """``'550.54.14'`` -> 550 (the driver branch, R550)."""
    parts = version_tuple(version)
    return parts[0] if parts else None
