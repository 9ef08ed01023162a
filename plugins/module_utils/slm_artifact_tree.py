# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compare an artifact directory with its manifest without ever following a symlink.

Used by module slm_artifact on the host: stdlib only. Every path is examined with ``lstat``, so a
symlink or special file planted in a staging (or promoted) directory is reported, never read
through, hashed, chmod-ed or chown-ed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_files import sha256_of
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_manifest_check import path_problem


def kind_of(mode):
    """A word for a non-regular, non-directory file type."""
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def walk_entries(root):
    """(relative path, lstat) of every entry below ``root``; directories are descended, symlinks never."""
    found = []
    for base, dirs, names in os.walk(root):
        for name in dirs + names:
            full = os.path.join(base, name)
            found.append((os.path.relpath(full, root), os.lstat(full)))
    return found


def problem(path, what, expected=None, actual=None):
    """One mismatch record."""
    return dict(path=path, problem=what, expected=expected, actual=actual)


def find_mismatches(root, files, extra_allowed, rehash=True):
    """Compare ``root`` with the manifest; a list of problems, empty when it matches.

    With ``rehash`` every file is read and hashed; without it only type and size are compared (lstat).
    """
    problems = []
    listed = set()
    parents = set()
    for entry in files:
        rel = entry["path"]
        why = path_problem(rel)
        if why:
            problems.append(problem(rel, "path escapes the artifact root (%s)" % why))
            continue
        listed.add(rel)
        parent = os.path.dirname(rel)
        while parent:
            parents.add(parent)
            parent = os.path.dirname(parent)
    entries = dict(walk_entries(root))
    for rel, info in sorted(entries.items()):
        if stat.S_ISDIR(info.st_mode):
            if rel not in parents:
                problems.append(problem(rel, "directory not in the manifest"))
        elif not stat.S_ISREG(info.st_mode):
            problems.append(problem(rel, "%s (refused: only regular files are shipped)" % kind_of(info.st_mode)))
        elif rel not in listed and rel not in extra_allowed:
            problems.append(problem(rel, "not in the manifest"))
    for entry in files:
        rel = entry["path"]
        if rel not in listed:
            continue
        info = entries.get(rel)
        if info is None:
            problems.append(problem(rel, "missing", expected=entry["sha256"]))
            continue
        if not stat.S_ISREG(info.st_mode):
            continue  # reported above
        if entry.get("size") is not None and info.st_size != entry["size"]:
            problems.append(problem(rel, "size differs", expected=entry["size"], actual=info.st_size))
            continue
        if rehash:
            actual = sha256_of(os.path.join(root, rel))
            if actual != entry["sha256"].lower():
                problems.append(problem(rel, "sha256 differs", expected=entry["sha256"].lower(), actual=actual))
    return problems


def make_read_only(root, uid, gid):
    """Files 0444, directories 0555, owned by uid:gid; symlinks are skipped (Linux has no lchmod)."""
    for base, dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(base, name)
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            os.chown(path, uid, gid, follow_symlinks=False)
            os.chmod(path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        for name in dirs:
            os.chown(os.path.join(base, name), uid, gid, follow_symlinks=False)
    os.chown(root, uid, gid, follow_symlinks=False)
    for base, dirs, _names in os.walk(root):
        for name in dirs:
            path = os.path.join(base, name)
            if stat.S_ISDIR(os.lstat(path).st_mode):
                os.chmod(path, 0o555)
    os.chmod(root, 0o555)


def describe(problems):
    """The problems as one sentence fragment."""
    parts = []
    for p in problems:
        if p["problem"] == "sha256 differs":
            parts.append("%s: sha256 %s, manifest says %s" % (p["path"], p["actual"], p["expected"]))
        elif p["problem"] == "size differs":
            parts.append("%s: %s bytes, manifest says %s" % (p["path"], p["actual"], p["expected"]))
        else:
            parts.append("%s: %s" % (p["path"], p["problem"]))
    return "; ".join(parts)
