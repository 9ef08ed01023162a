# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hardware discovery for edge hosts: the collector over the pure parsers of ``edge_hw_*``.

This file runs on the *target* host (it is shipped with the
``edgeai.slm_fleet.edge_hardware_facts`` module), so it uses the standard library only and
Python 3.6+ syntax: ``typing`` generics, no walrus operator, no dataclasses, no
``from __future__ import annotations``. ansible-core 2.17+ needs Python 3.7+ on targets anyway.

Every ``parse_*`` function takes the text of one file or one command output and returns plain
data; none of them reads the file system or raises on odd input. ``collect()`` is the only
function that touches the host: it reads files below a root directory (``/`` in production, a
fixture tree in tests or a mounted image), runs the few commands it is given, and assembles the
``edge_hardware`` fact. ``apply_override()`` (``edge_hw_override``) merges the inventory's
``edge_hw_override`` over it. Parsers by topic: ``edge_hw_cpu`` (CPU, memory), ``edge_hw_gpu``
(NVIDIA, Jetson), ``edge_hw_system`` (OS, virtualization, disk).

Sizes are MiB throughout (``*_mb`` keys); ``/proc/meminfo`` kB are KiB.
"""

import errno
import os
import subprocess
from typing import Any, Callable, Dict, List, Optional, Tuple

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.edge_hw_cpu import parse_cpuinfo, parse_meminfo
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.edge_hw_gpu import (
    NVIDIA_SMI_FIELDS,
    NVIDIA_SMI_FIELDS_LEGACY,
    nvidia_smi_argv,
    parse_nvidia_smi,
    nvidia_smi_error,
    wants_legacy_fields,
    parse_nvidia_proc_information,
    parse_nvidia_proc_version,
    parse_lspci_nvidia,
    parse_nv_tegra_release,
    parse_device_tree_model,
    jetson_compute_capability,
    jetson_gpu,
)
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.edge_hw_system import (
    parse_os_release,
    detect_container,
    detect_vm,
    nearest_existing,
    mount_point,
    disk_usage,
)


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
