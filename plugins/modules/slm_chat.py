#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: ask an SLM engine one question and return its answer."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: slm_chat
short_description: Ask an SLM engine one question (OpenAI-compatible or Ollama API)
version_added: "0.2.0"
description:
  - Sends one chat message to the engine and returns the answer, the token counts and the latency.
  - The API key is read on the host from O(api_key_file) (or given as O(api_key)); it never appears in the
    result, in C(-vvv) output or on a command line.
  - Never changes anything. Uses only the Python standard library.
extends_documentation_fragment:
  - edgeai.slm_fleet.engine_connection
options:
  model:
    description: The model name to send (the C(model) of the host's engine record).
    type: str
    required: true
  question:
    description: The user message.
    type: str
    required: true
  max_tokens:
    description: Upper bound on the answer's length in tokens.
    type: int
    default: 64
  temperature:
    description: Sampling temperature (0 is greedy).
    type: float
    default: 0
  timeout:
    description: Seconds to wait for the whole answer.
    type: float
    default: 120
attributes:
  check_mode:
    support: full
    description: Asks the question in check mode too (it changes nothing).
  diff_mode:
    support: none
    description: Not supported.
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
- name: Read what this host serves
  edgeai.slm_fleet.slm_endpoint:
    state: read

- name: Ask it one question
  edgeai.slm_fleet.slm_chat:
    url: "{{ slm_endpoint.url }}"
    api: "{{ slm_endpoint.api }}"
    model: "{{ slm_endpoint.model }}"
    api_key_file: "{{ slm_endpoint.api_key_file | default(omit, true) }}"
    question: Name three uses of a small language model on an IoT gateway.
  register: answer
"""

RETURN = r"""
answer:
  description: The answer's text.
  returned: success
  type: str
model:
  description: The model name the engine reported (or the one sent).
  returned: always
  type: str
completion_tokens:
  description: Tokens generated, as the engine counted them (null when it did not say).
  returned: always
  type: int
latency_s:
  description: Seconds from the request to the last token.
  returned: always
  type: float
url:
  description: The engine URL, without credentials.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_client import (
    CONNECTION_ARGUMENT_SPEC,
    CONNECTION_MUTUALLY_EXCLUSIVE,
    module_client,
)
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_http import redact_url

ARGUMENT_SPEC = dict(
    CONNECTION_ARGUMENT_SPEC,
    model=dict(type="str", required=True),
    question=dict(type="str", required=True),
    max_tokens=dict(type="int", default=64, no_log=False),
    temperature=dict(type="float", default=0.0),
    timeout=dict(type="float", default=120.0),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=CONNECTION_MUTUALLY_EXCLUSIVE,
                           supports_check_mode=True)
    p = module.params
    if p["max_tokens"] < 1:
        module.fail_json(msg="max_tokens must be at least 1; got %d" % p["max_tokens"])
    client = module_client(module, p["timeout"], retries=1)
    reply = client.chat(p["model"], [{"role": "user", "content": p["question"]}], max_tokens=p["max_tokens"],
                        temperature=p["temperature"], stream=False, timeout=p["timeout"])
    result = dict(changed=False, url=redact_url(p["url"]), model=reply.model or p["model"],
                  completion_tokens=reply.completion_tokens, latency_s=reply.latency_s)
    if not reply.ok:
        module.fail_json(msg="%s engine at %s did not answer: %s" % (p["api"], redact_url(p["url"]), reply.error),
                         **result)
    module.exit_json(answer=reply.content, **result)


if __name__ == "__main__":
    main()
