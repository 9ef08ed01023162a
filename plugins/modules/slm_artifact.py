#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify a staged artifact directory against its manifest and promote it atomically."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: slm_artifact
short_description: Verify a staged artifact against its manifest, then promote it read-only in one rename
version_added: 0.1.0
description:
  - Model directories and image archives reach a host in a staging directory. This module checks every file of
    the staging directory against the sha256 and size the manifest lists (no missing, no extra, no altered
    file) and only then renames it to its final, versioned path and makes it read-only.
  - A mismatch fails the task, names each bad file with the expected and actual digests, and removes the
    staging directory; the final path and whatever is currently serving are never touched.
  - When O(dest) already holds a verified copy of the same manifest, nothing is read or written
    (the module compares the recorded manifest, not the file contents, so a re-run costs no I/O).
options:
  staging:
    description: Directory the files were copied to. Ignored when O(dest) is already verified.
    type: path
    required: true
  dest:
    description: Final path of the artifact, usually versioned (C(.../models/<name>/<short-sha>)).
    type: path
    required: true
  files:
    description: The manifest's file list.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Path relative to the artifact root.
        type: str
        required: true
      sha256:
        description: Expected sha256, hex.
        type: str
        required: true
      size:
        description: Expected size in bytes.
        type: int
  extra_files:
    description: Files present in the staging directory but absent from the manifest that are allowed (for example C(manifest.json)).
    type: list
    elements: str
    default: [manifest.json]
  owner:
    description: Owner given to the promoted files.
    type: str
    default: root
  group:
    description: Group given to the promoted files.
    type: str
    default: root
attributes:
  check_mode:
    support: full
    description: Verifies the staged files and reports the promotion it would make, without renaming or changing permissions.
  diff_mode:
    support: none
    description: Not supported.
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
- name: Verify the copied model and make it the version on disk
  edgeai.slm_fleet.slm_artifact:
    staging: /var/lib/slm-fleet/models/phi-4-mini/.staging-3f2a9c1b
    dest: /var/lib/slm-fleet/models/phi-4-mini/3f2a9c1b
    files: "{{ manifest.files }}"
"""

RETURN = r"""
dest:
  description: The final path.
  returned: always
  type: str
verified:
  description: Number of files whose digest was checked in this run (0 when O(dest) was already verified).
  returned: always
  type: int
bytes:
  description: Total size of the artifact, from the manifest.
  returned: always
  type: int
mismatches:
  description: One entry per bad file (C(path), C(problem), C(expected), C(actual)).
  returned: on failure
  type: list
  elements: dict
"""

import grp
import hashlib
import json
import os
import pwd
import shutil
import stat

from ansible.module_utils.basic import AnsibleModule

RECORD = ".slm-verified.json"
CHUNK = 4 * 1024 * 1024


def sha256_of(path):
    """Return the hex sha256 of a file, read in large chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_digest(files):
    """A stable digest of the manifest's file list, recorded in the promoted directory."""
    canonical = sorted((f["path"], f["sha256"].lower(), f.get("size")) for f in files)
    return hashlib.sha256(json.dumps(canonical).encode("utf-8")).hexdigest()


def already_verified(dest, digest):
    """True when ``dest`` holds a record of a successful verification of this manifest."""
    try:
        with open(os.path.join(dest, RECORD)) as handle:
            return json.load(handle).get("manifest_digest") == digest
    except (IOError, OSError, ValueError):
        return False


def list_files(root):
    """Relative paths of every regular file below ``root``."""
    found = []
    for base, _dirs, names in os.walk(root):
        for name in names:
            found.append(os.path.relpath(os.path.join(base, name), root))
    return found


