# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""File digests shared by the modules that describe and verify shipped artifacts (stdlib only)."""

from __future__ import absolute_import, division, print_function

import hashlib
import os

__metaclass__ = type

#: Read size: large enough that hashing a multi-GB model is bound by the disk, not by Python.
CHUNK = 4 * 1024 * 1024


def sha256_of(path):
    """Return the hex sha256 of the regular file at ``path``, read in large chunks.

    The file is opened without following a final symbolic link (a link raises OSError ELOOP).
    """
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()
