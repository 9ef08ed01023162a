# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure decisions of a site rollout (role ``rollout``): batch sizes, a batch's verdict against the
failure threshold, and the summary written at the end. No I/O; unit-tested.

A host's rollout record (fact ``rollout_host``) is a dict with ``batch`` (1-based), ``outcome``,
``release_before``, ``release`` (what serves now), ``downtime_s`` (seconds clients could not be served
while the release switched: None when nothing switched, 0.0 behind the front proxy) and ``reason``. Outcomes:

- ``in progress``: the batch started and the host did not finish (killed, unreachable, run interrupted); once
  its batch has been judged the summary reports it as ``failed``, with that reason;
- ``passed``: deployed (or unchanged) and passed the gates in this run;
- ``unchanged``: already on the release and verified in an earlier run: nothing done, not re-verified;
- ``failed``: failed a phase or a gate (see reason);
- ``rolled back``: switched back to its previous release after its batch (or the site) failed;
- ``not started``: in a batch after the one that aborted the rollout: untouched.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

# Outcomes that count against a batch's failure threshold.
FAILED_OUTCOMES = ("in progress", "failed")

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def batch_spec_errors(spec: Any) -> List[str]:
    """Why ``spec`` is not a valid ``serial`` list of batch sizes (empty when it is)."""
    if not isinstance(spec, (list, tuple)) or not spec:
        return [f"must be a non-empty list of batch sizes (host counts or percentages such as '25%'), got {spec!r}"]
    errors = []
    for index, item in enumerate(spec):
        if isinstance(item, bool):
            errors.append(f"item {index + 1} is {item!r}: a batch size is a host count (>= 1) or a percentage")
        elif isinstance(item, int):
            if item < 1:
                errors.append(f"item {index + 1} is {item}: a host count must be at least 1")
        elif isinstance(item, str) and _PERCENT.match(item):
            value = float(_PERCENT.match(item).group(1))  # type: ignore[union-attr]
            if not 0 < value <= 100:
                errors.append(f"item {index + 1} is {item!r}: a percentage must be above 0% and at most 100%")
        elif isinstance(item, str) and item.strip().isdigit():
            if int(item) < 1:
                errors.append(f"item {index + 1} is {item!r}: a host count must be at least 1")
        else:
            errors.append(f"item {index + 1} is {item!r}: a batch size is a host count (>= 1) or a percentage such as '25%'")
    return errors


def batch_sizes(spec: Sequence[Union[int, str]], hosts: int) -> List[int]:
    """The batch sizes Ansible's ``serial`` makes of ``spec`` for ``hosts`` hosts (the last size repeats).

    Percentages are of all the play's hosts, rounded down, at least 1 (as Ansible computes them).
    """
    sizes: List[int] = []
    left = hosts
    index = 0
    while left > 0:
        item = spec[min(index, len(spec) - 1)]
        match = _PERCENT.match(item) if isinstance(item, str) else None
        size = max(1, int(hosts * float(match.group(1)) / 100.0)) if match else int(item)
        size = min(size, left)
        sizes.append(size)
        left -= size
        index += 1
    return sizes


def batch_verdict(batch: Iterable[str], records: Mapping[str, Optional[Mapping[str, Any]]],
                  max_fail_percentage: float) -> Dict[str, Any]:
    """Whether a batch failed: more than ``max_fail_percentage`` of its hosts failed (Ansible's rule).

    A host counts as failed when its outcome is "failed", or when it never finished ("in progress",
    or no record: it was killed or became unreachable mid-batch).
    """
    hosts = list(batch)
    failed = [h for h in hosts if (records.get(h) or {}).get("outcome", "in progress") in FAILED_OUTCOMES]
    percent = 100.0 * len(failed) / len(hosts) if hosts else 0.0
    return {
        "hosts": hosts,
        "failed": failed,
        "failed_percentage": round(percent, 1),
        "exceeded": bool(hosts) and percent > float(max_fail_percentage),
    }


def _reason(record: Mapping[str, Any]) -> str:
    reason = str(record.get("reason") or "")
    if record.get("outcome", "in progress") == "in progress" and not reason:
        return "did not finish its batch (host unreachable or killed, or the run was interrupted)"
    return reason


def summary(site: str, state: Mapping[str, Any], records: Mapping[str, Optional[Mapping[str, Any]]],
            hosts: Sequence[str], settings: Mapping[str, Any]) -> Dict[str, Any]:
    """The rollout's summary: status, the failed batch, and per host its batch, outcome and release.

    ``state`` is the run's state (``batch``, ``batches_run``, ``aborted``, ``failed_batch``, ``failed_hosts``, ``reason``,
    ``finished``); ``hosts`` every host of the site, in inventory order.
    """
    out_hosts: Dict[str, Dict[str, Any]] = {}
    current_batch = int(state.get("batch") or 0)
    judged_all = bool(state.get("finished") or state.get("aborted"))
    for host in hosts:
        record = records.get(host)
        if not record:
            out_hosts[host] = {"batch": None, "outcome": "not in this run", "release": None, "release_before": None,
                               "downtime_s": None,
                               "reason": "refused by preflight, unreachable before the rollout, or outside --limit"}
            continue
        outcome = record.get("outcome", "in progress")
        # A host that did not finish a batch that has since been judged counted as failed there: say so.
        if outcome == "in progress" and (judged_all or int(record.get("batch") or 0) < current_batch):
            outcome = "failed"
        out_hosts[host] = {
            "batch": record.get("batch"),
            "outcome": outcome,
            "release": record.get("release") or None,
            "release_before": record.get("release_before") or None,
            "downtime_s": record.get("downtime_s"),
            "reason": _reason(record),
        }
    if state.get("aborted"):
        status = "aborted"
    elif state.get("finished"):
        status = "completed"
    else:
        status = "in progress"
    return {
        "schema": 1,
        "site": site,
        "status": status,
        "batches_run": int(state.get("batches_run", state.get("batch")) or 0),
        "failed_batch": state.get("failed_batch"),
        "failed_hosts": list(state.get("failed_hosts") or []),
        "reason": state.get("reason") or "",
        "settings": dict(settings),
        "releases": sorted({h["release"] for h in out_hosts.values() if h["release"]}),
        "hosts": out_hosts,
    }


def summary_lines(result: Mapping[str, Any]) -> List[str]:
    """One line for the rollout, then one per host, for the play's output."""
    head = f"rollout of site {result['site']}: {result['status']}"
    if result["status"] == "aborted":
        head += (f" at batch {result['failed_batch']} (hosts that failed: {', '.join(result['failed_hosts']) or 'none'};"
                 f" {result['reason']})")
    head += f"; {result['batches_run']} batch(es) run, policy {result['settings'].get('on_failure')}"
    lines = [head]
    for host, item in result["hosts"].items():
        batch = f"batch {item['batch']}" if item["batch"] else "no batch"
        release = f"serves {item['release']}" if item["release"] else "serves nothing known"
        line = f"  {host}: {batch}, {item['outcome']}, {release}"
        if item["release_before"] and item["release_before"] != item["release"]:
            line += f" (was {item['release_before']})"
        if item.get("downtime_s") is not None:
            line += f", switch gap {float(item['downtime_s']):.1f} s"
        if item["reason"] and item["outcome"] not in ("passed", "unchanged"):
            line += f" - {item['reason']}"
        lines.append(line)
    return lines
