# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter slm_verify_verdict: one host's verdict from its health, reasoning and golden results and the gates."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

DOCUMENTATION = r"""
name: slm_verify_verdict
short_description: Whether a host passed verification, and why, from its results and the gate policy
version_added: 0.3.0
description:
  - C(passed) is true when the engine is healthy and every enforced gate passed. The reasoning suite is enforced
    by O(reasoning_gate=enforce); the golden answers by O(golden_gate=enforce), and only on hosts whose engine
    record names a golden file (engines without golden answers have no golden gate).
  - C(enforced) says whether any gate is enforced on this host (the verify role fails a host only then, so a
    site that reports everything never fails a host).
  - C(reason) is one line naming each failing part (health, reasoning, golden) with its summary, or what passed.
positional: _input, probe, golden, reasoning_gate, golden_gate
options:
  _input:
    description: The result of M(edgeai.slm_fleet.slm_health) (empty when no engine is deployed).
    type: dict
    required: true
  probe:
    description: The result of M(edgeai.slm_fleet.slm_probe) (empty when it did not run).
    type: dict
    required: true
  golden:
    description: The result of M(edgeai.slm_fleet.slm_golden) (empty when the host has no golden file).
    type: dict
    required: true
  reasoning_gate:
    description: C(verify_gate), V(enforce) or V(report).
    type: str
    required: true
  golden_gate:
    description: C(verify_golden_gate), V(enforce) or V(report).
    type: str
    required: true
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
verdict: "{{ verify_health | edgeai.slm_fleet.slm_verify_verdict(verify_probe, verify_golden, verify_gate, verify_golden_gate) }}"
# {"passed": true, "enforced": true, "golden_status": "passed",
#  "reason": "healthy; golden answers (enforced): 3/3 golden answers reproduced; reasoning (reported): 0/9 ..."}
"""

RETURN = r"""
_value:
  description: "C(passed), C(enforced), C(reason), C(golden_status) (V(passed), V(failed) or V(none))."
  type: dict
"""


def _ran(result: Optional[Dict[str, Any]]) -> bool:
    return bool(result) and not result.get("skipped") and "passed" in result


def slm_verify_verdict(health: Optional[Dict[str, Any]], probe: Optional[Dict[str, Any]],
                       golden: Optional[Dict[str, Any]], reasoning_gate: str, golden_gate: str) -> Dict[str, Any]:
    """See DOCUMENTATION."""
    health, probe, golden = health or {}, probe or {}, golden or {}
    has_golden = _ran(golden) or bool(golden.get("failed"))
    golden_state = "none" if not has_golden else ("passed" if golden.get("passed") else "failed")
    enforced = reasoning_gate == "enforce" or (golden_gate == "enforce" and has_golden)
    if not health or health.get("skipped"):
        return {"passed": False, "enforced": enforced, "golden_status": golden_state,
                "reason": "no engine deployed on this host (no engine record)"}
    if health.get("status") != "healthy":
        return {"passed": False, "enforced": enforced, "golden_status": golden_state,
                "reason": "engine not healthy: %s" % (health.get("reason") or health.get("msg") or health.get("status"))}
    failing: List[str] = []
    passing: List[str] = ["healthy"]
    parts = []
    if has_golden:
        text = golden.get("summary") or golden.get("msg") or golden_state
        parts.append((golden_gate, "golden answers", bool(golden.get("passed")), text))
    if _ran(probe):
        parts.append((reasoning_gate, "reasoning", bool(probe.get("passed")), probe.get("summary") or ""))
    elif reasoning_gate == "enforce":
        parts.append(("enforce", "reasoning", False, "the reasoning suite did not run"))
    for gate, name, ok, text in parts:
        line = "%s (%s): %s" % (name, "enforced" if gate == "enforce" else "reported", text)
        (failing if gate == "enforce" and not ok else passing).append(line)
    return {"passed": not failing, "enforced": enforced, "golden_status": golden_state,
            "reason": "; ".join(failing) if failing else "; ".join(passing)}


class FilterModule:
    """slm_verify_verdict filter."""

    def filters(self) -> Dict[str, Any]:
        """Filter name -> function."""
        return {"slm_verify_verdict": slm_verify_verdict}
