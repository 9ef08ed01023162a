# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter slm_local_url: the URL a client on the host itself uses for a service bound to an address."""

from __future__ import annotations

from typing import Any

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_endpoint_record import reachable_host

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


class FilterModule:
    """slm_local_url filter."""

    def filters(self) -> dict[str, Any]:
        """Filter name -> function."""
        return {"slm_local_url": slm_local_url}
