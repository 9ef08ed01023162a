# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""File digests shared by the modules that describe and verify shipped artifacts (stdlib only)."""

from __future__ import absolute_import, division, print_function

import hashlib

__metaclass__ = type

#: Read size: large enough that hashing a multi-GB model is bound by the disk, not by Python.
CHUNK = 4 * 1024 * 1024


def sha256_of(path):
    """Return the hex sha256 of the file at ``path``, read in large chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()
