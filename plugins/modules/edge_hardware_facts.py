#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module edge_hardware_facts: the hardware an edge host offers to a language model."""

DOCUMENTATION = r"""
module: edge_hardware_facts
short_description: Report the CPU, memory, disk, GPUs, board and virtualization of an edge host
version_added: 0.1.0
description:
  - Gathers what the preflight decisions need to know about a host, as the fact C(edge_hardware).
  - CPU model, sockets, physical cores, threads and the instruction-set flags that matter to inference engines
    (C(avx2), C(avx512f), C(avx512_vnni), C(avx512_bf16), C(avx_vnni), C(amx), C(neon), C(sve), C(dotprod), C(i8mm)),
    from C(/proc/cpuinfo) on x86_64 and arm64 (ARM cores are named from their MIDR part number).
  - Total and available RAM from C(/proc/meminfo) (estimated on kernels without C(MemAvailable)).
  - Free space on the file system that will hold models and images (O(disk_path), or its nearest existing ancestor).
  - NVIDIA GPUs from C(nvidia-smi --query-gpu); when it is missing or fails, from C(/proc/driver/nvidia/gpus) and then
    from C(lspci -nn) (those two cannot tell the VRAM size, which is then V(null)).
  - Jetson boards from C(/etc/nv_tegra_release) and C(/proc/device-tree/model); their integrated GPU is reported with
    the board's RAM as its memory and RV(ansible_facts.edge_hardware.gpus[].unified_memory=true).
  - The OS from C(/etc/os-release), containers and VMs from C(systemd-detect-virt), marker files, PID 1's cgroup and
    environment, DMI and the CPU's C(hypervisor) flag.
  - Missing tools and files are not errors. A file that exists but cannot be read is listed in
    RV(ansible_facts.edge_hardware.errors) and shown as a warning.
  - O(override) (the inventory's C(edge_hw_override)) lets a lab or a test pretend other hardware; every value it sets
    is listed in RV(ansible_facts.edge_hardware.simulated).
  - Runs with the Python standard library only and only reads.
author:
  - edgeai.slm_fleet developers (@edgeai)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  check_mode:
    support: full
    details:
      - The module only reads files and runs read-only commands.
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
options:
  disk_path:
    description:
      - Path whose file system will hold the models and container images, for example Docker's data root or the
        collection's model directory.
      - It does not need to exist yet; the nearest existing ancestor is measured and reported as
        RV(ansible_facts.edge_hardware.disk.checked_path).
    type: path
    default: /var/lib
  override:
    description:
      - Values to report instead of the detected ones, usually the inventory variable C(edge_hw_override).
      - Dicts are merged key by key over the detected facts; lists (C(gpus), C(cpu.flags)) and scalars are replaced whole.
      - Allowed top-level keys are C(arch), C(board), C(os), C(cpu), C(memory), C(disk), C(gpus), C(jetson) and
        C(virtualization); the keys below them are the ones documented in RV(ansible_facts.edge_hardware).
        Any other key fails the task with a message that names it.
      - GPUs given here may leave out keys; C(vendor) defaults to V(nvidia), C(source) is V(override).
      - When only C(memory.total_mb) is set, the detected available memory is capped at it and also marked simulated.
    type: dict
    default: {}
  nvidia_smi:
    description:
      - Name (looked up in E(PATH) and the sbin directories) or absolute path of the C(nvidia-smi) binary.
    type: str
    default: nvidia-smi
  timeout:
    description:
      - Seconds after which a command (C(nvidia-smi), C(lspci), C(systemd-detect-virt)) is given up. A hung GPU
        driver makes C(nvidia-smi) block; it is then treated as not answering.
    type: int
    default: 10
  root:
    description:
      - Directory to read C(/proc), C(/sys) and C(/etc) files from instead of V(/).
      - Meant for unit tests and for inspecting a mounted image. Commands describe the running host, not that tree, so
        none is run when O(root) is not V(/); the architecture is then inferred from C(/proc/cpuinfo).
    type: path
    default: /
notes:
  - Sizes are MiB. Free disk space is what unprivileged users can still allocate (C(f_bavail)).
  - A DGX Spark-like unified-memory GPU that is not a Jetson reports its VRAM as V(null); declare it with O(override).
seealso:
  - name: Deployment profiles and engine plans
    description: How the collection's filters turn these facts into a profile, an engine and a memory budget.
    link: https://github.com/edgeai/slm_fleet/blob/main/docs/deployment_profiles.md
"""

