# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter slm_proxy_plan: where the front proxy listens and on which loopback port (blue or green) the
next release of an engine starts, from the release's own port files. Pure: no host is touched."""

from __future__ import annotations

from typing import Any, Optional

DOCUMENTATION = r"""
name: slm_proxy_plan
short_description: Front proxy published address and the idle blue/green release port of an engine
version_added: 0.2.0
description:
  - With a front proxy (release switch C(beside)), the proxy publishes the engine's port on the engine's bind
    address, and releases listen on two loopback-only ports that alternate (blue = the candidate port,
    green = the candidate port + 1). A new release starts on the port the serving release does not use.
  - Reads the release's C(.env) (C(SLM_BIND_ADDRESS) and C(SLM_PUBLISHED_PORT), what the engine role publishes, and
    any other per-engine setting such as Ollama's network alias, which the release behind the proxy keeps) and
    C(candidate.env) (the candidate port).
  - Never raises; a problem is returned in C(error) so the calling task can refuse it with the host's name.
positional: _input, candidate_env, serving_port, project
options:
  _input:
    description: Content of the release's C(.env).
    type: str
    required: true
  candidate_env:
    description: Content of the release's C(candidate.env).
    type: str
    required: true
  serving_port:
    description: Loopback port of the release serving behind the proxy now (V(0) or empty when none).
    type: raw
    required: true
  project:
    description: The engine's compose project name; a release behind the proxy runs as C(<project>-<port>).
    type: str
    required: true
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
plan: "{{ dotenv | edgeai.slm_fleet.slm_proxy_plan(candidate_env, 9000, 'slm-onnx') }}"
# .env SLM_BIND_ADDRESS=127.0.0.1 SLM_PUBLISHED_PORT=8000, candidate.env port 9000, serving on 9000 ->
# {bind_address: 127.0.0.1, published_port: 8000, port: 9001, slots: [9000, 9001], project: slm-onnx-9001,
#  env: "SLM_BIND_ADDRESS=127.0.0.1\nSLM_PUBLISHED_PORT=9001\n", error: ""}
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    bind_address: {description: "Address the proxy publishes the engine's port on (no brackets; V(0.0.0.0) for an empty one).", type: str}
    published_port: {description: The engine's published port (the proxy's)., type: int}
    slots: {description: "The two loopback release ports (blue, green).", type: list, elements: int}
    port: {description: Port the next release starts on (the one not serving)., type: int}
    project: {description: Compose project of the next release., type: str}
    env: {description: "Env file of the next release: .env with loopback and the release port.", type: str}
    error: {description: Why the plan is impossible (empty when it is fine)., type: str}
"""


def parse_env(text: Any) -> dict[str, str]:
    """``KEY=VALUE`` lines of a compose env file (comments and blank lines skipped), in order."""
    values: dict[str, str] = {}
    for line in str(text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip()
    return values


def render_env(values: dict[str, str]) -> str:
    """The env file for ``values``, one ``KEY=VALUE`` per line."""
    return "".join(f"{key}={value}\n" for key, value in values.items())


def host_ip(address: str) -> str:
    """Docker's ``host_ip`` for a bind address: no brackets around IPv6, empty = every IPv4 address."""
    address = address.strip()
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    return address or "0.0.0.0"


def _port(values: dict[str, str], name: str, what: str) -> tuple[Optional[int], str]:
    raw = values.get("SLM_PUBLISHED_PORT", "")
    try:
        port = int(raw)
    except ValueError:
        return None, f"{name} gives SLM_PUBLISHED_PORT={raw!r} ({what}); want a port number"
    if not 1 <= port <= 65535:
        return None, f"{name} gives SLM_PUBLISHED_PORT={port} ({what}); want 1-65535"
    return port, ""


def slm_proxy_plan(dotenv: Any, candidate_env: Any, serving_port: Any, project: Any) -> dict[str, Any]:
    """The proxy's published address and the next release's port, project and env file (see DOCUMENTATION)."""
    plan: dict[str, Any] = {"bind_address": "", "published_port": 0, "slots": [], "port": 0, "project": "",
                            "env": "", "error": ""}
    served = parse_env(dotenv)
    candidate = parse_env(candidate_env)
    published, error = _port(served, ".env", "the engine's published port")
    if error:
        plan["error"] = error
        return plan
    blue, error = _port(candidate, "candidate.env", "the first loopback release port")
    if error:
        plan["error"] = error
        return plan
    if published is None or blue is None:  # unreachable: _port returned an error above
        raise AssertionError("port parsing returned neither a port nor an error")
    green = blue + 1
    if green > 65535:
        plan["error"] = f"candidate.env gives port {blue}; the second release port {green} is beyond 65535"
        return plan
    if published in (blue, green):
        plan["error"] = (f"the engine's published port {published} is one of the release ports {blue}/{green} "
                         "(candidate port and candidate port + 1); choose another candidate port")
        return plan
    try:
        serving = int(serving_port or 0)
    except (TypeError, ValueError):
        serving = 0
    port = green if serving == blue else blue
    env = dict(served, SLM_BIND_ADDRESS="127.0.0.1", SLM_PUBLISHED_PORT=str(port))
    plan.update(bind_address=host_ip(served.get("SLM_BIND_ADDRESS", "127.0.0.1")),
                published_port=published, slots=[blue, green], port=port, project=f"{project}-{port}",
                env=render_env(env))
    return plan


class FilterModule:
    """slm_proxy_plan filter."""

    def filters(self) -> dict[str, Any]:
        """Filter name -> function."""
        return {"slm_proxy_plan": slm_proxy_plan}
