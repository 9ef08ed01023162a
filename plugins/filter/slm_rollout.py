# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the rollout role: slm_rollout_verdict (did a batch fail), slm_rollout_summary (the
rollout's summary and its lines) and slm_rollout_batch_errors (is a batch list valid). Logic:
plugin_utils/rollout.py."""

from __future__ import annotations

from typing import Any

from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.rollout import (
    batch_sizes,
    batch_spec_errors,
    batch_verdict,
    summary,
    summary_lines,
)

DOCUMENTATION = r"""
name: slm_rollout_verdict
short_description: Whether a rollout batch failed its failure threshold
version_added: 0.3.0
description:
  - A host of the batch counts as failed when its rollout record says C(failed), or when it has no finished
    record (it became unreachable or was killed mid-batch). The batch fails when more than O(max_fail_percentage)
    of its hosts failed, the rule of Ansible's C(max_fail_percentage).
positional: _input, records, max_fail_percentage
options:
  _input:
    description: The hosts of the batch, as the batch started.
    type: list
    elements: str
    required: true
  records:
    description: Host name to its rollout record (C(outcome), ...); hosts without one count as failed.
    type: dict
    required: true
  max_fail_percentage:
    description: The percentage of failed hosts a batch tolerates.
    type: float
    required: true
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
verdict: "{{ batch_hosts | edgeai.slm_fleet.slm_rollout_verdict(records, 0) }}"
# ['gw-1', 'gw-2'] with gw-2 failed, threshold 0 -> {failed: [gw-2], failed_percentage: 50.0, exceeded: true}
"""

RETURN = r"""
_value:
  description: C(hosts), C(failed) (names), C(failed_percentage) and C(exceeded) (bool).
  type: dict
"""


def slm_rollout_verdict(batch: Any, records: Any, max_fail_percentage: Any) -> dict[str, Any]:
    """The verdict of a batch (see plugin_utils.rollout.batch_verdict)."""
    return batch_verdict(list(batch or []), dict(records or {}), float(max_fail_percentage))


def slm_rollout_summary(records: Any, site: str, state: Any, hosts: Any, settings: Any) -> dict[str, Any]:
    """The rollout summary with its printable ``lines`` (see plugin_utils.rollout.summary)."""
    result = summary(str(site), dict(state or {}), dict(records or {}), list(hosts or []), dict(settings or {}))
    result["batch_sizes"] = batch_sizes(list(result["settings"].get("batches") or [1]),
                                        sum(1 for h in result["hosts"].values() if h["batch"] is not None) or 1)
    return dict(result, lines=summary_lines(result))


def slm_rollout_batch_errors(spec: Any) -> list[str]:
    """Why a batch list is not valid (empty when it is)."""
    return batch_spec_errors(spec)


class FilterModule:
    """Rollout filters."""

    def filters(self) -> dict[str, Any]:
        """Filter name -> function."""
        return {
            "slm_rollout_verdict": slm_rollout_verdict,
            "slm_rollout_summary": slm_rollout_summary,
            "slm_rollout_batch_errors": slm_rollout_batch_errors,
        }
