#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Report the free space of the file system that will hold a path, against the bytes a copy needs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: slm_free_space
short_description: Free bytes of the file system that will hold a path, and whether a copy of a given size fits
version_added: 0.2.0
description:
  - Finds the nearest existing ancestor of O(path) (the path itself need not exist yet) and reads the bytes
    available to unprivileged users on its file system (C(statvfs)), so that a copy can be refused before it
    starts instead of filling the disk halfway.
  - Changes nothing; the caller decides what to do with RV(enough) (role M(edgeai.slm_fleet.slm_release)
    refuses the host with host, path, free and needed bytes).
options:
  path:
    description: Where the artifact will be written.
    type: path
    required: true
  need_bytes:
    description: Bytes the artifact needs (the manifest's total size).
    type: int
    required: true
  margin_bytes:
    description: Bytes that must stay free beyond O(need_bytes).
    type: int
    default: 0
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Not supported.
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
- name: Measure the free space for the model copy
  edgeai.slm_fleet.slm_free_space:
    path: /var/lib/slm-fleet/onnx/models/phi-4-mini-instruct
    need_bytes: "{{ manifest.files | map(attribute='size') | sum }}"
    margin_bytes: 268435456
  register: space
"""

RETURN = r"""
checked_path:
  description: The existing directory whose file system was measured.
  returned: always
  type: str
free_bytes:
  description: Bytes available to unprivileged users there.
  returned: always
  type: int
needed_bytes:
  description: O(need_bytes) plus O(margin_bytes).
  returned: always
  type: int
enough:
  description: Whether RV(free_bytes) is at least RV(needed_bytes).
  returned: always
  type: bool
"""

import os

from ansible.module_utils.basic import AnsibleModule


def existing_ancestor(path):
    """``path`` or its nearest existing ancestor."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def free_bytes(path):
    """Bytes available to unprivileged users on the file system holding ``path``."""
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            need_bytes=dict(type="int", required=True),
            margin_bytes=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["need_bytes"] < 0 or p["margin_bytes"] < 0:
        module.fail_json(msg="need_bytes (%s) and margin_bytes (%s) must not be negative" % (p["need_bytes"], p["margin_bytes"]))
    checked = existing_ancestor(p["path"])
    try:
        free = free_bytes(checked)
    except OSError as exc:
        module.fail_json(msg="cannot measure the free space of %s: %s" % (checked, exc))
    needed = p["need_bytes"] + p["margin_bytes"]
    module.exit_json(changed=False, checked_path=checked, free_bytes=free, needed_bytes=needed, enough=free >= needed)


if __name__ == "__main__":
    main()
