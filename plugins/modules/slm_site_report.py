#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: render the site report (JSON + static HTML) from per-host verify results."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: slm_site_report
short_description: Write a site's verify report as JSON and as a static HTML page
version_added: "0.1.0"
description:
  - Takes one entry per host - plan info (group, profile, engine) plus the results of
    M(edgeai.slm_fleet.slm_health) and M(edgeai.slm_fleet.slm_probe) - and writes
    C(<dest>/<basename>.json) and C(<dest>/<basename>.html).
  - "The HTML page has no external assets (inline CSS and SVG, no scripts), so it opens offline: a
    summary, a chart of p50 latency and tokens/s per host, one table row per host (group, profile,
    engine, result, health, pass rate, p50 latency, TTFT, tokens/s, failures with reasons) and the
    checks of each host. All text is HTML-escaped."
  - "Meant to run once on the control node (C(delegate_to: localhost) and C(run_once: true))."
  - "Idempotence: C(changed) compares the content without its C(generated_at) timestamp. Rendering the
    same results again leaves the files untouched; new measurements are a change."
options:
  hosts:
    description:
      - One dict per host with C(host) (required), and optionally C(group), C(profile), C(engine),
        C(health) (the registered M(edgeai.slm_fleet.slm_health) result) and C(probe) (the registered
        M(edgeai.slm_fleet.slm_probe) result). A failed task's registered result works too.
      - A dict keyed by host name is accepted as well.
    type: raw
    required: true
  dest:
    description: Directory for the report files (created if missing).
    type: path
    required: true
  basename:
    description: File name without extension.
    type: str
    default: site_report
  site:
    description: Site name shown in the report.
    type: str
    default: site
  title:
    description: Page title (default C(SLM fleet report - <site>)).
    type: str
  fail_on_failed_hosts:
    description: Fail after writing the report when any host's result is V(failed).
    type: bool
    default: false
notes:
  - Supports check mode (reports whether the files would change, writes nothing).
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
- name: Write the site report on the control node
  edgeai.slm_fleet.slm_site_report:
    dest: "{{ playbook_dir }}/../artifacts/{{ verify_site }}"
    site: "{{ verify_site }}"
    hosts: "{{ ansible_play_hosts_all | map('extract', hostvars, 'verify_result') | select('defined') | list }}"
  delegate_to: localhost
  run_once: true
  register: site_report

- name: Print one line per host
  ansible.builtin.debug:
    msg: "{{ site_report.summary_lines + ['report: ' ~ site_report.html_path] }}"
  run_once: true
"""

RETURN = r"""
json_path:
  description: Path of the JSON report.
  returned: always
  type: str
html_path:
  description: Path of the HTML report.
  returned: always
  type: str
generated_at:
  description: Timestamp (UTC) of the content on disk.
  returned: always
  type: str
summary:
  description: Host counts (C(hosts), C(ok), C(failed), C(not_run)) and C(failed_hosts).
  returned: always
  type: dict
summary_lines:
  description: One line per host, for example C(gw-01 [gateways/edge_optimized/onnx] - OK - health healthy, 9/9 checks passed (100%)).
  returned: always
  type: list
  elements: str
"""

from typing import Any, Dict, List

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_report import (
    build_report,
    summary_lines,
    write_report,
)


def normalise_hosts(raw: Any) -> List[Dict[str, Any]]:
    """A list of host entries from a list or a dict keyed by host; raises ValueError with a readable message."""
    if isinstance(raw, dict):
        raw = [dict(v or {}, host=(v or {}).get("host", k)) for k, v in raw.items()]
    if not isinstance(raw, list):
        raise ValueError("hosts must be a list of dicts (or a dict keyed by host); got %s" % type(raw).__name__)
    out = []
    seen = set()
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or not entry.get("host"):
            raise ValueError("hosts[%d] must be a dict with a 'host' key; got %r" % (i, entry if not isinstance(
                entry, dict) else sorted(entry)))
        if entry["host"] in seen:
            raise ValueError("hosts[%d]: host %r appears twice" % (i, entry["host"]))
        seen.add(entry["host"])
        out.append(entry)
    return out


def main() -> None:
    """Module entry point."""
    module = AnsibleModule(argument_spec=dict(
        hosts=dict(type="raw", required=True),
        dest=dict(type="path", required=True),
        basename=dict(type="str", default="site_report"),
        site=dict(type="str", default="site"),
        title=dict(type="str"),
        fail_on_failed_hosts=dict(type="bool", default=False),
    ), supports_check_mode=True)
    p = module.params
    try:
        hosts = normalise_hosts(p["hosts"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    report = build_report(hosts, p["site"], p["title"])
    try:
        changed, json_path, html_path, stamp = write_report(report, p["dest"], p["basename"], module.check_mode)
    except OSError as exc:
        module.fail_json(msg="cannot write the report to %s: %s" % (p["dest"], exc))
    result = dict(changed=changed, json_path=json_path, html_path=html_path, generated_at=stamp,
                  summary=report["summary"], summary_lines=summary_lines(report))
    if p["fail_on_failed_hosts"] and report["summary"]["failed"]:
        module.fail_json(msg="%d host(s) failed verification: %s (report: %s)" % (
            report["summary"]["failed"], ", ".join(report["summary"]["failed_hosts"]), html_path), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
