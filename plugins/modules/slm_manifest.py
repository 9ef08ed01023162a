#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Describe a model directory as a manifest (sha256 and size of every file) for verified shipping."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: slm_manifest
short_description: Describe a model directory (a checkpoint, a GGUF file's folder) as a checksummed manifest
version_added: 0.2.0
description:
  - Lists every regular file under O(path) with its sha256 and size, and derives a C(build_key) from that
    list, so that the same content always gives the same key (and the same versioned directory on hosts).
    The result is what the C(ship_model) entry point of the role C(edgeai.slm_fleet.slm_release) ships.
  - Refuses what must not be shipped, before anything is copied anywhere; a symbolic link (it could point
    outside the directory), a file that is not regular (device, socket, FIFO), and a name that is hidden
    or not valid UTF-8. Hidden entries (a leading dot, for example C(.git) or C(.cache)) are left out.
  - With O(cache_file), files whose size and modification time are unchanged since the last run are not
    read again (a multi-GB checkpoint is hashed once).
  - Usually runs on the control node (delegated to C(localhost)). Changes nothing but the cache file.
options:
  path:
    description: The directory to describe.
    type: path
    required: true
  cache_file:
    description: JSON file remembering the sha256 of files by path, size and modification time.
    type: path
attributes:
  check_mode:
    support: full
    description: Computes the manifest in check mode too; the cache file is not written.
  diff_mode:
    support: none
    description: Not supported.
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
- name: Describe the checkpoint on the control node
  edgeai.slm_fleet.slm_manifest:
    path: /srv/models/phi-4-mini-instruct
    cache_file: /var/lib/slm-fleet/build/manifest-cache.json
  delegate_to: localhost
  run_once: true
  register: checkpoint
"""

RETURN = r"""
manifest:
  description: C(build_key) (sha256 hex over the file list), C(files) (C(path), C(sha256), C(size)) and C(total_size).
  returned: success
  type: dict
  sample: {build_key: 5d0c2e..., total_size: 1470334, files: [{path: config.json, sha256: 9a1f..., size: 2540}]}
hashed_files:
  description: Files read this run (the others came from the cache).
  returned: success
  type: int
"""

import hashlib
import json
import os
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_files import sha256_of


def scan(root):
    """(entries, problems): [(relative path, absolute path, os.stat_result)] sorted, and what must not be shipped."""
    entries, problems = [], []
    for current, dirs, files in os.walk(root):
        for name in sorted(dirs):
            full = os.path.join(current, name)
            if os.path.islink(full):
                problems.append("%s is a symbolic link" % os.path.relpath(full, root))
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(current, d)))
        for name in sorted(files):
            if name.startswith("."):
                continue
            full = os.path.join(current, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                problems.append("%r has a name that is not valid UTF-8" % rel)
                continue
            info = os.lstat(full)
            if stat.S_ISLNK(info.st_mode):
                problems.append("%s is a symbolic link" % rel)
            elif not stat.S_ISREG(info.st_mode):
                problems.append("%s is not a regular file" % rel)
            else:
                entries.append((rel, full, info))
    return sorted(entries), problems


def build_key(files):
    """sha256 hex over the sorted file list: the same content gives the same key."""
    digest = hashlib.sha256()
    for entry in sorted(files, key=lambda f: f["path"]):
        digest.update(("%s\0%s\0%d\n" % (entry["path"], entry["sha256"], entry["size"])).encode("utf-8"))
    return digest.hexdigest()


def load_cache(path):
    """The cache's {path: [size, mtime_ns, sha256]} ({} when absent or unreadable)."""
    if not path:
        return {}
    try:
        with open(path) as handle:
            data = json.load(handle)
        return data if isinstance(data, dict) else {}
    except (IOError, OSError, ValueError):
        return {}


def describe(root, cache):
    """(manifest, hashed count, new cache) for the entries under ``root``."""
    entries, problems = scan(root)
    if problems:
        raise ValueError("; ".join(problems))
    if not entries:
        raise ValueError("it has no files")
    files, hashed, new_cache = [], 0, {}
    for rel, full, info in entries:
        key = os.path.abspath(full)
        known = cache.get(key)
        if isinstance(known, list) and len(known) == 3 and known[:2] == [info.st_size, info.st_mtime_ns]:
            digest = known[2]
        else:
            digest = sha256_of(full)
            hashed += 1
        new_cache[key] = [info.st_size, info.st_mtime_ns, digest]
        files.append({"path": rel, "sha256": digest, "size": info.st_size})
    manifest = {"build_key": build_key(files), "files": files, "total_size": sum(f["size"] for f in files)}
    return manifest, hashed, new_cache


def main():
    module = AnsibleModule(argument_spec=dict(path=dict(type="path", required=True), cache_file=dict(type="path")),
                           supports_check_mode=True)
    root, cache_file = module.params["path"], module.params["cache_file"]
    if not os.path.isdir(root) or os.path.islink(root):
        module.fail_json(msg="%s is not a directory (a model to ship must be a directory of regular files)" % root)
    try:
        manifest, hashed, new_cache = describe(root, load_cache(cache_file))
    except ValueError as exc:
        module.fail_json(msg="%s cannot be shipped: %s. Nothing was copied anywhere." % (root, exc))
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot read %s: %s" % (root, exc))
    if cache_file and not module.check_mode:
        try:
            directory = os.path.dirname(cache_file)
            if directory and not os.path.isdir(directory):
                os.makedirs(directory)
            merged = dict(load_cache(cache_file), **new_cache)
            tmp = cache_file + ".tmp"
            with open(tmp, "w") as handle:
                json.dump(merged, handle, sort_keys=True)
            os.rename(tmp, cache_file)
        except (IOError, OSError) as exc:
            module.warn("could not write the manifest cache %s: %s" % (cache_file, exc))
    module.exit_json(changed=False, manifest=manifest, hashed_files=hashed)


if __name__ == "__main__":
    main()
