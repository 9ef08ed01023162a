# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Options shared by the modules that talk to an engine's HTTP API (slm_health, slm_probe)."""

from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    """How to reach an engine: URL, API flavour, key and TLS/proxy settings."""

    DOCUMENTATION = r"""
options:
  url:
    description: Base URL of the engine, without C(/v1), for example C(http://127.0.0.1:8000).
    type: str
    required: true
  api:
    description:
      - V(openai) for vLLM and the project's ONNX engine (OpenAI-compatible), V(ollama) for Ollama's
        native API.
    type: str
    choices: [openai, ollama]
    default: openai
  api_key:
    description:
      - Bearer key for engines started with C(--api-key) (vLLM guards only C(/v1/*) with it).
        Never logged or returned. Mutually exclusive with O(api_key_file).
    type: str
  api_key_file:
    description:
      - Path, on the host the module runs on, of a file holding the key (for example the C(api_key_file) of
        the host's engine record, see M(edgeai.slm_fleet.slm_endpoint)). Read by the module, so the key never
        passes through the controller, a command line or the task's arguments.
    type: path
  validate_certs:
    description: Verify the TLS certificate for C(https) URLs.
    type: bool
    default: true
  ca_path:
    description: CA bundle (PEM) to verify the engine's certificate with.
    type: path
  use_proxy:
    description:
      - Use C(http_proxy)/C(https_proxy) from the environment. Off by default, because edge engines
        are on the site network and a proxy in between is a common cause of false failures.
    type: bool
    default: false
"""
