#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: wait for an SLM engine to be ready and check that it serves the model."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: slm_health
short_description: Wait for an SLM engine (vLLM, Ollama, the ONNX engine) and check its health
version_added: "0.1.0"
description:
  - Waits for the engine to accept connections, treating C(connection refused) (and HTTP 503) as
    "still loading" for up to O(start_period) seconds, then checks the engine's own health endpoint
    (V(openai) API - C(GET /health); V(ollama) API - C(GET /api/version), Ollama has no C(/health)).
  - Checks that O(expected_model) is served (C(GET /v1/models) / C(GET /api/tags); for Ollama
    C(phi4-mini) and C(phi4-mini:latest) are the same model).
  - Reports the engine version (Ollama C(/api/version); OpenAI-style - C(GET /version) as vLLM has
    it, else a versioned C(Server) or C(x-engine-version) header, else null).
  - Never changes anything on the host. Uses only the Python standard library.
options:
  expected_model:
    description:
      - Model that must be listed as served (the id requests use as C(model)). Omit to skip the check.
    type: str
  start_period:
    description:
      - Seconds during which C(connection refused), C(connection reset) and HTTP 503 count as
        "loading" and are retried every O(interval) seconds. vLLM loading a model can take minutes.
    type: float
    default: 120
  interval:
    description: Seconds between readiness attempts during O(start_period).
    type: float
    default: 2
  timeout:
    description: Timeout in seconds for each HTTP request.
    type: float
    default: 10
  fail_on_unhealthy:
    description: Fail the task when the status is not V(healthy). With V(false) the result is only reported.
    type: bool
    default: true
notes:
  - Supports check mode (it only reads).
  - "Runs wherever the task runs; to probe from the control node use C(delegate_to: localhost)."
extends_documentation_fragment:
  - edgeai.slm_fleet.engine_connection
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
- name: Wait for vLLM to load Phi-4-mini and serve it
  edgeai.slm_fleet.slm_health:
    url: "http://{{ ansible_host }}:8000"
    api: openai
    expected_model: microsoft/Phi-4-mini-instruct
    api_key: "{{ vllm_api_key }}"
    start_period: 900
  register: engine_health

- name: Check an Ollama server serves phi4-mini, report only
  edgeai.slm_fleet.slm_health:
    url: http://127.0.0.1:11434
    api: ollama
    expected_model: phi4-mini
    fail_on_unhealthy: false
  register: engine_health
"""

RETURN = r"""
status:
  description: V(healthy), V(unhealthy) (answered, but wrongly or without the model) or V(loading_timeout)
    (never answered within O(start_period)).
  returned: always
  type: str
  sample: healthy
latency_s:
  description: Latency of the successful health request in seconds (null if none succeeded).
  returned: always
  type: float
  sample: 0.004
served_models:
  description: Model ids (OpenAI) or names with tag (Ollama) the engine lists.
  returned: always
  type: list
  elements: str
  sample: [microsoft/Phi-4-mini-instruct]
model_served:
  description: Whether O(expected_model) is served (null when not asked).
  returned: always
  type: bool
engine_version:
  description: Engine version if the engine tells it, else null.
  returned: always
  type: str
  sample: 0.8.5
reason:
  description: One readable sentence saying why the status is what it is.
  returned: always
  type: str
  sample: "expected model 'phi4-mini' is not served; served: llama3:latest"
attempts:
  description: Health requests made (more than one while the engine was loading).
  returned: always
  type: int
waited_s:
  description: Seconds spent waiting for readiness.
  returned: always
  type: float
health_endpoint:
  description: URL of the health endpoint used.
  returned: always
  type: str
  sample: http://10.0.0.5:8000/health
api:
  description: The API that was checked.
  returned: always
  type: str
url:
  description: The engine URL (credentials in it are removed).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_client import (
    CONNECTION_ARGUMENT_SPEC,
    CONNECTION_MUTUALLY_EXCLUSIVE,
    module_client,
)
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_health_core import HEALTHY, check_health
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_http import redact_url

ARGUMENT_SPEC = dict(
    CONNECTION_ARGUMENT_SPEC,
    expected_model=dict(type="str"),
    start_period=dict(type="float", default=120.0),
    interval=dict(type="float", default=2.0),
    timeout=dict(type="float", default=10.0),
    fail_on_unhealthy=dict(type="bool", default=True),
)


def main() -> None:
    """Module entry point."""
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=CONNECTION_MUTUALLY_EXCLUSIVE,
                           supports_check_mode=True)
    p = module.params
    if not p["url"].startswith(("http://", "https://")):
        module.fail_json(msg="url must start with http:// or https://; got %r" % redact_url(p["url"]))
    for key in ("start_period", "interval", "timeout"):
        if p[key] < 0 or (key != "start_period" and p[key] == 0):
            module.fail_json(msg="%s must be a positive number of seconds; got %s" % (key, p[key]))
    client = module_client(module, p["timeout"], retries=2)
    result = check_health(client, p["api"], p["expected_model"], start_period=p["start_period"],
                          interval=p["interval"])
    result.update(changed=False, api=p["api"], url=redact_url(p["url"]))
    if result["status"] != HEALTHY and p["fail_on_unhealthy"]:
        msg = "%s engine at %s is %s: %s" % (p["api"], redact_url(p["url"]), result["status"], result["reason"])
        module.fail_json(msg=msg, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
