# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter slm_pull_result_line: one line per gateway from the last result its pull agent kept."""

from __future__ import annotations

from typing import Any, Mapping

DOCUMENTATION = r"""
name: slm_pull_result_line
short_description: One summary line from a pull agent's last result
version_added: 0.3.0
description:
  - Takes the JSON a gateway's pull agent (role C(edgeai.slm_fleet.pull_agent)) keeps in C(last-result.json) and
    returns one line for people - host, status, when, commit, the host's own play recap and the reason of a failure.
  - Hosts without a result (C(status) C(unreachable) or C(no result)) give a line saying so.
positional: _input
options:
  _input:
    description: The result dict.
    type: dict
    required: true
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
lines: "{{ results | map('edgeai.slm_fleet.slm_pull_result_line') | list }}"
# gw-07: ok at 2026-12-02T06:41:09+00:00, commit 3f2a9c1b7e4d, recap ok=120 changed=0 failed=0 unreachable=0
"""

RETURN = r"""
_value:
  description: The summary line.
  type: str
"""

REASON_MAX = 300


def slm_pull_result_line(result: Mapping[str, Any]) -> str:
    """``host: status at time, commit X, recap ... - reason``."""
    if not isinstance(result, Mapping):
        return f"invalid pull result: {result!r}"[:REASON_MAX]
    host = str(result.get("host") or "?")
    status = str(result.get("status") or "unknown")
    parts = [f"{host}: {status}"]
    if result.get("finished"):
        parts[0] += f" at {result['finished']}"
    commit = result.get("commit") or result.get("remote_commit")
    if commit:
        parts.append(f"commit {str(commit)[:12]}")
    recap = (result.get("recap") or {}).get(host)
    if isinstance(recap, Mapping):
        parts.append("recap " + " ".join(f"{k}={recap.get(k, 0)}" for k in ("ok", "changed", "failed", "unreachable")))
    line = ", ".join(parts)
    if status != "ok" and result.get("reason"):
        line += " - " + str(result["reason"])[:REASON_MAX]
    last = result.get("last_success")
    if status != "ok" and isinstance(last, Mapping) and last.get("finished"):
        line += f" (last success {last['finished']}, commit {str(last.get('commit') or '?')[:12]})"
    return line


class FilterModule:
    """slm_pull_result_line filter."""

    def filters(self) -> dict[str, Any]:
        """Filter name -> function."""
        return {"slm_pull_result_line": slm_pull_result_line}
