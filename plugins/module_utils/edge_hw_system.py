# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""OS, virtualization and disk of an edge host: os-release, container/VM detection, free space.

Runs on the target (shipped with ``edge_hardware_facts``): standard library only, Python 3.6+ syntax.
"""

import os
import re
from typing import Any, Dict, Optional, Tuple


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
