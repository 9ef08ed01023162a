# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine record: what an engine role deployed on a host, as everything else reads it.

Every ``engine_*`` role ends by writing one record (module ``slm_endpoint``) to a local fact file on
the host; verification, ``playbooks/ask.yml``, rollouts and reports read it and never derive an
endpoint themselves. The record holds no secret: ``api_key_file`` names the root-only file on the
host that holds the key (or is empty when the API has no key).

Pure functions, stdlib only (runs on target hosts with Python 3.8+).
"""

from __future__ import absolute_import, division, print_function

import re

__metaclass__ = type

#: Version of the record's layout; readers refuse records of another schema.
SCHEMA = 1
#: Default location: Ansible's local facts directory, so ``ansible_local.slm_endpoint`` works too.
DEFAULT_PATH = "/etc/ansible/facts.d/slm_endpoint.fact"
APIS = ("openai", "ollama")

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_RELEASE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_URL = re.compile(r"^https?://[^\s/?#]+(:[0-9]{1,5})?/?$")

#: field -> (required, description used in error messages)
FIELDS = {
    "engine": (True, "the engine's short name, e.g. onnx, vllm, ollama (the role is engine_<engine>)"),
    "label": (False, "what serves the API, for people, e.g. 'vLLM 0.32.0 (CPU build)' or 'Ollama API emulator'"),
    "release": (True, "the release id serving now"),
    "previous_release": (False, "the release a rollback switches to ('' when there is none)"),
    "url": (True, "the API's base URL as reachable from the host itself, without /v1"),
    "api": (True, "the API flavour: openai or ollama"),
    "model": (True, "the model name clients send"),
    "api_key_file": (False, "path on the host of the file holding the API key ('' when the API has no key)"),
    "metrics_url": (False, "Prometheus metrics URL as reachable from the host ('' when none)"),
    "image": (False, "the container image serving the release"),
    "golden_file": (False, "absolute path on the host of the golden answers recorded with the served model "
                           "('' when the engine has none)"),
}


def record_problems(record):
    """Everything wrong with ``record`` (a dict), one readable sentence each; empty when valid."""
    problems = []
    if not isinstance(record, dict):
        return ["the engine record must be a mapping, got %s" % type(record).__name__]
    for key in sorted(set(record) - set(FIELDS) - {"schema"}):
        problems.append("unknown field %r (known: %s)" % (key, ", ".join(sorted(FIELDS))))
    for key, (required, what) in sorted(FIELDS.items()):
        value = record.get(key)
        if value is None or value == "":
            if required:
                problems.append("%s is missing: %s" % (key, what))
            continue
        if not isinstance(value, str):
            problems.append("%s must be a string (%s), got %r" % (key, what, value))
    if problems:
        return problems
    checks = (
        ("engine", _NAME, "lower-case letters, digits and '_'"),
        ("release", _RELEASE, "letters, digits, '.', '_' and '-'"),
        ("url", _URL, "http(s)://host[:port] with no path"),
    )
    for key, pattern, allowed in checks:
        if not pattern.match(record[key]):
            problems.append("%s=%r is not valid (%s)" % (key, record[key], allowed))
    if record.get("previous_release") and not _RELEASE.match(record["previous_release"]):
        problems.append("previous_release=%r is not a release id" % record["previous_release"])
    if record["api"] not in APIS:
        problems.append("api=%r is not one of %s" % (record["api"], ", ".join(APIS)))
    key_file = record.get("api_key_file") or ""
    if key_file and not key_file.startswith("/"):
        problems.append("api_key_file=%r must be an absolute path on the host" % key_file)
    golden = record.get("golden_file") or ""
    if golden and (not golden.startswith("/") or not golden.endswith(".json")):
        problems.append("golden_file=%r must be an absolute path on the host to a .json file" % golden)
    if record.get("metrics_url") and not record["metrics_url"].startswith(("http://", "https://")):
        problems.append("metrics_url=%r must be an http(s) URL" % record["metrics_url"])
    return problems


def normalize(record):
    """The record as stored: every known field present (optional ones as ''), schema stamped."""
    stored = dict((key, record.get(key) or "") for key in FIELDS)
    stored["url"] = stored["url"].rstrip("/")
    stored["schema"] = SCHEMA
    return stored


def is_loopback(bind_address):
    """Whether ``bind_address`` keeps a published port on the host itself (127.0.0.0/8, ::1, localhost)."""
    address = (bind_address or "").strip().strip("[]").lower()
    return address == "localhost" or address == "::1" or address.startswith("127.")


def reachable_host(bind_address):
    """The address a client on the host itself uses for a service bound to ``bind_address``.

    A wildcard bind (0.0.0.0 or ::) is reached on loopback; a specific address on itself (an
    engine bound to 10.0.0.5 does not answer on 127.0.0.1).
    """
    address = (bind_address or "").strip().strip("[]")
    if address in ("", "0.0.0.0", "*"):
        return "127.0.0.1"
    if address == "::":
        return "[::1]"
    return "[%s]" % address if ":" in address else address
