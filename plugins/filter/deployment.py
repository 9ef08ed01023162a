# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Deployment decisions: hardware facts -> profile -> engine, quantization, settings, memory budget.

Filters (all pure; they run on the controller and read nothing but their arguments):

``slm_profile(hardware, thresholds=None, requested=None)``
    Which deployment profile the host qualifies for (``development``, ``production_cpu``,
    ``production_gpu``, ``edge_optimized``), with every check and a refusal message per missing
    resource. Thresholds default to DESIGN.md's table; partial dicts merge over it.
``slm_engine_plan(hardware, profile_result, preferences=None, model=None, images=None)``
    Engine (``vllm``, ``ollama``, ``onnx``), model variant, engine settings and the memory and
    disk budget they imply, checked against the host.
``slm_os_check(hardware, supported=None)``
    Whether the OS is one the collection supports.
``slm_plan_row(hardware, profile_result, engine_plan, host=None, group=None, os_result=None)``
    One flat row of the fleet plan table (and its JSON).
``slm_model(model=None)``
    The model catalog entry (default Phi-4-mini-instruct) with ``model`` merged over it.

Units: every ``*_mb`` value is MiB; "GB" in messages is GiB (1024 MiB) with one decimal.
``docs/deployment_profiles.md`` explains the table, the formulas and every message.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_budget import slm_model
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_engine import slm_engine_plan
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_profile import slm_profile
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.deployment_row import slm_os_check, slm_plan_row


class FilterModule(object):
    """edgeai.slm_fleet deployment filters."""

    def filters(self) -> dict[str, Any]:
        """Filter name -> function."""
        return {
            "slm_profile": slm_profile,
            "slm_engine_plan": slm_engine_plan,
            "slm_os_check": slm_os_check,
            "slm_plan_row": slm_plan_row,
            "slm_model": slm_model,
        }
