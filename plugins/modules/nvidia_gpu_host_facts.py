#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module nvidia_gpu_host_facts: what the NVIDIA driver and toolkit decisions need."""

DOCUMENTATION = r"""
module: nvidia_gpu_host_facts
short_description: Report Secure Boot, kernel headers, the nvidia module, toolkit binaries and the CDI spec
version_added: 0.1.0
description:
  - Gathers, as the fact C(nvidia_gpu_host), the host state that decides whether an NVIDIA driver can be kept or
    installed and whether the container toolkit, Docker's C(nvidia) runtime and the CDI spec need work.
  - GPUs, the running driver and Jetson boards are not read here; C(edge_hardware_facts) reports them.
  - Secure Boot from C(mokutil --sb-state), else from the C(SecureBoot) EFI variable; enrolment of the module signing
    keys from C(mokutil --test-key).
  - Kernel headers of the running kernel (C(/lib/modules/<release>/build)); the nvidia module's version and signer
    from C(modinfo); the loaded driver from C(/proc/driver/nvidia/version).
  - Install and candidate versions of packages from C(apt-cache policy); the driver versions an existing CDI spec
    was generated for.
  - Only reads. Missing tools are not errors; what each probe answered is in C(probes).
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
  packages:
    description: Packages whose installed and candidate versions are reported.
    type: list
    elements: str
    default: []
  binaries:
    description: Executables looked up in E(PATH) and the sbin directories.
    type: list
    elements: str
    default: [nvidia-smi, nvidia-ctk, nvidia-container-runtime, dockerd, mokutil, modinfo]
  cdi_spec_path:
    description: The CDI spec to inspect.
    type: path
    default: /etc/cdi/nvidia.yaml
  mok_certificates:
    description:
      - Module signing certificates (DER or PEM) whose enrolment in MOK is tested when Secure Boot is on; reported in
        C(mok_keys).
    type: list
    elements: path
    default: [/var/lib/dkms/mok.pub, /var/lib/shim-signed/mok/MOK.der]
  override:
    description:
      - Values reported instead of the gathered ones (labs and tests); dicts merge key by key. Every value set here
        is listed in C(simulated). Unknown keys fail the task.
    type: dict
    default: {}
  timeout:
    description: Seconds after which a command is given up.
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: Read the GPU host state
  edgeai.slm_fleet.nvidia_gpu_host_facts:
    packages: [nvidia-driver, nvidia-container-toolkit]
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    nvidia_gpu_host:
      description: Kernel, Secure Boot, nvidia module, binaries, CDI spec, packages, probes, simulated keys.
      type: dict
      sample:
        kernel_release: 6.1.0-28-amd64
        kernel_headers: true
        secure_boot: disabled
        module: {present: true, version: 535.216.01, signer: null, loaded_version: 535.216.01}
        binaries: {nvidia-ctk: /usr/bin/nvidia-ctk}
        cdi_spec: {path: /etc/cdi/nvidia.yaml, exists: true, kind: nvidia.com/gpu, driver_versions: [535.216.01]}
        packages: {nvidia-driver: {installed: 535.216.01-1~deb12u1, candidate: 535.261.03-1}}
        reboot_required: false
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.edge_hardware import run_command
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.edge_hw_gpu import parse_nvidia_proc_version
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.nvidia_gpu_host import (
    SECURE_BOOT_EFIVAR,
    cdi_spec_driver_versions,
    cdi_spec_kind,
    host_facts_skeleton,
    parse_apt_cache_policy,
    parse_modinfo_field,
    parse_mokutil_sb_state,
    parse_mokutil_test_key,
    parse_secure_boot_efivar,
)


def _read(path, binary=False):
    try:
        with open(path, "rb" if binary else "r") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def _run(module, argv, facts, probe):
    rc, out, err = run_command(argv, timeout=module.params["timeout"])
    facts["probes"][probe] = "ok" if rc == 0 else "rc=%d %s" % (rc, " ".join((err or out).split())[:200])
    return rc, out, err


def _secure_boot(module, facts, binaries):
    if binaries.get("mokutil"):
        _rc, out, err = _run(module, [binaries["mokutil"], "--sb-state"], facts, "mokutil_sb_state")
        state = parse_mokutil_sb_state(out + err)
        if state:
            facts["secure_boot"], facts["secure_boot_source"] = state, "mokutil"
            return
    data = _read(SECURE_BOOT_EFIVAR, binary=True)
    if data is not None and parse_secure_boot_efivar(data):
        facts["secure_boot"], facts["secure_boot_source"] = parse_secure_boot_efivar(data), "efivars"
    elif not os.path.isdir("/sys/firmware/efi"):
        facts["secure_boot"], facts["secure_boot_source"] = "unsupported", "no /sys/firmware/efi (BIOS boot)"


def _mok_keys(module, facts, binaries):
    for key in module.params["mok_certificates"]:
        if not os.path.exists(key):
            continue
        enrolled = None
        if binaries.get("mokutil"):
            _rc, out, err = _run(module, [binaries["mokutil"], "--test-key", key], facts, "mokutil_test_key")
            enrolled = parse_mokutil_test_key(out + err)
        facts["mok_keys"][key] = {True: "enrolled", False: "not enrolled", None: "unknown"}[enrolled]


def _module_info(module, facts, binaries):
    info = facts["module"]
    info["loaded_version"] = parse_nvidia_proc_version(_read("/proc/driver/nvidia/version") or "")
    if binaries.get("modinfo"):
        rc, out, _err = _run(module, [binaries["modinfo"], "-F", "version", "nvidia"], facts, "modinfo")
        if rc == 0 and parse_modinfo_field(out):
            info["present"], info["version"] = True, parse_modinfo_field(out)
            _rc, out, _err = _run(module, [binaries["modinfo"], "-F", "signer", "nvidia"], facts, "modinfo_signer")
            info["signer"] = parse_modinfo_field(out)
    if info["loaded_version"]:
        info["present"] = True


def _cdi_spec(module, facts):
    path = module.params["cdi_spec_path"]
    text = _read(path)
    facts["cdi_spec"] = {
        "path": path, "exists": text is not None, "kind": cdi_spec_kind(text or ""),
        "driver_versions": cdi_spec_driver_versions(text or ""),
    }


def _packages(module, facts):
    apt_cache = module.get_bin_path("apt-cache")
    if not module.params["packages"] or not apt_cache:
        return
    _rc, out, _err = _run(module, [apt_cache, "policy"] + module.params["packages"], facts, "apt_cache_policy")
    found = parse_apt_cache_policy(out)
    for name in module.params["packages"]:
        facts["packages"][name] = found.get(name, {"installed": None, "candidate": None})


def _apply_override(module, facts):
    for key, value in sorted(module.params["override"].items()):
        if key not in facts or key in ("probes", "simulated"):
            allowed = ", ".join(sorted(k for k in facts if k not in ("probes", "simulated")))
            module.fail_json(msg="override: unknown key %r; allowed keys: %s" % (key, allowed))
        if isinstance(facts[key], dict) and isinstance(value, dict):
            facts[key] = dict(facts[key], **value)
            facts["simulated"].extend("%s.%s" % (key, sub) for sub in sorted(value))
        else:
            facts[key] = value
            facts["simulated"].append(key)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            packages=dict(type="list", elements="str", default=[]),
            binaries=dict(type="list", elements="str",
                          default=["nvidia-smi", "nvidia-ctk", "nvidia-container-runtime", "dockerd", "mokutil", "modinfo"]),
            cdi_spec_path=dict(type="path", default="/etc/cdi/nvidia.yaml"),
            mok_certificates=dict(type="list", elements="path", default=["/var/lib/dkms/mok.pub", "/var/lib/shim-signed/mok/MOK.der"]),
            override=dict(type="dict", default={}),
            timeout=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    facts = host_facts_skeleton()
    facts["kernel_release"] = os.uname()[2]
    facts["kernel_headers"] = os.path.isdir("/lib/modules/%s/build" % facts["kernel_release"])
    binaries = dict((name, module.get_bin_path(name, opt_dirs=["/usr/sbin", "/sbin"]))
                    for name in module.params["binaries"])
    facts["binaries"] = binaries
    _secure_boot(module, facts, binaries)
    if facts["secure_boot"] == "enabled":
        _mok_keys(module, facts, binaries)
    _module_info(module, facts, binaries)
    _cdi_spec(module, facts)
    _packages(module, facts)
    facts["reboot_required"] = os.path.exists("/var/run/reboot-required")
    _apply_override(module, facts)
    module.exit_json(changed=False, ansible_facts={"nvidia_gpu_host": facts})


if __name__ == "__main__":
    main()
