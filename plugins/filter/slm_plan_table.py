# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter slm_plan_table: the fleet plan as a fixed-width text table (one line per host)."""

from __future__ import annotations

from typing import Any

DOCUMENTATION = r"""
name: slm_plan_table
short_description: Render fleet plan rows as a text table
version_added: 0.1.0
description:
  - Takes the per-host rows made by P(edgeai.slm_fleet.slm_plan_row#filter) and returns a fixed-width table with the
    columns host, group, hardware, profile, engine, quantization, memory budget and verdict, followed by one line
    per refusal reason and a note on simulated hardware.
  - Hardware values set by C(edge_hw_override) are marked with C(*).
positional: _input
options:
  _input:
    description: The plan rows, one per host.
    type: list
    elements: dict
    required: true
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
- name: Print the fleet plan
  ansible.builtin.debug:
    msg: "{{ rows | edgeai.slm_fleet.slm_plan_table }}"
"""

RETURN = r"""
_value:
  description: The table, lines separated by newlines.
  type: str
"""

COLUMNS = ("host", "group", "hardware", "profile", "engine", "quantization", "memory budget", "verdict")


def _hardware(row: dict[str, Any]) -> str:
    """Short hardware summary; simulated parts get a star."""
    simulated = set(row.get("simulated") or [])
    parts = [str(row.get("arch") or "?")]
    ram = row.get("ram_gb")
    parts.append(f"{ram if ram is not None else '?'} GB RAM" + ("*" if any(s.startswith("memory") for s in simulated) else ""))
    gpu = row.get("gpu") or "-"
    if gpu != "-":
        parts.append(gpu + ("*" if "gpus" in simulated else ""))
    disk = row.get("disk_free_gb")
    parts.append(f"{disk if disk is not None else '?'} GB free" + ("*" if any(s.startswith("disk") for s in simulated) else ""))
    return ", ".join(parts)


def slm_plan_table(rows: Any) -> str:
    """Return ``rows`` as an aligned text table with reasons and a legend below it."""
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise TypeError("slm_plan_table expects a list of plan rows (dicts)")
    cells = [COLUMNS] + [
        (
            str(r.get("host") or "?"),
            str(r.get("group") or "-"),
            _hardware(r),
            str(r.get("profile") or "-"),
            str(r.get("engine") or "-"),
            str(r.get("quantization") or "-"),
            str(r.get("memory_budget") or "-"),
            str(r.get("verdict") or "?").upper(),
        )
        for r in sorted(rows, key=lambda r: str(r.get("host")))
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in sorted(rows, key=lambda r: str(r.get("host"))):
        for reason in r.get("reasons") or []:
            lines.append(f"{r.get('host')}: {reason}")
    if any(r.get("simulated") for r in rows):
        lines.append("* simulated with edge_hw_override (not measured on the host)")
    return "\n".join(lines)


class FilterModule:
    """slm_plan_table filter."""

    def filters(self) -> dict[str, Any]:
        """Filter name -> function."""
        return {"slm_plan_table": slm_plan_table}
