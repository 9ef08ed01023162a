#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Remove old engine releases and the model versions no kept release uses."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: slm_release_prune
short_description: Remove engine releases and model versions beyond the ones kept for rollback
version_added: 0.1.0
description:
  - Releases are directories under O(releases_dir), each with a C(release.json) naming the model directory it
    mounts (C(model_dir)). Model versions are directories under O(models_dir).
  - Keeps the releases in O(pinned) (the serving and the previous one), then the newest others up to
    O(keep_releases); keeps every model version a kept release mounts, then the newest others up to
    O(keep_models). Staging directories (C(.staging-*)) are not versions and are never kept or counted.
  - Staging directories left by an interrupted earlier run (C(.staging-*) under each of O(staging_dirs)
    whose modification time is before O(staging_before)) are removed, so a failed copy does not hold
    the disk until the next successful copy of that very version.
options:
  releases_dir:
    description: Directory holding one subdirectory per release.
    type: path
    required: true
  models_dir:
    description: Directory holding one subdirectory per model version.
    type: path
    required: true
  pinned:
    description: Releases that are never removed.
    type: list
    elements: str
    default: []
  keep_releases:
    description: Releases kept, pinned ones included.
    type: int
    default: 2
  keep_models:
    description: Model versions kept, at least all those in use.
    type: int
    default: 2
  staging_dirs:
    description: Directories whose leftover C(.staging-*) subdirectories are removed.
    type: list
    elements: path
    default: []
  staging_before:
    description:
      - Seconds since the epoch (host clock); only staging directories last modified before it are removed.
      - Defaults to the module's start, which is right when it runs after this run's copies were promoted.
    type: float
attributes:
  check_mode:
    support: full
    description: Reports what it would remove without removing it.
  diff_mode:
    support: none
    description: Not supported.
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
- name: Keep the serving and the previous release and their models
  edgeai.slm_fleet.slm_release_prune:
    releases_dir: /var/lib/slm-fleet/onnx/releases
    models_dir: /var/lib/slm-fleet/onnx/models/phi-4-mini-instruct
    pinned: [3f2a9c1b0d4e, 77aa01bc3d2f]
"""

RETURN = r"""
removed_releases:
  description: Release directories removed.
  returned: always
  type: list
  elements: str
removed_models:
  description: Model version directories removed.
  returned: always
  type: list
  elements: str
removed_staging:
  description: Leftover staging directories removed (full paths).
  returned: always
  type: list
  elements: str
"""

import json
import os
import shutil
import stat
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_retention import retention


def subdirs(path):
    """[{name, mtime, path}] of the non-hidden subdirectories of ``path``."""
    if not os.path.isdir(path):
        return []
    found = []
    for name in os.listdir(path):
        full = os.path.join(path, name)
        if not name.startswith(".") and os.path.isdir(full) and not os.path.islink(full):
            found.append(dict(name=name, mtime=os.path.getmtime(full), path=full))
    return found


def stale_staging(dirs, before):
    """Full paths of the ``.staging-*`` entries of ``dirs`` last modified before ``before``."""
    found = []
    for parent in dirs:
        if not os.path.isdir(parent):
            continue
        for name in sorted(os.listdir(parent)):
            full = os.path.join(parent, name)
            if name.startswith(".staging-") and os.lstat(full).st_mtime < before:
                found.append(full)
    return found


def remove(path):
    """Remove a directory tree, or a file or symlink itself (never what a symlink points to)."""
    if stat.S_ISDIR(os.lstat(path).st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def model_of(release_path):
    """Name of the model version a release mounts, from its release.json (None when unreadable)."""
    try:
        with open(os.path.join(release_path, "release.json")) as handle:
            return os.path.basename(json.load(handle)["model_dir"].rstrip("/"))
    except (IOError, OSError, ValueError, KeyError, TypeError):
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            releases_dir=dict(type="path", required=True),
            models_dir=dict(type="path", required=True),
            pinned=dict(type="list", elements="str", default=[]),
            keep_releases=dict(type="int", default=2),
            keep_models=dict(type="int", default=2),
            staging_dirs=dict(type="list", elements="path", default=[]),
            staging_before=dict(type="float"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    before = p["staging_before"] if p["staging_before"] is not None else time.time()
    staging = stale_staging(p["staging_dirs"], before)
    releases = [dict(r, model=model_of(r["path"])) for r in subdirs(p["releases_dir"])]
    models = subdirs(p["models_dir"])
    plan = retention(releases, models, p["pinned"], p["keep_releases"], p["keep_models"])
    result = dict(changed=bool(plan["drop_releases"] or plan["drop_models"] or staging),
                  removed_releases=plan["drop_releases"], removed_models=plan["drop_models"], removed_staging=staging)
    if not module.check_mode:
        try:
            for name in plan["drop_releases"]:
                shutil.rmtree(os.path.join(p["releases_dir"], name))
            for name in plan["drop_models"]:
                shutil.rmtree(os.path.join(p["models_dir"], name))
            for path in staging:
                remove(path)
        except OSError as exc:
            module.fail_json(msg="cannot remove an old release, model or staging directory: %s" % exc, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
