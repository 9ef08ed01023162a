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
  - Every entry is examined with C(lstat), never through a symlink - a symlink, FIFO, socket or device in the
    staging directory is refused (Linux cannot chmod a symlink itself, so none may be promoted), and the
    manifest's paths must be relative and normalised (no C(..)).
  - Promotion always hashes every staged file. The C(.slm-verified.json) record in O(dest) is only a hint that
    the copy can be skipped, so when O(dest) already holds a record of the same manifest nothing is copied,
    but every file is re-checked - by default its type and size with one C(lstat) each (milliseconds, no file
    content read), and no file may be missing, extra, a symlink or writable; with O(rehash) every byte is read
    and hashed again (seconds per GB). A copy that no longer matches fails the task and is left as it is.
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
  rehash:
    description:
      - Re-hash every file of an already promoted O(dest) instead of checking only type, size and mode.
      - Promotion from O(staging) always hashes, whatever this says.
    type: bool
    default: false
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
  description: Number of files whose digest was computed in this run (0 when O(dest) was already verified and O(rehash) is false).
  returned: always
  type: int
checked:
  description: Number of files whose type and size were checked in this run.
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
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_artifact_tree import (
    describe, find_mismatches, make_read_only)

RECORD = ".slm-verified.json"


def manifest_digest(files):
    """A stable digest of the manifest's file list, recorded in the promoted directory."""
    canonical = sorted((f["path"], f["sha256"].lower(), f.get("size")) for f in files)
    return hashlib.sha256(json.dumps(canonical).encode("utf-8")).hexdigest()


def recorded_digest(dest):
    """The manifest digest recorded in ``dest`` (None when there is no readable record)."""
    path = os.path.join(dest, RECORD)
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        with open(path) as handle:
            return json.load(handle).get("manifest_digest")
    except (IOError, OSError, ValueError, AttributeError):
        return None


def writable(dest):
    """Relative paths below ``dest`` (itself included) that anyone may write to."""
    found = ["."] if os.lstat(dest).st_mode & 0o222 else []
    for base, dirs, names in os.walk(dest):
        for name in dirs + names:
            full = os.path.join(base, name)
            info = os.lstat(full)
            if not stat.S_ISLNK(info.st_mode) and info.st_mode & 0o222:
                found.append(os.path.relpath(full, dest))
    return found


def recheck(module, dest, files, extra, result):
    """Check an already promoted ``dest`` against the manifest; fail the task when it no longer matches."""
    problems = find_mismatches(dest, files, extra, rehash=module.params["rehash"])
    problems += [dict(path=rel, problem="writable (promoted files are read-only)", expected=None, actual=None)
                 for rel in writable(dest)]
    result["checked"] = len(files)
    result["verified"] = len(files) if module.params["rehash"] else 0
    if problems:
        module.fail_json(msg="%s holds a verified record of this manifest but no longer matches it (%s); it was left "
                             "as it is: remove it by hand (after stopping a release that mounts it) and run again"
                             % (dest, describe(problems)), mismatches=problems, **result)
    module.exit_json(**result)


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
            rehash=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    staging, dest, files = module.params["staging"], module.params["dest"], module.params["files"]
    total = sum(int(f.get("size") or 0) for f in files)
    digest = manifest_digest(files)
    extra = set(module.params["extra_files"]) | {RECORD}
    result = dict(changed=False, dest=dest, verified=0, checked=0, bytes=total)

    if os.path.lexists(dest) and not stat.S_ISDIR(os.lstat(dest).st_mode):
        module.fail_json(msg="%s exists and is not a directory (a symlink?); remove it by hand" % dest, **result)
    if recorded_digest(dest) == digest:
        recheck(module, dest, files, extra, result)
    if os.path.lexists(dest):
        module.fail_json(msg="%s exists but holds no verification record of this manifest; remove it by hand "
                             "(it is not in use by a verified release)" % dest, **result)
    if not os.path.lexists(staging) or not stat.S_ISDIR(os.lstat(staging).st_mode):
        module.fail_json(msg="staging directory %s does not exist or is not a directory" % staging, **result)

    problems = find_mismatches(staging, files, extra, rehash=True)
    result["verified"] = result["checked"] = len(files)
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
