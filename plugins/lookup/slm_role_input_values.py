# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Lookup: the host's values of role variables that can be resolved now (for preflight's input checks)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: slm_role_input_values
version_added: 0.2.0
author: edgeai.slm_fleet developers (@edgeai)
short_description: The values of the given variables that can be resolved now
description:
  - Returns one dictionary, variable name to templated value, for the given names that are defined.
  - A value whose template cannot be resolved yet (it refers to a fact or variable that only exists later in the
    run, or in a play that gathers no facts) is left out instead of failing the task; the role that uses it
    resolves and checks it itself. Its name is listed under C(unresolved) with the reason.
options:
  _terms:
    description: Variable names.
    required: true
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Show the container runtime settings the host has
  ansible.builtin.debug:
    msg: "{{ lookup('edgeai.slm_fleet.slm_role_input_values', 'container_runtime_engine_source', 'container_runtime_users') }}"
"""

RETURN = r"""
_raw:
  description: One dictionary with C(resolved) (name to value) and C(unresolved) (name to reason).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase


class LookupModule(LookupBase):
    """Resolvable values of role variables."""

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables or {}
        values, unresolved = {}, {}
        for name in terms:
            if not isinstance(name, str) or name not in variables:
                continue
            try:
                values[name] = self._templar.template(variables[name])
            except AnsibleError as exc:
                unresolved[name] = str(exc).split("\n", 1)[0]
        return [{"resolved": values, "unresolved": unresolved}]
