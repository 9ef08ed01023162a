#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write or read the engine record of a host (the contract between engine roles and their readers)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: slm_endpoint
short_description: Publish or read what engine a host serves, where, and how to reach it
version_added: 0.2.0
description:
  - Every C(engine_*) role of this collection ends with O(state=present), which writes one JSON record in a
    local fact file on the host (engine, release, URL as reachable from the host, API flavour, served model,
    where the API key lives). Verification, C(playbooks/ask.yml), rollouts and reports read it with O(state=read)
    and never derive an endpoint themselves, so a new engine needs only its own role.
  - The record never holds a secret. O(api_key_file) names the root-only file on the host that holds
    the key; modules such as M(edgeai.slm_fleet.slm_health) read it there.
  - Both states set the fact C(slm_endpoint) (empty when no record exists).
options:
  state:
    description:
      - V(present) writes the record (only when its content changes), V(read) reads it, V(absent) removes it.
    type: str
    choices: [present, read, absent]
    default: read
  path:
    description: The record file. The default makes it C(ansible_local.slm_endpoint) too.
    type: path
    default: /etc/ansible/facts.d/slm_endpoint.fact
  engine:
    description: The engine's short name; its role is C(engine_<engine>). Required with O(state=present).
    type: str
  label:
    description: What serves the API, for people (for example C(Ollama API emulator)).
    type: str
    default: ''
  release:
    description: The release serving now. Required with O(state=present).
    type: str
  previous_release:
    description: The release a rollback switches back to (empty when there is none).
    type: str
    default: ''
  url:
    description: Base URL of the API as reachable from the host itself, without C(/v1). Required with O(state=present).
    type: str
  api:
    description: API flavour. Required with O(state=present).
    type: str
    choices: [openai, ollama]
  model:
    description: The model name clients send. Required with O(state=present).
    type: str
  api_key_file:
    description: Absolute path on the host of the file holding the API key; empty when the API has no key.
    type: str
    default: ''
  metrics_url:
    description: Prometheus metrics URL as reachable from the host; empty when the engine has none.
    type: str
    default: ''
  image:
    description: The container image serving the release.
    type: str
    default: ''
  golden_file:
    description:
      - Absolute path on the host of the golden answers recorded with the served model (C(golden.json) in the
        model directory, covered by its manifest); the verify role checks the engine reproduces them
        (M(edgeai.slm_fleet.slm_golden)). Empty for engines without golden answers.
    type: str
    default: ''
    version_added: 0.3.0
attributes:
  check_mode:
    support: full
    description: Reports whether the record would change without writing it.
  diff_mode:
    support: full
    description: Shows the record before and after.
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
- name: Publish what this role deployed
  edgeai.slm_fleet.slm_endpoint:
    state: present
    engine: onnx
    label: slm-engine (ONNX Runtime GenAI)
    release: 3f2a9c1b0d4e
    url: http://127.0.0.1:8000
    api: openai
    model: phi-4-mini-instruct
    api_key_file: /var/lib/slm-fleet/onnx/secrets/api_key
    golden_file: /var/lib/slm-fleet/onnx/models/phi-4-mini-instruct/72729ce5a4ac/golden.json

- name: Read what this host serves
  edgeai.slm_fleet.slm_endpoint:
    state: read
  register: endpoint

- name: Ask it something
  edgeai.slm_fleet.slm_chat:
    url: "{{ slm_endpoint.url }}"
    api: "{{ slm_endpoint.api }}"
    model: "{{ slm_endpoint.model }}"
    api_key_file: "{{ slm_endpoint.api_key_file | default(omit, true) }}"
    question: What is 2 + 2?
  when: endpoint.found
"""

RETURN = r"""
found:
  description: Whether a record exists (after the task).
  returned: always
  type: bool
record:
  description: The record after the task (empty when there is none).
  returned: always
  type: dict
  sample: {schema: 1, engine: onnx, release: 3f2a9c1b0d4e, url: "http://127.0.0.1:8000", api: openai,
           model: phi-4-mini-instruct, api_key_file: /var/lib/slm-fleet/onnx/secrets/api_key, label: slm-engine,
           previous_release: "", metrics_url: "http://127.0.0.1:8000/metrics", image: "slm-fleet/slm-engine:0.1.0",
           golden_file: ""}
ansible_facts:
  description: C(slm_endpoint), the record (empty dict when there is none).
  returned: always
  type: dict
"""

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_endpoint_record import (
    DEFAULT_PATH,
    FIELDS,
    SCHEMA,
    normalize,
    record_problems,
)


def read_record(path):
    """(record or None, problem or None) for the file at ``path``."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError) as exc:
        if not os.path.exists(path):
            return None, None
        return None, "cannot read the engine record %s: %s" % (path, exc)
    except ValueError as exc:
        return None, "the engine record %s is not JSON (%s); the engine role rewrites it on its next run" % (path, exc)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return None, "the engine record %s has schema %r, this collection reads schema %d" % (
            path, data.get("schema") if isinstance(data, dict) else None, SCHEMA)
    problems = record_problems(dict((k, v) for k, v in data.items() if k != "schema"))
    if problems:
        return None, "the engine record %s is invalid: %s" % (path, "; ".join(problems))
    return data, None


def write_atomically(path, text):
    """Replace ``path`` with ``text`` (mode 0644) so that a reader never sees half a record."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".slm_endpoint.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main():
    spec = dict(
        state=dict(type="str", choices=["present", "read", "absent"], default="read"),
        path=dict(type="path", default=DEFAULT_PATH),
        engine=dict(type="str"), label=dict(type="str", default=""), release=dict(type="str"),
        previous_release=dict(type="str", default=""), url=dict(type="str"),
        api=dict(type="str", choices=["openai", "ollama"]), model=dict(type="str"),
        api_key_file=dict(type="str", default=""), metrics_url=dict(type="str", default=""),
        image=dict(type="str", default=""), golden_file=dict(type="str", default=""),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_if=[("state", "present", ["engine", "release", "url", "api", "model"])])
    p = module.params
    current, problem = read_record(p["path"])
    if p["state"] == "read":
        if problem:
            module.fail_json(msg=problem, found=False, record={})
        module.exit_json(changed=False, found=current is not None, record=current or {},
                         ansible_facts=dict(slm_endpoint=current or {}))

    before = json.dumps(current, indent=2, sort_keys=True) + "\n" if current else ""
    if p["state"] == "absent":
        changed = os.path.exists(p["path"])
        if changed and not module.check_mode:
            os.unlink(p["path"])
        module.exit_json(changed=changed, found=False, record={}, ansible_facts=dict(slm_endpoint={}),
                         diff=dict(before=before, after=""))

    wanted = dict((key, p[key]) for key in FIELDS)
    problems = record_problems(wanted)
    if problems:
        module.fail_json(msg="engine record for %s not written: %s" % (p["path"], "; ".join(problems)))
    record = normalize(wanted)
    after = json.dumps(record, indent=2, sort_keys=True) + "\n"
    changed = after != before
    if changed and not module.check_mode:
        try:
            write_atomically(p["path"], after)
        except (IOError, OSError) as exc:
            module.fail_json(msg="cannot write the engine record %s: %s" % (p["path"], exc))
    module.exit_json(changed=changed, found=True, record=record, ansible_facts=dict(slm_endpoint=record),
                     diff=dict(before=before, after=after))


if __name__ == "__main__":
    main()