EXAMPLES = r"""
- name: Gather the hardware facts of the edge hosts
  edgeai.slm_fleet.edge_hardware_facts:
    disk_path: /var/lib/docker

- name: Pretend this lab container is a 4 GB ARM gateway without GPU
  edgeai.slm_fleet.edge_hardware_facts:
    override: "{{ edge_hw_override | default({}) }}"
  vars:
    edge_hw_override:
      arch: aarch64
      memory:
        total_mb: 3791
      gpus: []

- name: Pretend a GPU server with one 24 GB card
  edgeai.slm_fleet.edge_hardware_facts:
    override:
      gpus:
        - name: NVIDIA L4
          memory_mb: 23034
          compute_capability: "8.9"
          driver: "550.127.05"

- name: Show what was found
  ansible.builtin.debug:
    msg: >-
      {{ ansible_facts.edge_hardware.cpu.cores }} cores,
      {{ ansible_facts.edge_hardware.memory.total_mb }} MiB RAM,
      {{ ansible_facts.edge_hardware.gpus | length }} GPU(s),
      simulated: {{ ansible_facts.edge_hardware.simulated }}
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    edge_hardware:
      description: The hardware of the host, after O(override).
      returned: always
      type: dict
      contains:
        arch:
          description: Kernel architecture (C(platform.machine())), inferred from cpuinfo when O(root) is not V(/).
          type: str
          sample: aarch64
        board:
          description: Board model from the device tree or the Raspberry Pi cpuinfo C(Model) line; V(null) on PCs.
          type: str
          sample: Raspberry Pi 5 Model B Rev 1.0
        os:
          description: From C(/etc/os-release).
          type: dict
          contains:
            id:
              description: C(ID), lower case.
              type: str
              sample: debian
            family:
              description: Ansible-style family from C(ID) / C(ID_LIKE) (V(Debian), V(RedHat), V(Suse), V(Alpine)...).
              type: str
              sample: Debian
            version_id:
              description: C(VERSION_ID); V(null) on rolling releases such as Debian testing.
              type: str
              sample: "12"
            codename:
              description: C(VERSION_CODENAME) or C(UBUNTU_CODENAME).
              type: str
              sample: bookworm
            pretty_name:
              description: C(PRETTY_NAME).
              type: str
              sample: Debian GNU/Linux 12 (bookworm)
        cpu:
          description: Processor.
          type: dict
          contains:
            model:
              description: x86 C(model name), or ARM core names such as V(ARM Cortex-A76) (big.LITTLE joined with C( + )).
              type: str
              sample: ARM Cortex-A55 + ARM Cortex-A76
            vendor:
              description: V(Intel), V(AMD), V(ARM), V(NVIDIA), V(Ampere)...
              type: str
            sockets:
              description: Physical packages.
              type: int
            cores:
              description: Physical cores (what inference thread counts should use).
              type: int
            threads:
              description: Logical CPUs.
              type: int
            flags:
              description: Normalised instruction-set flags present, among V(avx2), V(avx512f), V(avx512_vnni),
                V(avx512_bf16), V(avx_vnni), V(amx), V(neon), V(sve), V(dotprod), V(i8mm).
              type: list
              elements: str
              sample: [avx2, avx512f, avx512_vnni]
        memory:
          description: RAM in MiB.
          type: dict
          contains:
            total_mb:
              description: C(MemTotal) (what the kernel manages, a little less than installed RAM).
              type: int
            available_mb:
              description: C(MemAvailable), or an estimate on old kernels.
              type: int
        disk:
          description: File system that holds O(disk_path).
          type: dict
          contains:
            path:
              description: O(disk_path) as given.
              type: str
            checked_path:
              description: The existing path actually measured.
              type: str
            mount:
              description: Mount point of that file system.
              type: str
            total_mb:
              description: Size in MiB.
              type: int
            free_mb:
              description: Space available to unprivileged users in MiB.
              type: int
        gpus:
          description: NVIDIA GPUs; empty when there is none.
          type: list
          elements: dict
          contains:
            index:
              description: nvidia-smi index (CUDA device order by default).
              type: int
            name:
              description: Product name.
              type: str
              sample: NVIDIA A10
            vendor:
              description: Always V(nvidia) for now.
              type: str
            memory_mb:
              description: VRAM in MiB; the shared RAM for unified memory; V(null) when unknown.
              type: int
            driver:
              description: Driver version.
              type: str
              sample: 535.183.01
            compute_capability:
              description: CUDA compute capability, V(null) when unknown.
              type: str
              sample: "8.6"
            unified_memory:
              description: Whether the GPU shares the system RAM (Jetson).
              type: bool
            source:
              description: Where the entry came from, V(nvidia-smi), V(proc), V(lspci), V(tegra), V(override), or
                V(nvidia-smi+tegra) for a Jetson whose nvidia-smi could not size the memory.
              type: str
        jetson:
          description: V(null), or the Jetson board.
          type: dict
          contains:
            model:
              description: Device-tree model.
              type: str
              sample: NVIDIA Jetson Orin Nano Developer Kit
            l4t_release:
              description: Jetson Linux (L4T) release from C(/etc/nv_tegra_release).
              type: str
              sample: 36.4.0
        virtualization:
          description: Container and VM layers the host runs in.
          type: dict
          contains:
            container:
              description: V(none), V(docker), V(podman), V(lxc), V(systemd-nspawn), V(container-other)...
              type: str
            container_source:
              description: Evidence used for RV(ansible_facts.edge_hardware.virtualization.container).
              type: str
            vm:
              description: V(none), a systemd-detect-virt id (V(kvm), V(qemu), V(vmware), V(microsoft), V(xen),
                V(oracle), V(amazon), V(google)...), or V(unknown) when only the CPU says it is virtual.
              type: str
            vm_source:
              description: Evidence used for RV(ansible_facts.edge_hardware.virtualization.vm).
              type: str
        probes:
          description: How each command answered, for example V(ok), V(not found), V(failed rc=9 NVIDIA-SMI has failed...) or V(skipped ...).
          type: dict
          sample: {nvidia_smi: not found, lspci: 0 NVIDIA display device(s), systemd_detect_virt: ok}
        errors:
          description: Files that exist but could not be read (also shown as warnings).
          type: list
          elements: str
        simulated:
          description: Dotted keys whose values come from O(override), such as V(memory.total_mb) or V(gpus).
          type: list
          elements: str
          sample: [arch, gpus, memory.available_mb, memory.total_mb]
"""

