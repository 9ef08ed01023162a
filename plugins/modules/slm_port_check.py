#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tell whether a TCP port is free, already served by our own compose project, or taken by something else."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: slm_port_check
short_description: Find out whether a TCP port is free, ours, or taken by another program
version_added: 0.1.0
description:
  - Reads the listening sockets from C(/proc/net/tcp) and C(/proc/net/tcp6). When the port is in use, asks Docker
    which container publishes it; a container of a compose project whose name starts with O(owner_project) counts
    as ours (a re-run of the same deployment), anything else as taken. For a program outside Docker the owner is
    found through C(/proc/<pid>/fd).
  - Only reads; never fails by itself, so the calling role can word the error with its own variable names.
options:
  port:
    description: The TCP port.
    type: int
    required: true
  owner_project:
    description: Prefix of the compose project names that belong to the caller.
    type: str
    required: true
attributes:
  check_mode:
    support: full
    description: Only reads; behaves the same in check mode.
  diff_mode:
    support: none
    description: Not supported.
author:
  - edgeai.slm_fleet developers (@edgeai)
"""

EXAMPLES = r"""
- name: Check that the engine port is free or ours
  edgeai.slm_fleet.slm_port_check:
    port: 8000
    owner_project: slm-onnx
  register: port_state
"""

RETURN = r"""
state:
  description: C(free), C(ours) or C(taken).
  returned: always
  type: str
owner:
  description: Who holds the port (container and project, or process and pid); empty when free.
  returned: always
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

LISTEN = "0A"


def listening_inodes(port, proc="/proc"):
    """Socket inodes listening on ``port`` (any address), from /proc/net/tcp{,6}."""
    inodes = []
    for name in ("tcp", "tcp6"):
        try:
            with open(os.path.join(proc, "net", name)) as handle:
                lines = handle.read().splitlines()[1:]
        except (IOError, OSError):
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != LISTEN:
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.append(fields[9])
    return inodes


def process_of(inodes, proc="/proc"):
    """``name (pid N)`` of the process holding one of ``inodes``, or '' when not found."""
    targets = set("socket:[%s]" % i for i in inodes)
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        fd_dir = os.path.join(proc, pid, "fd")
        try:
            for fd in os.listdir(fd_dir):
                if os.readlink(os.path.join(fd_dir, fd)) in targets:
                    with open(os.path.join(proc, pid, "comm")) as handle:
                        return "%s (pid %s)" % (handle.read().strip(), pid)
        except (IOError, OSError):
            continue
    return ""


def publishing_containers(module, port):
    """[(container name, compose project)] of running containers that publish ``port``."""
    docker = module.get_bin_path("docker")
    if not docker:
        return []
    rc, out, _err = module.run_command([docker, "ps", "--filter", "publish=%d" % port, "--format",
                                        '{{.Names}}\t{{.Label "com.docker.compose.project"}}'])
    if rc != 0:
        return []
    return [tuple((line.split("\t") + [""])[:2]) for line in out.splitlines() if line.strip()]


def main():
    module = AnsibleModule(
        argument_spec=dict(port=dict(type="int", required=True), owner_project=dict(type="str", required=True)),
        supports_check_mode=True,
    )
    port, prefix = module.params["port"], module.params["owner_project"]
    if not 1 <= port <= 65535:
        module.fail_json(msg="port must be between 1 and 65535, got %d" % port)
    inodes = listening_inodes(port)
    containers = publishing_containers(module, port)
    if not inodes and not containers:
        module.exit_json(changed=False, state="free", owner="")
    for name, project in containers:
        if project.startswith(prefix):
            module.exit_json(changed=False, state="ours", owner="container %s of project %s" % (name, project))
    if containers:
        name, project = containers[0]
        owner = "container %s%s" % (name, " of compose project %s" % project if project else "")
    else:
        owner = process_of(inodes) or "an unknown process"
    module.exit_json(changed=False, state="taken", owner=owner)


if __name__ == "__main__":
    main()
