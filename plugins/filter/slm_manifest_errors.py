# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters slm_manifest_errors and slm_path_name_error: refuse manifests and names that would escape a host path."""

from __future__ import annotations

from typing import Any

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_manifest_check import manifest_errors, name_problem

DOCUMENTATION = r"""
name: slm_manifest_errors
short_description: Every problem of an artifact manifest, before any of its paths touches a host
version_added: 0.2.0
description:
  - Each C(files) entry must have a relative, normalised C(path) (no C(..), not absolute, not empty, no NUL,
    backslash or control character, no duplicate, not both a file and a directory), a C(sha256) of 64 hex
    digits and a non-negative integer C(size); C(build_key), when present, must be hex.
  - Role M(edgeai.slm_fleet.slm_release) runs it before it creates or copies anything on a host.
  - The same plugin file provides C(slm_path_name_error), the problem of a name used as one host path
    component (a model name), or an empty string.
positional: _input
options:
  _input:
    description: The manifest (C(build_key), C(files)).
    type: dict
    required: true
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
problems: "{{ manifest | edgeai.slm_fleet.slm_manifest_errors }}"
# ["files[0] (path '../../../x'): path contains '..'"]
"""

RETURN = r"""
_value:
  description: One message per problem, naming the entry; empty when the manifest is sound.
  type: list
  elements: str
"""


def slm_manifest_errors(manifest: Any) -> list[str]:
    """One message per problem of ``manifest``."""
    return manifest_errors(manifest)


def slm_path_name_error(name: Any) -> str:
    """Why ``name`` cannot be one host path component, or ``''``."""
    return name_problem(name) or ""


class FilterModule:
    """slm_manifest_errors and slm_path_name_error filters."""

    def filters(self) -> dict[str, Any]:
        """Filter name -> function."""
        return {"slm_manifest_errors": slm_manifest_errors, "slm_path_name_error": slm_path_name_error}
