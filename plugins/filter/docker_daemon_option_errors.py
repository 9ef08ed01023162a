# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters over Docker daemon settings, used by roles to validate input before any change."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: docker_daemon_option_errors
short_description: List the problems with a set of daemon.json options
version_added: 0.1.0
description:
  - Returns a list of readable messages, one per problem (unknown key, wrong type, malformed
    log-opts or registry URL). An empty list means dockerd will accept the options.
positional: _input
options:
  _input:
    description: The daemon.json keys and values to check.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Refuse malformed daemon options before touching the host
  ansible.builtin.assert:
    that: container_runtime_daemon_options | edgeai.slm_fleet.docker_daemon_option_errors | length == 0
"""

RETURN = r"""
_value:
  description: One message per problem; empty when the options are valid.
  type: list
  elements: str
"""

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.docker_daemon import validate_options


class FilterModule(object):
    """Daemon option filters."""

    def filters(self):
        return {"docker_daemon_option_errors": validate_options}