def find_mismatches(staging, files, extra_allowed):
    """Compare ``staging`` with the manifest; return a list of problems (empty when it matches)."""
    problems = []
    listed = set()
    for entry in files:
        rel = os.path.normpath(entry["path"])
        if rel.startswith("..") or os.path.isabs(rel):
            problems.append(dict(path=entry["path"], problem="path escapes the artifact root", expected=None, actual=None))
            continue
        listed.add(rel)
        full = os.path.join(staging, rel)
        if not os.path.isfile(full):
            problems.append(dict(path=rel, problem="missing", expected=entry["sha256"], actual=None))
            continue
        size = os.path.getsize(full)
        if entry.get("size") is not None and size != entry["size"]:
            problems.append(dict(path=rel, problem="size differs", expected=entry["size"], actual=size))
            continue
        actual = sha256_of(full)
        if actual != entry["sha256"].lower():
            problems.append(dict(path=rel, problem="sha256 differs", expected=entry["sha256"].lower(), actual=actual))
    for rel in list_files(staging):
        if rel not in listed and rel not in extra_allowed:
            problems.append(dict(path=rel, problem="not in the manifest", expected=None, actual=None))
    return problems


def make_read_only(root, uid, gid):
    """Files 0444, directories 0555, owned by uid:gid."""
    for base, dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(base, name)
            os.chown(path, uid, gid)
            os.chmod(path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        for name in dirs:
            os.chown(os.path.join(base, name), uid, gid)
    os.chown(root, uid, gid)
    for base, dirs, _names in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(base, name), 0o555)
    os.chmod(root, 0o555)


def describe(problems):
    parts = []
    for p in problems:
        if p["problem"] == "sha256 differs":
            parts.append("%s: sha256 %s, manifest says %s" % (p["path"], p["actual"], p["expected"]))
        elif p["problem"] == "size differs":
            parts.append("%s: %s bytes, manifest says %s" % (p["path"], p["actual"], p["expected"]))
        else:
            parts.append("%s: %s" % (p["path"], p["problem"]))
    return "; ".join(parts)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            staging=dict(type="path", required=True),
            dest=dict(type="path", required=True),
            files=dict(type="list", elements="dict", required=True, options=dict(
                path=dict(type="str", required=True),
                sha256=dict(type="str", required=True),
                size=dict(type="int"),
            )),
            extra_files=dict(type="list", elements="str", default=["manifest.json"]),
            owner=dict(type="str", default="root"),
            group=dict(type="str", default="root"),
        ),
        supports_check_mode=True,
    )
    staging, dest, files = module.params["staging"], module.params["dest"], module.params["files"]
    total = sum(int(f.get("size") or 0) for f in files)
    digest = manifest_digest(files)
    result = dict(changed=False, dest=dest, verified=0, bytes=total)

    if already_verified(dest, digest):
        module.exit_json(**result)
    if os.path.exists(dest):
        module.fail_json(msg="%s exists but holds no verification record of this manifest; remove it by hand "
                             "(it is not in use by a verified release)" % dest, **result)
    if not os.path.isdir(staging):
        module.fail_json(msg="staging directory %s does not exist" % staging, **result)

    problems = find_mismatches(staging, files, set(module.params["extra_files"]) | {RECORD})
    result["verified"] = len(files)
    if problems:
        if not module.check_mode:
            shutil.rmtree(staging, ignore_errors=True)
        module.fail_json(msg="artifact refused, %d of %d files do not match the manifest (%s); nothing was switched "
                             "and the staging copy was removed" % (len(problems), len(files), describe(problems)),
                         mismatches=problems, **result)
    result["changed"] = True
    if module.check_mode:
        module.exit_json(**result)
    try:
        uid = pwd.getpwnam(module.params["owner"]).pw_uid
        gid = grp.getgrnam(module.params["group"]).gr_gid
        with open(os.path.join(staging, RECORD), "w") as handle:
            json.dump(dict(manifest_digest=digest, files=len(files), bytes=total), handle)
        make_read_only(staging, uid, gid)
        parent = os.path.dirname(dest)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755)
        os.rename(staging, dest)
    except (IOError, OSError, KeyError) as exc:
        module.fail_json(msg="cannot promote %s to %s: %s" % (staging, dest, exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
