# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters slm_site_cache and slm_cache_image_ref: where a site's hosts find the site cache, and the
name an exported image has in its registry (one place for both, read by slm_release)."""

from __future__ import annotations

import re
from typing import Any, Mapping

DOCUMENTATION = r"""
name: slm_site_cache
short_description: The site cache's coordinates (address, registry, file server URL, directories) from its inventory
version_added: 0.2.0
description:
  - Reads the inventory variables of the site cache host (the first host of the group) as the role
    C(edgeai.slm_fleet.site_cache) uses them - C(site_cache_address) (default C(ansible_host), then the inventory
    name), C(site_cache_registry_port) (5000), C(site_cache_files_port) (8080), C(site_cache_root)
    (C(/var/lib/slm-site-cache)) - so that every host of the site reaches the cache the same way.
  - Returns an empty dict when the group is empty (no cache on this site).
  - Role defaults are not visible from other hosts, so non-default values belong in the inventory, not in role vars.
positional: _input, cache_hosts
options:
  _input:
    description: C(hostvars).
    type: dict
    required: true
  cache_hosts:
    description: The hosts of the site cache group (C(groups['site_cache'] | default([]))).
    type: list
    elements: str
    required: true
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
cache: "{{ hostvars | edgeai.slm_fleet.slm_site_cache(groups['site_cache'] | default([])) }}"
# {"name": "cache-01", "address": "10.1.0.5", "registry": "10.1.0.5:5000", "files_url": "http://10.1.0.5:8080",
#  "root": "/var/lib/slm-site-cache", "models_dir": "/var/lib/slm-site-cache/models",
#  "incoming_dir": "/var/lib/slm-site-cache/incoming", "hosts": ["cache-01"]}
"""

RETURN = r"""
_value:
  description: The cache's coordinates, or an empty dict without a cache host.
  type: dict
"""

DEFAULT_ROOT = "/var/lib/slm-site-cache"


def slm_site_cache(hostvars: Mapping[str, Any], cache_hosts: Any) -> dict[str, Any]:
    """Coordinates of the first host of ``cache_hosts`` (empty when there is none)."""
    hosts = [str(h) for h in (cache_hosts or [])]
    if not hosts:
        return {}
    name = hosts[0]
    own = hostvars[name] if name in hostvars else {}
    address = str(own.get("site_cache_address") or own.get("ansible_host") or name)
    host = f"[{address}]" if ":" in address else address
    root = str(own.get("site_cache_root") or DEFAULT_ROOT).rstrip("/")
    registry_port = int(own.get("site_cache_registry_port") or 5000)
    files_port = int(own.get("site_cache_files_port") or 8080)
    return {
        "name": name,
        "hosts": hosts,
        "address": address,
        "registry": f"{host}:{registry_port}",
        "files_url": f"http://{host}:{files_port}",
        "root": root,
        "models_dir": f"{root}/models",
        "incoming_dir": f"{root}/incoming",
    }


def slm_cache_image_ref(image_ref: Any, registry: str, image_id: str) -> dict[str, str]:
    """Where an exported image lives in the cache's registry: its repository, plus a tag naming its image id.

    ``slm-fleet/slm-engine:0.1.0`` with id ``sha256:3f2a...`` becomes repository
    ``<registry>/slm-fleet/slm-engine`` and tag ``3f2a9c1b7e4d`` (a tag reused for another image never
    shadows the one a release was built with). A registry host in the reference is left out of the path.
    """
    ref = str(image_ref)
    name = ref.split("@", 1)[0]
    if re.search(r":[^/]+$", name):
        name = name.rsplit(":", 1)[0]
    first, _sep, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        name = rest  # the image's own registry host is not part of its path in the cache's registry
    short = str(image_id).replace("sha256:", "")[:12]
    if not re.fullmatch(r"[0-9a-f]{12}", short):
        raise ValueError(f"image id {image_id!r} is not a sha256 image id")
    return {"repository": f"{registry}/{name}", "tag": short, "path": name, "ref": f"{registry}/{name}:{short}"}


class FilterModule:
    """slm_site_cache filters."""

    def filters(self) -> dict[str, Any]:
        """Filter name -> function."""
        return {"slm_site_cache": slm_site_cache, "slm_cache_image_ref": slm_cache_image_ref}
