#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: an Ollama model at a pinned tag, and its variants, through Ollama's API."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ollama_model
short_description: Pull or import an Ollama model at a pinned tag and keep its variants as declared
version_added: "0.1.0"
description:
  - Manages models through Ollama's HTTP API (no C(ollama) CLI, no shell). Needs Ollama 0.5.5 or later
    (C(/api/create) with C(from)/C(files)); C(phi4-mini) itself needs 0.5.13.
  - B(Base model.) Pulled (C(POST /api/pull)) only when C(GET /api/tags) lacks O(name). O(name) must carry a
    pinned tag; no tag or C(latest) is refused, because what such a name pulls changes whenever the registry
    moves it.
  - B(Air-gapped sites.) With O(from_gguf) the model is imported from a GGUF file already on the host (staged and
    checksummed by the collection's artifact path) the way Ollama documents it - C(HEAD /api/blobs/sha256:...),
    C(POST /api/blobs/sha256:...) with the file when Ollama lacks the blob (the file's sha256 is checked first),
    then C(POST /api/create) with C(files). Nothing is fetched from the internet. A model that exists but was
    built from another GGUF (its C(/api/show) modelfile names another blob) is imported again.
  - B(Variants.) Each entry of O(variants) is created with C(POST /api/create) (C(from), C(system),
    C(parameters), C(template)) only when C(/api/show) differs from what the variant would be - Ollama keeps the
    base's system prompt and template unless new ones are given and lays the given parameters over the base's,
    and the comparison does the same. Variants are removed only when asked - C(state=absent) on the entry, or
    O(prune_variants) for local models created from O(name) that O(variants) does not list.
  - B(Long pulls.) An Ansible module cannot print while it runs, so the pull's streamed progress is summarised in
    RV(pull_progress) and, with O(progress_file), appended to a file every few seconds (C(tail -f) it on the host).
    A pull that stops half-way (connection lost, O(pull_timeout) reached, Ollama restarted) fails the task with
    how far it got; Ollama keeps the downloaded part, and the next run resumes from there
    (RV(pull_progress.resumed_from_bytes)).
options:
  url:
    description: Base URL of the Ollama API as reachable from where the task runs.
    type: str
    default: http://127.0.0.1:11434
  name:
    description:
      - The model with a pinned tag, for example C(phi4-mini:3.8b). Without O(from_gguf) it is pulled from the
        registry Ollama is configured with; with O(from_gguf) it is the local name the GGUF is imported as.
    type: str
    required: true
  digest:
    description:
      - Manifest digest the pulled O(name) must have (what C(/api/tags) lists and C(ollama list) shows as ID; at
        least its first 12 hex digits). Checked after a pull and on every run, so a tag the registry moved is
        refused instead of served. Not used with O(from_gguf), whose sha256 is the pin.
    type: str
  state:
    description:
      - V(present) - the model and the variants marked present exist as declared.
      - V(absent) - the declared variants (and, with O(prune_variants), every variant of O(name)) and O(name) are
        deleted.
    type: str
    choices: [present, absent]
    default: present
  from_gguf:
    description: Import O(name) from a GGUF file on the host instead of pulling it.
    type: dict
    suboptions:
      path:
        description: Path of the GGUF file on the host.
        type: path
        required: true
      sha256:
        description: Its sha256 (from the artifact manifest), 64 hex digits.
        type: str
        required: true
  variants:
    description: Models derived from O(name) (or from an earlier variant) with their own system prompt and parameters.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Variant name, for example C(phi4-mini-reasoning) (Ollama adds C(:latest) when no tag is given).
        type: str
        required: true
      from:
        description: Model it is created from. Defaults to O(name).
        type: str
      system:
        description: System prompt. Empty keeps the base model's.
        type: str
      parameters:
        description:
          - Ollama parameters (C(temperature), C(top_p), C(num_ctx), C(stop), ...), typed as Ollama expects; an
            unknown key is refused. They are laid over the base model's parameters.
        type: dict
      template:
        description: Prompt template (Go template syntax). Empty keeps the base model's.
        type: str
      state:
        description: V(absent) deletes the variant.
        type: str
        choices: [present, absent]
        default: present
  prune_variants:
    description: Delete local models created from O(name) or a declared variant that O(variants) does not list.
    type: bool
    default: false
  pull_timeout:
    description: Seconds a pull, a blob upload or a GGUF import may take (phi4-mini is ~2.5 GB).
    type: float
    default: 3600
  timeout:
    description: Seconds for each other request (C(/api/create) of a variant included).
    type: float
    default: 120
  progress_file:
    description:
      - File on the host to which pull progress is appended every few seconds (created if missing; its directory
        must exist). Follow a long pull with C(tail -f). Nothing is written in check mode.
    type: path
  validate_certs:
    description: Verify the TLS certificate when O(url) is https.
    type: bool
    default: true
  ca_path:
    description: CA bundle for an https O(url).
    type: path
attributes:
  check_mode:
    support: full
    description: Only reads (C(/api/version), C(/api/tags), C(/api/show), C(HEAD /api/blobs)) and reports what it would do.
  diff_mode:
    support: full
    description: Before and after of each variant (C(from), C(system), C(template), C(parameters)) and of deletions.
notes:
  - Uses only the Python standard library on the host.
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
- name: Pull phi4-mini at a pinned tag and create the seed's reasoning and coder variants
  edgeai.slm_fleet.ollama_model:
    name: phi4-mini:3.8b
    progress_file: /var/log/slm-fleet/ollama-pull.log
    variants:
      - name: phi4-mini-reasoning
        parameters: {temperature: 0.3, top_p: 0.8}
        system: |-
          You are an expert reasoning assistant specialized in mathematics, logic, and code analysis.
          Always think step by step and show your work clearly.
          For mathematical problems, break down each calculation.
          For coding problems, explain your approach and include comments.
      - name: phi4-mini-coder
        parameters: {temperature: 0.5, top_p: 0.9}
        system: |-
          You are a coding assistant specialized in writing clean, efficient, and well-documented code.
          Always include detailed comments explaining your approach.
          Follow best practices for the target programming language.
          Provide examples and test cases when helpful.
  register: ollama_models

- name: Air-gapped site - import phi4-mini from the staged, checksummed GGUF
  edgeai.slm_fleet.ollama_model:
    name: phi4-mini:3.8b-q4_K_M
    from_gguf:
      path: /var/lib/slm-fleet/models/phi4-mini/phi4-mini-Q4_K_M.gguf
      sha256: "{{ phi4_mini_gguf_sha256 }}"

- name: Remove variants that are no longer declared
  edgeai.slm_fleet.ollama_model:
    name: phi4-mini:3.8b
    variants: "{{ ollama_variants }}"
    prune_variants: true
"""

RETURN = r"""
actions:
  description: What was done (or, in check mode, would be done), in order.
  returned: always
  type: list
  elements: dict
  sample: [{action: pull, model: "phi4-mini:3.8b", reason: not in /api/tags},
           {action: update, model: "phi4-mini-coder:latest", reason: /api/show differs in parameters}]
pull_progress:
  description: Summary of the pull's streamed progress, null when nothing was pulled.
  returned: always
  type: dict
  contains:
    model:
      description: The model pulled.
      type: str
    outcome:
      description: V(success), V(interrupted) (the stream ended early), V(timeout) (O(pull_timeout)) or V(failed)
        (Ollama answered an error, in RV(pull_progress.error)).
      type: str
    bytes_total:
      description: Size of all layers.
      type: int
    bytes_completed:
      description: Bytes Ollama has of them at the end of this run.
      type: int
    percent:
      description: RV(pull_progress.bytes_completed) of RV(pull_progress.bytes_total), in percent.
      type: float
    resumed_from_bytes:
      description: Bytes an earlier, interrupted pull had already fetched (0 for a fresh pull).
      type: int
    statuses:
      description: The distinct status lines Ollama sent, in order (C(pulling layers) stands for the per-layer lines).
      type: list
      elements: str
    layers:
      description: Per layer - C(digest), C(total), C(completed), C(resumed_from).
      type: list
      elements: dict
    duration_s:
      description: Seconds the pull took in this run.
      type: float
    error:
      description: Ollama's error line, if any.
      type: str
    progress_file:
      description: The progress file written, if any.
      type: str
  sample: {model: "phi4-mini:3.8b", outcome: success, bytes_total: 2491881164, bytes_completed: 2491881164,
           percent: 100.0, resumed_from_bytes: 1245938387, duration_s: 81.4,
           statuses: [pulling manifest, pulling layers, verifying sha256 digest, writing manifest, success]}
models:
  description: Local models after the run (canonical C(name:tag)).
  returned: always
  type: list
  elements: str
ollama_version:
  description: Version Ollama reported on C(/api/version).
  returned: always
  type: str
  sample: 0.6.8
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.ollama_api import OllamaAPI, OllamaError
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.ollama_converge import Converger
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.ollama_models import (
    SpecError,
    check_digest,
    check_gguf,
    check_pinned,
    normalise_variants,
)
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_http import HttpTransport, redact_url

VARIANT_SPEC = {
    "name": dict(type="str", required=True),
    "from": dict(type="str"),
    "system": dict(type="str"),
    "parameters": dict(type="dict"),
    "template": dict(type="str"),
    "state": dict(type="str", choices=["present", "absent"], default="present"),
}

ARGUMENT_SPEC = dict(
    url=dict(type="str", default="http://127.0.0.1:11434"),
    name=dict(type="str", required=True),
    digest=dict(type="str"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    from_gguf=dict(type="dict", options=dict(path=dict(type="path", required=True),
                                             sha256=dict(type="str", required=True))),
    variants=dict(type="list", elements="dict", default=[], options=VARIANT_SPEC),
    prune_variants=dict(type="bool", default=False),
    pull_timeout=dict(type="float", default=3600.0),
    timeout=dict(type="float", default=120.0),
    progress_file=dict(type="path"),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
)


def checked_spec(p: dict) -> dict:
    """The options, validated; raises SpecError with an actionable message."""
    if not p["url"].startswith(("http://", "https://")):
        raise SpecError("url must start with http:// or https://; got %r" % redact_url(p["url"]))
    for key in ("pull_timeout", "timeout"):
        if p[key] <= 0:
            raise SpecError("%s must be a positive number of seconds; got %s" % (key, p[key]))
    spec = dict(name=check_pinned(p["name"]), state=p["state"], prune_variants=p["prune_variants"],
                pull_timeout=p["pull_timeout"], timeout=p["timeout"], progress_file=p["progress_file"])
    spec["variants"] = normalise_variants(p["variants"], spec["name"])
    spec["from_gguf"] = check_gguf(p["from_gguf"]) if p["state"] == "present" else None
    spec["digest"] = check_digest(p["digest"], spec["from_gguf"])
    folder = os.path.dirname(os.path.abspath(p["progress_file"])) if p["progress_file"] else None
    if folder and not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
        raise SpecError("progress_file=%r: directory %s does not exist or is not writable" % (p["progress_file"], folder))
    return spec


def main() -> None:
    """Module entry point."""
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    try:
        spec = checked_spec(p)
    except SpecError as exc:
        module.fail_json(msg="ollama_model: %s" % exc, changed=False)
    transport = HttpTransport(p["url"], timeout=p["timeout"], validate_certs=p["validate_certs"],
                              ca_path=p["ca_path"], retries=2)
    converger = Converger(OllamaAPI(transport), spec, check_mode=module.check_mode)
    try:
        result = converger.run()
    except OllamaError as exc:
        module.fail_json(msg="ollama_model %s at %s: %s" % (p["name"], redact_url(p["url"]), exc),
                         changed=converger.writes_done > 0,
                         actions=converger.actions, pull_progress=converger.pull_progress)
    diff = result.pop("diff")
    if module._diff and (diff["before"] or diff["after"]):
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