import os
import platform
from typing import Dict, List, Optional, Tuple

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.edge_hardware import collect, run_command
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.edge_hw_override import OverrideError, apply_override

ARGUMENT_SPEC = {
    "disk_path": {"type": "path", "default": "/var/lib"},
    "override": {"type": "dict", "default": {}},
    "nvidia_smi": {"type": "str", "default": "nvidia-smi"},
    "timeout": {"type": "int", "default": 10},
    "root": {"type": "path", "default": "/"},
}

COMMAND_KEYS = ("nvidia_smi", "lspci", "systemd_detect_virt")


def resolve_binary(module: AnsibleModule, name: str) -> Optional[str]:
    """Absolute path of an executable given by name or path, or None when it is not there."""
    if os.sep in name:
        return name if os.path.isfile(name) and os.access(name, os.X_OK) else None
    return module.get_bin_path(name)


def resolve_commands(module: AnsibleModule) -> Dict[str, Optional[str]]:
    """The commands collect() may run on this host."""
    return {
        "nvidia_smi": resolve_binary(module, module.params["nvidia_smi"]),
        "lspci": resolve_binary(module, "lspci"),
        "systemd_detect_virt": resolve_binary(module, "systemd-detect-virt"),
    }


def main() -> None:
    """Collect, apply the override, and return ``ansible_facts.edge_hardware``."""
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    root = params["root"]
    if params["timeout"] <= 0:
        module.fail_json(msg="timeout must be a positive number of seconds, got %d" % params["timeout"])
    if not os.path.isdir(root):
        module.fail_json(msg="root %s is not a directory" % root)
    on_host = os.path.abspath(root) == "/"
    commands = resolve_commands(module) if on_host else {}
    timeout = params["timeout"]

    def run(argv: List[str]) -> Tuple[int, str, str]:
        """Run with the module's timeout."""
        return run_command(argv, timeout=timeout)

    try:
        facts = collect(
            root=root,
            disk_path=params["disk_path"],
            commands=commands,
            run=run,
            machine=platform.machine() if on_host else None,
        )
    except Exception as exc:  # a parser bug must not surface as a traceback on 1,000 hosts
        module.fail_json(msg="edge_hardware_facts could not read the hardware of this host: %s: %s"
                         % (type(exc).__name__, exc))
    if not on_host:
        for key in COMMAND_KEYS:
            facts["probes"][key] = "skipped (root is %s, not /)" % root
    try:
        facts = apply_override(facts, params["override"])
    except OverrideError as exc:
        module.fail_json(msg=str(exc))
    for error in facts["errors"]:
        module.warn("edge_hardware_facts could not read %s" % error)
    module.exit_json(changed=False, ansible_facts={"edge_hardware": facts})


if __name__ == "__main__":
    main()
