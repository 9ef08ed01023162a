# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters slm_local_url and slm_is_loopback: how a service bound to an address is reached, and whether
it stays on the host (the one exposure rule every engine role applies)."""

from __future__ import annotations

from typing import Any

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_endpoint_record import is_loopback, reachable_host

DOCUMENTATION = r"""
name: slm_local_url
short_description: The URL of a service as reachable from its own host, honouring its bind address
version_added: 0.2.0
description:
  - A service bound to a wildcard address (V(0.0.0.0), V(::)) is reached on loopback; one bound to a specific
    address only on that address (an engine bound to C(10.0.0.5) does not answer on C(127.0.0.1)).
  - Engine roles use it for the C(url) of their engine record (M(edgeai.slm_fleet.slm_endpoint)).
positional: _input, port
options:
  _input:
    description: The bind address.
    type: str
    required: true
  port:
    description: The published port.
    type: int
    required: true
  scheme:
    description: URL scheme.
    type: str
    default: http
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
url: "{{ engine_onnx_bind_address | edgeai.slm_fleet.slm_local_url(engine_onnx_port) }}"
# 127.0.0.1 -> http://127.0.0.1:8000 ; 0.0.0.0 -> http://127.0.0.1:8000 ; 10.0.0.5 -> http://10.0.0.5:8000
"""

RETURN = r"""
_value:
  description: The URL, without a trailing slash.
  type: str
"""


def slm_local_url(bind_address: Any, port: Any, scheme: str = "http") -> str:
    """``scheme://host:port`` where host is how the host itself reaches ``bind_address``."""
    return f"{scheme}://{reachable_host(str(bind_address or ''))}:{int(port)}"


def slm_is_loopback(bind_address: Any) -> bool:
    """Whether a port published on ``bind_address`` stays on the host (the engine roles' exposure rule)."""
    return is_loopback(str(bind_address or ""))


class FilterModule:
    """slm_local_url filter."""

    def filters(self) -> dict[str, Any]:
        """Filter name -> function."""
        return {"slm_local_url": slm_local_url, "slm_is_loopback": slm_is_loopback}
