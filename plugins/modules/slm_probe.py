#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: ask an SLM engine a suite of reasoning checks and grade the answers."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: slm_probe
short_description: Run reasoning checks against an SLM engine and gate on the pass rate
version_added: "0.1.0"
description:
  - Sends each check's prompt to the engine (OpenAI-compatible C(/v1/chat/completions) or Ollama
    C(/api/chat)), grades the reply and returns, per check, pass/fail with a readable reason, the
    extracted answer, latency, time to first token and tokens/s.
  - "Check kinds: V(numeric) (final-answer extraction with unit and tolerance), V(regex),
    V(contains), V(not_contains), V(code) (the reply's Python block runs in a jail, the tests are
    judged by the module) and V(tool_call) (the reply must call the expected function with the expected
    arguments). The schema is in C(docs/verify_checks.md); the default suite is
    C(roles/verify/files/suites/seed_reasoning.yml)."
  - The check list is validated before any request; a malformed list fails in both gate modes,
    naming the check index and name, the field, the value given and what is allowed.
  - In O(gate=enforce) a pass rate below O(pass_threshold) fails the task with a summary of the
    failing checks. In O(gate=report) answers never fail the task; C(passed) records the verdict.
  - Text checks stream the reply (for time to first token); V(tool_call) checks do not, because
    vLLM's C(phi4_mini_json) tool parser only finds tool calls in non-streamed replies.
  - Never changes anything on the host. Uses only the Python standard library.
options:
  engine:
    description:
      - Engine label of this host (for example V(vllm), V(ollama), V(onnx)). Matched, together with
        O(api), against a check's C(only_on) and C(informational_on) lists. Defaults to O(api).
    type: str
  model:
    description: Model to ask (the served id, for example C(microsoft/Phi-4-mini-instruct) or C(phi4-mini)).
    type: str
    required: true
  checks:
    description:
      - List of check definitions, for example C(lookup('file', 'suites/seed_reasoning.yml') | from_yaml)
        then its C(checks) key. Each needs C(name), C(kind) and C(prompt) plus the fields of its kind.
    type: list
    elements: dict
    required: true
  system_prompt:
    description: System prompt for checks that do not set their own C(system).
    type: str
  pass_threshold:
    description: Fraction (0..1) of counted checks that must pass.
    type: float
    default: 0.8
  gate:
    description:
      - V(enforce) fails the task when the pass rate is below O(pass_threshold); V(report) only records it.
    type: str
    choices: [enforce, report]
    default: enforce
  timeout:
    description: Seconds allowed for each request (a check may override it with C(timeout)).
    type: float
    default: 120
  max_tokens:
    description: Token budget per reply (a check may override it).
    type: int
    default: 768
  temperature:
    description: Sampling temperature (a check may override it). 0 gives repeatable answers.
    type: float
    default: 0.0
  concurrency:
    description:
      - Checks in flight at once. 1 keeps latency figures clean; more finishes sooner on engines
        that batch (vLLM) or have parallel slots (Ollama C(OLLAMA_NUM_PARALLEL)).
    type: int
    default: 1
  code_isolation:
    description:
      - How V(code) checks run the model's code. V(container) (default) runs it in a throwaway container
        on this host's Docker engine with no network, a read-only root, user 65534, no capabilities,
        C(no-new-privileges), pids/memory/CPU limits and a private C(/tmp); when no engine or image is
        usable the check is reported as not run, never run another way.
      - V(subprocess_unsafe) runs it as a plain child process of the module on the host (rlimits and a
        wall clock only). Only for hosts where an operator accepts that, by naming it.
    type: str
    choices: [container, subprocess_unsafe]
    default: container
  code_image:
    description:
      - Image with C(python3) on this host's Docker engine for O(code_isolation=container), for example
        the engine image C(slm-fleet/slm-engine:0.1.0). Never pulled. Required when the checks include
        V(code) checks and O(code_isolation=container).
    type: str
  code_docker_socket:
    description: UNIX socket of the Docker engine API used for O(code_isolation=container).
    type: path
    default: /var/run/docker.sock
