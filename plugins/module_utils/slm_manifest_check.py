# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure checks of an artifact manifest and of the names that become host paths.

A manifest's ``path`` entries and a model's name become paths on a host (directories are created,
files copied, old versions removed with rmtree), so each is checked before anything touches a host:
a path must stay inside the artifact root, a name must be one path component.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re

SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
HEX = re.compile(r"^[0-9a-fA-F]{12,}$")
# One path component: starts with a letter or digit, then letters, digits, '.', '_', '-'.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
NAME_RULE = ("one path component of 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit "
             "(no '/', no '..', no leading dot)")


def path_problem(path):
    """Why ``path`` cannot be a file of an artifact (None when it is a clean relative path)."""
    if not isinstance(path, str):
        return "path is not a string"
    if path == "":
        return "path is empty"
    if "\x00" in path:
        return "path contains a NUL byte"
    if "\\" in path:
        return "path contains a backslash"
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return "path contains a control character"
    if path.startswith("/"):
        return "path is absolute"
    parts = path.split("/")
    if ".." in parts:
        return "path contains '..'"
    if posixpath.normpath(path) != path or "." in parts:
        return "path is not normalised (empty, '.' or trailing components; it normalises to %r)" % posixpath.normpath(path)
    return None


def manifest_errors(manifest):
    """Every problem of a manifest (``build_key`` + ``files``), each naming the entry; empty when it is sound."""
    if not isinstance(manifest, dict):
        return ["the manifest is not a mapping (got %s)" % type(manifest).__name__]
    errors = []
    if "build_key" in manifest:
        key = manifest["build_key"]
        if not isinstance(key, str) or not HEX.match(key):
            errors.append("build_key %r is not a hex string of at least 12 digits" % (key,))
    files = manifest.get("files")
    if not isinstance(files, list) or not files:
        return errors + ["files must be a non-empty list of {path, sha256, size}"]
    seen = {}
    for index, entry in enumerate(files):
        where = "files[%d]" % index
        if not isinstance(entry, dict):
            errors.append("%s is not a mapping" % where)
            continue
        path = entry.get("path")
        if isinstance(path, str):
            where = "files[%d] (path %r)" % (index, path)
        problem = path_problem(path)
        if problem:
            errors.append("%s: %s" % (where, problem))
        elif path in seen:
            errors.append("%s: duplicate of files[%d]" % (where, seen[path]))
        else:
            seen[path] = index
        sha = entry.get("sha256")
        if not isinstance(sha, str) or not SHA256.match(sha):
            errors.append("%s: sha256 %r is not 64 hex digits" % (where, sha))
        size = entry.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            errors.append("%s: size %r is not a non-negative integer" % (where, size))
    # A file may not also be a directory of another file (a/b and a/b/c).
    for path in seen:
        parent = posixpath.dirname(path)
        while parent:
            if parent in seen:
                errors.append("files[%d] (path %r): its directory %r is also listed as a file" % (seen[path], path, parent))
                break
            parent = posixpath.dirname(parent)
    return errors


def name_problem(name):
    """Why ``name`` cannot be one component of a host path (None when it can)."""
    if not isinstance(name, str) or not NAME.match(name) or name in (".", ".."):
        return "must be %s" % NAME_RULE
    return None
