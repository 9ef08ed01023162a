#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: check that an engine reproduces the golden answers recorded with its model."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: slm_golden
short_description: Check that an engine reproduces the golden answers recorded when its model was built
version_added: "0.3.0"
description:
  - Reads the golden file on the host (C(golden.json) in the model directory, written by C(slm-engine build) and
    covered by the model's manifest), sends each recorded chat prompt to the engine with temperature 0 and the
    recorded C(max_tokens), and compares the reply with the recorded greedy answer.
  - "Tolerance: an answer passes when its first O(min_exact_tokens) tokens match exactly and the matched share
    of its recorded tokens is at least O(min_prefix_ratio). Why, and the measurements behind the defaults, are
    in C(docs/verify_checks.md)."
  - A mismatch is reported with the prompt, the first differing token position, what was expected from there
    and what came back.
  - In O(gate=enforce) any failing answer fails the task; in O(gate=report) C(passed) records the verdict.
  - Never changes anything on the host. Uses only the Python standard library.
options:
  path:
    description: The golden file on the host (the engine record's C(golden_file)).
    type: path
    required: true
  model:
    description: Model to ask (the served id from the engine record).
    type: str
    required: true
  gate:
    description: V(enforce) fails the task when an answer is outside the tolerance; V(report) only records it.
    type: str
    choices: [enforce, report]
    default: enforce
  min_exact_tokens:
    description: Leading tokens of each answer that must match exactly (capped at the answer's length).
    type: int
    default: 8
  min_prefix_ratio:
    description: Share (0..1) of each answer's recorded tokens that must match before the first difference.
    type: float
    default: 0.5
  timeout:
    description: Seconds allowed for each request.
    type: float
    default: 120
notes:
  - Supports check mode (it only asks questions).
extends_documentation_fragment:
  - edgeai.slm_fleet.engine_connection
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
- name: Read what this host serves
  edgeai.slm_fleet.slm_endpoint:
    state: read

- name: Check the golden answers of the model this host serves
  edgeai.slm_fleet.slm_golden:
    path: "{{ slm_endpoint.golden_file }}"
    url: "{{ slm_endpoint.url }}"
    api: "{{ slm_endpoint.api }}"
    model: "{{ slm_endpoint.model }}"
    api_key_file: "{{ slm_endpoint.api_key_file | default(omit, true) }}"
    gate: enforce
  when: slm_endpoint.golden_file | default('') | length > 0
"""

RETURN = r"""
passed:
  description: Whether every answer is within the tolerance.
  returned: always
  type: bool
gate_failed:
  description: True when O(gate=enforce) and an answer is outside the tolerance (the task then fails).
  returned: always
  type: bool
summary:
  description: One line, for example C(2/3 golden answers reproduced; failing - arithmetic - differs from token 0 ...).
  returned: always
  type: str
answers:
  description: One result per recorded answer, in file order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The prompt's name.
      type: str
    passed:
      description: Within the tolerance.
      type: bool
    identical:
      description: The reply is exactly the recorded one.
      type: bool
    matched_tokens:
      description: Recorded tokens matched before the first difference.
      type: int
    total_tokens:
      description: Recorded tokens (plus one when the recording ended with end-of-sequence).
      type: int
    first_diff_token:
      description: 0-based position of the first differing token (null when identical).
      type: int
    expected:
      description: The recorded text from the first differing token (40 characters).
      type: str
    got:
      description: The reply from the same place (40 characters).
      type: str
    reason:
      description: One line for an operator.
      type: str
    latency_s:
      description: Seconds from request to last byte.
      type: float
prompt_set:
  description: Name, version and sha256 of the prompt set the file was recorded with.
  returned: when the file was read
  type: dict
generator:
  description: What recorded the file (onnxruntime-genai and slm-engine versions, threads, decoding).
  returned: when the file was read
  type: dict
tolerance:
  description: The tolerance applied.
  returned: always
  type: dict
"""

import json

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_client import (
    CONNECTION_ARGUMENT_SPEC,
    CONNECTION_MUTUALLY_EXCLUSIVE,
    module_client,
)
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_golden_compare import (
    compare,
    golden_problems,
    summary_line,
    tolerance_problems,
)
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_http import redact_url

ARGUMENT_SPEC = dict(
    CONNECTION_ARGUMENT_SPEC,
    path=dict(type="path", required=True),
    model=dict(type="str", required=True),
    gate=dict(type="str", choices=["enforce", "report"], default="enforce"),
    min_exact_tokens=dict(type="int", default=8, no_log=False),
    min_prefix_ratio=dict(type="float", default=0.5),
    timeout=dict(type="float", default=120.0),
)


def _load(module: AnsibleModule, path: str) -> dict:
    try:
        with open(path, "rb") as handle:
            doc = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        module.fail_json(msg="golden file %s cannot be read: %s" % (path, exc), passed=False, gate_failed=True)
    problems = golden_problems(doc)
    if problems:
        module.fail_json(msg="golden file %s is not usable: %s" % (path, " | ".join(problems)), problems=problems,
                         passed=False, gate_failed=True)
    return doc


def main() -> None:
    """Module entry point."""
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=CONNECTION_MUTUALLY_EXCLUSIVE,
                           supports_check_mode=True)
    p = module.params
    problems = tolerance_problems(p["min_exact_tokens"], p["min_prefix_ratio"])
    if p["timeout"] <= 0:
        problems.append("timeout must be > 0; got %s" % p["timeout"])
    if not p["url"].startswith(("http://", "https://")):
        problems.append("url must start with http:// or https://; got %r" % redact_url(p["url"]))
    if problems:
        module.fail_json(msg="invalid slm_golden input: %s" % " | ".join(problems), problems=problems)
    doc = _load(module, p["path"])
    client = module_client(module, p["timeout"])
    results = []
    for answer in doc["answers"]:
        reply = client.chat(p["model"], answer["messages"], max_tokens=answer["max_tokens"], temperature=0.0,
                            stream=False, timeout=p["timeout"])
        if not reply.ok:
            result = {"passed": False, "identical": False, "matched_tokens": 0,
                      "total_tokens": len(answer["pieces"]), "first_diff_token": None, "expected": "", "got": "",
                      "reason": "request failed: %s" % reply.error}
        else:
            result = compare(answer, reply.content or "", p["min_exact_tokens"], p["min_prefix_ratio"])
        result.update(name=answer["name"], latency_s=reply.latency_s)
        results.append(result)
    passed = all(r["passed"] for r in results)
    out = {"changed": False, "passed": passed, "gate": p["gate"], "gate_failed": p["gate"] == "enforce" and not passed,
           "summary": summary_line(results), "answers": results, "prompt_set": doc.get("prompt_set"),
           "generator": doc.get("generator"), "path": p["path"], "model": p["model"], "url": redact_url(p["url"]),
           "tolerance": {"min_exact_tokens": p["min_exact_tokens"], "min_prefix_ratio": p["min_prefix_ratio"]}}
    if out["gate_failed"]:
        module.fail_json(msg="golden gate failed for %s at %s: %s" % (p["model"], redact_url(p["url"]), out["summary"]),
                         **out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
