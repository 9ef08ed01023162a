# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Lookup: the catalog of what every role of the collection accepts (logic in plugin_utils/role_catalog.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: slm_role_inputs
version_added: 0.2.0
author: edgeai.slm_fleet developers (@edgeai)
short_description: What every role of the collection accepts
description:
  - Reads each role directory under the given roles directory on the control node (roles are discovered, not
    listed) and returns, per role, its variable prefix, every name it knows (argument spec options, defaults,
    vars, facts and results its tasks set), its argument spec options and its literal defaults.
options:
  _terms:
    description: The roles directory of the collection (for example C({{ role_path }}/..)).
    required: true
    type: list
    elements: path
"""

EXAMPLES = r"""
- name: Read what every role accepts
  ansible.builtin.set_fact:
    catalog: "{{ query('edgeai.slm_fleet.slm_role_inputs', role_path ~ '/..') | first }}"
"""

RETURN = r"""
_raw:
  description: One catalog per term - role name to C(prefix), C(known), C(spec) (null without argument specs), C(defaults).
  type: list
  elements: dict
"""

import os

import yaml
from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.role_catalog import role_catalog


class LookupModule(LookupBase):
    """Role catalog lookup."""

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        catalogs = []
        for term in terms:
            path = os.path.realpath(os.path.expanduser(str(term)))
            if not os.path.isdir(path):
                raise AnsibleLookupError("slm_role_inputs: %s is not a directory of roles" % term)
            try:
                catalogs.append(role_catalog(path))
            except (OSError, ValueError, yaml.YAMLError) as exc:
                raise AnsibleLookupError("slm_role_inputs: cannot read the roles under %s: %s" % (term, exc)) from exc
        return catalogs