notes:
  - Supports check mode (it only asks questions).
  - "V(code) checks run on the host that runs the module, in the mode O(code_isolation) names; each
    result's C(details.isolation) says which mode ran. The module sends only the code and the test
    inputs into the jail and compares the returned values with the expected ones itself. See
    C(docs/verify_checks.md) for what the jail guarantees and its limits."
extends_documentation_fragment:
  - edgeai.slm_fleet.engine_connection
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
- name: Load the default reasoning suite
  ansible.builtin.set_fact:
    verify_suite: "{{ lookup('ansible.builtin.file', 'suites/seed_reasoning.yml') | from_yaml }}"

- name: Probe vLLM, fail the host below 80 %
  edgeai.slm_fleet.slm_probe:
    url: "http://{{ ansible_host }}:8000"
    api: openai
    engine: vllm
    model: microsoft/Phi-4-mini-instruct
    api_key: "{{ vllm_api_key }}"
    checks: "{{ verify_suite.checks }}"
    pass_threshold: 0.8
    gate: enforce
  register: probe

- name: Probe Ollama and only record the result (the lab's random-weight model cannot reason)
  edgeai.slm_fleet.slm_probe:
    url: http://127.0.0.1:11434
    api: ollama
    model: phi4-mini
    checks:
      - name: capital
        kind: contains
        prompt: What is the capital of France? Answer in one word.
        any_of: [Paris]
    gate: report
  register: probe
"""

RETURN = r"""
checks:
  description: One result per check, in suite order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Check name.
      type: str
    kind:
      description: Check kind.
      type: str
    passed:
      description: Whether the answer is right.
      type: bool
    reason:
      description: "Why, for an operator: expected vs got and where it was found."
      type: str
      sample: "expected 2.4 h ±0.01, got 3 h from '...it is not 2.4 hours, the answer is 3 hours'"
    answer:
      description: The extracted answer (number with unit, matched text, code, or the call made).
      type: raw
    latency_s:
      description: Seconds from request to last byte.
      type: float
    ttft_s:
      description: Seconds from request to the first generated text (null when not streamed).
      type: float
    tokens:
      description: Completion tokens (engine usage or eval_count, else counted stream chunks).
      type: int
    tokens_per_s:
      description: Decode throughput.
      type: float
    skipped:
      description: Not run on this host (C(only_on)).
      type: bool
    counted:
      description: Counts toward C(pass_rate) (false for C(informational_on) and skipped checks).
      type: bool
    error:
      description: The request itself failed (HTTP error or timeout).
      type: bool
    finish_reason:
      description: Why generation stopped (V(length) means cut at max_tokens).
      type: str
    excerpt:
      description: Last 400 characters of the reply.
      type: str
    details:
      description: Kind-specific details (extraction tier and rejected mentions, sandbox tests and isolation, tool calls).
      type: dict
pass_rate:
  description: Passed counted checks / counted checks (null when none counted).
  returned: always
  type: float
  sample: 0.8889
passed:
  description: Whether C(pass_rate) >= O(pass_threshold).
  returned: always
  type: bool
gate_failed:
  description: True when O(gate=enforce) and the threshold was not met (the task then fails).
  returned: always
  type: bool
failures:
  description: Name and reason of each failing counted check.
  returned: always
  type: list
  elements: dict
not_run:
  description: Name and reason of each V(code) check not run because its jail is not available here.
  returned: always
  type: list
  elements: dict
code_isolation:
  description: The O(code_isolation) mode V(code) checks ran in.
  returned: always
  type: str
  sample: container
summary:
  description: One line, for example C(8/9 checks passed (89% >= 80%); failing - ...).
  returned: always
  type: str
latency_p50_s:
  description: Median latency over answered checks.
  returned: always
  type: float
ttft_p50_s:
  description: Median time to first token over streamed checks.
  returned: always
  type: float
tokens_per_s:
  description: Median decode throughput over answered checks.
  returned: always
  type: float
total:
  description: Checks in the suite.
  returned: always
  type: int
counted:
  description: Checks counted in the pass rate.
  returned: always
  type: int
passed_count:
  description: Counted checks that passed.
  returned: always
  type: int
failed_count:
  description: Counted checks that failed.
  returned: always
  type: int
skipped_count:
  description: Checks not run on this host.
  returned: always
  type: int
duration_s:
  description: Wall-clock seconds for the whole suite.
  returned: always
  type: float
"""

import functools

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_check_schema import validate_checks
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_client import (
    CONNECTION_ARGUMENT_SPEC,
    CONNECTION_MUTUALLY_EXCLUSIVE,
    module_client,
)
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_http import redact_url
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_jail import MODES, run_python
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_probe_core import run_suite, summary_line

ARGUMENT_SPEC = dict(
    CONNECTION_ARGUMENT_SPEC,
    engine=dict(type="str"),
    model=dict(type="str", required=True),
    checks=dict(type="list", elements="dict", required=True),
    system_prompt=dict(type="str"),
    pass_threshold=dict(type="float", default=0.8, no_log=False),
    gate=dict(type="str", choices=["enforce", "report"], default="enforce"),
    timeout=dict(type="float", default=120.0),
    max_tokens=dict(type="int", default=768, no_log=False),
    temperature=dict(type="float", default=0.0),
    concurrency=dict(type="int", default=1),
    code_isolation=dict(type="str", choices=list(MODES), default="container"),
    code_image=dict(type="str"),
    code_docker_socket=dict(type="path", default="/var/run/docker.sock"),
)


def main() -> None:
    """Module entry point."""
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=CONNECTION_MUTUALLY_EXCLUSIVE,
                           supports_check_mode=True)
    p = module.params
    problems = validate_checks(p["checks"])
    if not 0 <= p["pass_threshold"] <= 1:
        problems.append("pass_threshold must be a fraction between 0 and 1; got %s" % p["pass_threshold"])
    if p["concurrency"] < 1 or p["max_tokens"] < 1 or p["timeout"] <= 0 or p["temperature"] < 0:
        problems.append("concurrency and max_tokens must be >= 1, timeout > 0 and temperature >= 0; got %s, %s, %s, %s"
                        % (p["concurrency"], p["max_tokens"], p["timeout"], p["temperature"]))
    if not p["url"].startswith(("http://", "https://")):
        problems.append("url must start with http:// or https://; got %r" % redact_url(p["url"]))
    if (p["code_isolation"] == "container" and not p["code_image"] and not problems
            and any(c.get("kind") == "code" for c in p["checks"])):
        problems.append("code_image is required for code checks with code_isolation=container: an image with "
                        "python3 on this host's Docker engine (e.g. the engine image); got none")
    if problems:
        module.fail_json(msg="invalid slm_probe input (%d problem%s): %s" % (
            len(problems), "" if len(problems) == 1 else "s", " | ".join(problems)), problems=problems)
    client = module_client(module, p["timeout"])
    result = run_suite(client, p["model"], p["checks"], labels=[p["api"], p["engine"] or p["api"]],
                       max_tokens=p["max_tokens"], temperature=p["temperature"], timeout=p["timeout"],
                       concurrency=p["concurrency"], system=p["system_prompt"], pass_threshold=p["pass_threshold"],
                       runner=functools.partial(run_python, isolation=p["code_isolation"], image=p["code_image"],
                                                docker_socket=p["code_docker_socket"]))
    result["summary"] = summary_line(result)
    result["gate"] = p["gate"]
    result["gate_failed"] = p["gate"] == "enforce" and not result["passed"]
    result.update(changed=False, code_isolation=p["code_isolation"], api=p["api"], engine=p["engine"] or p["api"], model=p["model"],
                  url=redact_url(p["url"]))
    if result["gate_failed"]:
        msg = "reasoning gate failed for %s at %s: %s" % (p["model"], redact_url(p["url"]), result["summary"])
        module.fail_json(msg=msg, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
