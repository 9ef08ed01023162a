# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""GPU host decisions for the nvidia_gpu role (pure; logic in plugins/plugin_utils/nvidia_gpu_*.py).

``nvidia_gpu_plan(hardware, host_facts, settings)``
    Skip (no GPU, Jetson), refuse (control node, Secure Boot with an unsigned module, missing
    kernel headers, a driver too old for the image's CUDA...), show the plan only (simulated GPU)
    or apply it: driver, container toolkit, Docker's nvidia runtime, CDI spec, reboot.
``nvidia_gpu_daemon_runtimes(daemon_json, entry=None)``
    daemon.json's ``runtimes`` with ``nvidia`` merged in, other runtimes kept.
``nvidia_gpu_control_node_refusal(host, connection, allowed=False)``
    The refusal message for the control node, or None.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.nvidia_gpu_plan import (
    control_node_refusal,
    daemon_runtimes,
    nvidia_gpu_plan,
)


class FilterModule(object):
    """edgeai.slm_fleet GPU host filters."""

    def filters(self) -> dict[str, Any]:
        """Filter name -> function."""
        return {
            "nvidia_gpu_plan": nvidia_gpu_plan,
            "nvidia_gpu_daemon_runtimes": daemon_runtimes,
            "nvidia_gpu_control_node_refusal": control_node_refusal,
        }
