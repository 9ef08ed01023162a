#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fetch an artifact's files over HTTP from the site cache: Range resume, sha256 check, atomic rename."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: slm_fetch
short_description: Fetch an artifact's files from the site cache over HTTP, resuming partial files, verified by sha256
version_added: 0.2.0
description:
  - Fetches every file of a manifest from O(url) (the site cache's plain-HTTP file server, one directory per model
    build key) into O(dest), so that the hosts of a site take the model from the site network instead of from the
    control node.
  - Each file is written to C(<file>.part) first. An interrupted transfer keeps that partial file, and the next
    attempt - in this run (up to O(attempts)) or in a later run - asks only for the missing bytes with an HTTP
    C(Range) request. A server that ignores C(Range) is answered by starting the file again.
  - A finished file is renamed to its final name only when its size and sha256 match the manifest. A file whose
    content does not match (a corrupted partial file, a damaged file already in O(dest)) is refused, deleted and
    fetched again from byte 0; when the server's own copy is wrong the task fails and names the file.
  - Files already in O(dest) with the right size and sha256 are not fetched again (no change).
  - Stdlib only on the host. The site cache is on the site network, so proxy variables of the host are ignored
    unless O(use_proxy) is set.
options:
  url:
    description: Base URL of the artifact on the cache, for example C(http://10.1.0.5:8080/models/<build_key>).
    type: str
    required: true
  dest:
    description: Directory the files are written to (created when missing), for example a staging directory.
    type: path
    required: true
  files:
    description: The manifest's file list; C(path) is relative to O(url) and to O(dest).
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Path relative to the artifact root (normalised, no C(..)).
        type: str
        required: true
      sha256:
        description: Expected sha256, 64 hex digits.
        type: str
        required: true
      size:
        description: Expected size in bytes.
        type: int
  attempts:
    description: Transfers tried per file before the task fails (each one resumes where the last one stopped).
    type: int
    default: 5
  timeout:
    description: Seconds without an answer from the cache before an attempt is abandoned.
    type: int
    default: 60
  use_proxy:
    description: Use the host's proxy environment variables (the cache normally sits on the site network).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports which files would be fetched and how many bytes that is, without any request or write.
  diff_mode:
    support: none
    description: Not supported.
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
- name: Fetch the model from the site cache into the staging directory
  edgeai.slm_fleet.slm_fetch:
    url: "http://{{ site_cache_address }}:8080/models/{{ manifest.build_key }}"
    dest: /var/lib/slm-fleet/onnx/models/phi-4-mini/.staging-3f2a9c1b7e4d
    files: "{{ manifest.files }}"
"""

RETURN = r"""
fetched:
  description: Paths fetched (or, in check mode, that would be fetched) in this run.
  returned: always
  type: list
  elements: str
bytes_received:
  description: Bytes received from the cache in this run (0 in check mode).
  returned: always
  type: int
bytes_missing:
  description: Bytes of the manifest not yet present and verified in O(dest) before the run.
  returned: always
  type: int
resumed:
  description: One entry per file whose transfer resumed a partial file (C(path), C(offsets) the Range requests started at).
  returned: always
  type: list
  elements: dict
refused:
  description: One entry per file whose content did not match the manifest and was fetched again (C(path), C(times)).
  returned: always
  type: list
  elements: dict
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_range_fetch import FetchError, Transfer, matches

HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def entry_errors(files):
    """Problems with the manifest entries that would make a host path escape ``dest`` (empty when fine)."""
    errors = []
    for index, entry in enumerate(files):
        path = entry["path"]
        parts = path.split("/")
        if path.startswith("/") or "\\" in path or "\x00" in path or any(p in ("", ".", "..") for p in parts):
            errors.append("files[%d] (path %r) must be relative and normalised" % (index, path))
        if not HEX64.match(entry["sha256"] or ""):
            errors.append("files[%d] (path %r): sha256 must be 64 hex digits" % (index, path))
        if entry.get("size") is not None and entry["size"] < 0:
            errors.append("files[%d] (path %r): size must not be negative" % (index, path))
    return errors


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            dest=dict(type="path", required=True),
            files=dict(type="list", elements="dict", required=True, options=dict(
                path=dict(type="str", required=True),
                sha256=dict(type="str", required=True),
                size=dict(type="int"),
            )),
            attempts=dict(type="int", default=5),
            timeout=dict(type="int", default=60),
            use_proxy=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    result = dict(changed=False, fetched=[], bytes_received=0, bytes_missing=0, resumed=[], refused=[])
    if not p["url"].startswith(("http://", "https://")):
        module.fail_json(msg="url=%r must start with http:// or https://" % p["url"], **result)
    if p["attempts"] < 1 or p["timeout"] < 1:
        module.fail_json(msg="attempts (%s) and timeout (%s) must be at least 1" % (p["attempts"], p["timeout"]), **result)
    errors = entry_errors(p["files"])
    if errors:
        module.fail_json(msg="manifest refused, nothing was fetched: %s" % "; ".join(errors), **result)

    missing = [f for f in p["files"] if not matches(os.path.join(p["dest"], f["path"]), f.get("size"), f["sha256"])]
    result["bytes_missing"] = sum(int(f.get("size") or 0) for f in missing)
    result["fetched"] = [f["path"] for f in missing]
    result["changed"] = bool(missing)
    if module.check_mode or not missing:
        module.exit_json(**result)

    transfer = Transfer(p["url"], timeout=p["timeout"], attempts=p["attempts"], use_proxy=p["use_proxy"])
    try:
        for entry in missing:
            outcome = transfer.fetch(entry["path"], p["dest"], entry["sha256"], entry.get("size"))
            if outcome["resumed_from"]:
                result["resumed"].append(dict(path=entry["path"], offsets=outcome["resumed_from"]))
            if outcome["refused"]:
                result["refused"].append(dict(path=entry["path"], times=outcome["refused"]))
    except (FetchError, OSError) as exc:
        result["bytes_received"] = transfer.bytes_received
        module.fail_json(msg="fetch from %s into %s failed: %s" % (p["url"], p["dest"], exc), **result)
    result["bytes_received"] = transfer.bytes_received
    module.exit_json(**result)


if __name__ == "__main__":
    main()
