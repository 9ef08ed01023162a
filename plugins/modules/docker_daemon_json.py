#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Merge keys into Docker's daemon.json without clobbering keys written by others."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: docker_daemon_json
short_description: Merge settings into Docker's daemon.json, keeping keys written by other tools
version_added: 0.1.0
description:
  - Sets the given top-level keys in C(daemon.json) and keeps every other key as it is, so that
    settings written by an operator or another tool (for example C(nvidia-ctk runtime configure),
    which adds C(runtimes)) survive.
  - Keys this module set on an earlier run and that are no longer requested are removed. The list
    of keys it manages is kept in a small sidecar file next to C(daemon.json).
  - The file is only rewritten when its parsed content changes; formatting differences alone do
    not count as a change, so a restart handler fires only when dockerd would see a difference.
  - Settings are validated first (known keys, value types, log-opts and registry URL formats);
    a bad value fails the task before anything is written.
  - The write is atomic (temporary file and rename).
options:
  path:
    description: Path of the daemon configuration file.
    type: path
    default: /etc/docker/daemon.json
  settings:
    description: Top-level keys and values to set.
    type: dict
    required: true
  managed_keys_file:
    description:
      - Where the list of keys managed by this module is recorded.
      - Defaults to C(.daemon.json.managed-keys) in the directory of O(path).
    type: path
  validate:
    description: Validate O(settings) against the keys and types dockerd accepts.
    type: bool
    default: true
  backup:
    description: Keep a timestamped copy of the previous file when it is rewritten.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports the keys it would set or remove without writing the file.
  diff_mode:
    support: full
    description: Returns the file before and after the merge.
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
- name: Set log rotation and a registry mirror, keeping other keys
  edgeai.slm_fleet.docker_daemon_json:
    settings:
      log-driver: json-file
      log-opts:
        max-size: 10m
        max-file: "3"
      registry-mirrors:
        - https://mirror.site.example:5000
  notify: Restart docker
"""

RETURN = r"""
content:
  description: The merged configuration as written (or as it would be written in check mode).
  returned: always
  type: dict
  sample: {"log-driver": "json-file", "runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}}
added:
  description: Keys that were not in the file before.
  returned: always
  type: list
  elements: str
updated:
  description: Keys whose value changed.
  returned: always
  type: list
  elements: str
removed:
  description: Keys this module managed before and removed because they are no longer requested.
  returned: always
  type: list
  elements: str
kept:
  description: Keys left untouched because another tool or an operator owns them.
  returned: always
  type: list
  elements: str
backup_file:
  description: Path of the backup, when one was made.
  returned: when backup was made
  type: str
"""

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.docker_daemon import (
    merge,
    validate_options,
)


def _read_json(module, path, what):
    """Read a JSON document; a missing or empty file reads as ``default``."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, "r") as handle:
            text = handle.read()
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot read %s %s: %s" % (what, path, exc))
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        module.fail_json(
            msg="%s %s is not valid JSON (%s); fix or remove it by hand, it was left untouched"
            % (what, path, exc)
        )


def _write_json(module, path, data):
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.chmod(tmp, 0o644)
    module.atomic_move(tmp, path)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/docker/daemon.json"),
            settings=dict(type="dict", required=True),
            managed_keys_file=dict(type="path"),
            validate=dict(type="bool", default=True),
            backup=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    settings = module.params["settings"]
    record = module.params["managed_keys_file"] or os.path.join(
        os.path.dirname(path), ".daemon.json.managed-keys"
    )

    if module.params["validate"]:
        errors = validate_options(settings)
        if errors:
            module.fail_json(msg="invalid daemon.json settings: " + "; ".join(errors), errors=errors)

    current = _read_json(module, path, "daemon configuration")
    if current is None:
        current = {}
    if not isinstance(current, dict):
        module.fail_json(msg="%s must hold a JSON object, found %s; it was left untouched" % (path, type(current).__name__))
    managed_before = _read_json(module, record, "managed-keys record") or []
    if not isinstance(managed_before, list):
        managed_before = []

    merged, added, updated, removed = merge(current, settings, managed_before)
    changed = merged != current
    record_changed = sorted(settings) != sorted(managed_before)
    result = dict(
        changed=changed,
        content=merged,
        added=added,
        updated=updated,
        removed=removed,
        kept=sorted(k for k in merged if k not in settings),
    )
    if module._diff and changed:
        result["diff"] = dict(
            before=json.dumps(current, indent=2, sort_keys=True) + "\n",
            after=json.dumps(merged, indent=2, sort_keys=True) + "\n",
            before_header=path,
            after_header=path,
        )
    if module.check_mode:
        module.exit_json(**result)

    try:
        if changed:
            if module.params["backup"] and os.path.exists(path):
                result["backup_file"] = module.backup_local(path)
            _write_json(module, path, merged)
        if record_changed or not os.path.exists(record):
            _write_json(module, record, sorted(settings))
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot write %s: %s" % (path, exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
