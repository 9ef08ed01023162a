# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Input checks of every role, run by preflight before the first change (logic in plugin_utils/role_inputs.py).

``slm_unknown_role_vars(names, catalog, ignore=[])``
    Names that look like a role variable but are not one, with the closest known name.
``slm_role_input_sets(catalog, roles, provided)``
    Argument spec and values (host's over the role's literal defaults) of each role to validate.
``slm_input_errors(results)``
    The refusals of ``validate_argument_spec`` over those sets, one readable line per role.

The catalog comes from the ``edgeai.slm_fleet.slm_role_inputs`` lookup.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.role_inputs import (
    input_errors,
    input_sets,
    unknown_message,
    unknown_role_variables,
)


def slm_unknown_role_vars(names: Any, catalog: Any, ignore: Any = None) -> list[dict[str, Any]]:
    """Unknown role-prefixed names, each with ``name``, ``role``, ``suggestion`` and ``message``."""
    found = unknown_role_variables(list(names or []), catalog, list(ignore or []))
    return [dict(item, message=unknown_message(item)) for item in found]


class FilterModule(object):
    """edgeai.slm_fleet role input filters."""

    def filters(self) -> dict[str, Any]:
        """Filter name -> function."""
        return {
            "slm_unknown_role_vars": slm_unknown_role_vars,
            "slm_role_input_sets": input_sets,
            "slm_input_errors": input_errors,
        }
