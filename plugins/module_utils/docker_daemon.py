# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validation and merging of Docker's ``daemon.json`` (pure functions, stdlib only).

dockerd refuses to start when ``daemon.json`` holds an unknown key or a value of the wrong
type, which leaves a host without containers. Validating the keys we are asked to write, before
anything is written, turns that into an error message at the start of a run.

Merging is by top-level key: keys we manage are set to our values, every other key in the file
(written by an operator or another tool such as ``nvidia-ctk``) is kept as it is.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# Top-level keys dockerd accepts in daemon.json (Docker 20.10 to 27; `dockerd --help` and the
# daemon reference). Types: "str", "bool", "int", "list", "dict", "any".
KNOWN_KEYS = {
    "allow-nondistributable-artifacts": "list",
    "api-cors-header": "str",
    "authorization-plugins": "list",
    "bip": "str",
    "bip6": "str",
    "bridge": "str",
    "builder": "dict",
    "cdi-spec-dirs": "list",
    "cgroup-parent": "str",
    "containerd": "str",
    "containerd-namespace": "str",
    "containerd-plugins-namespace": "str",
    "data-root": "str",
    "debug": "bool",
    "default-address-pools": "list",
    "default-cgroupns-mode": "str",
    "default-gateway": "str",
    "default-gateway-v6": "str",
    "default-ipc-mode": "str",
    "default-network-opts": "dict",
    "default-runtime": "str",
    "default-shm-size": "str",
    "default-ulimits": "dict",
    "dns": "list",
    "dns-opts": "list",
    "dns-search": "list",
    "exec-opts": "list",
    "exec-root": "str",
    "experimental": "bool",
    "features": "dict",
    "fixed-cidr": "str",
    "fixed-cidr-v6": "str",
    "group": "str",
    "host-gateway-ip": "str",
    "hosts": "list",
    "http-proxy": "str",
    "https-proxy": "str",
    "icc": "bool",
    "init": "bool",
    "init-path": "str",
    "insecure-registries": "list",
    "ip": "str",
    "ip-forward": "bool",
    "ip-masq": "bool",
    "ip6tables": "bool",
    "iptables": "bool",
    "ipv6": "bool",
    "labels": "list",
    "live-restore": "bool",
    "log-driver": "str",
    "log-format": "str",
    "log-level": "str",
    "log-opts": "dict",
    "max-concurrent-downloads": "int",
    "max-concurrent-uploads": "int",
    "max-download-attempts": "int",
    "metrics-addr": "str",
    "min-api-version": "str",
    "mtu": "int",
    "no-new-privileges": "bool",
    "no-proxy": "str",
    "node-generic-resources": "list",
    "oom-score-adjust": "int",
    "pidfile": "str",
    "proxies": "dict",
    "raw-logs": "bool",
    "registry-mirrors": "list",
    "runtimes": "dict",
    "seccomp-profile": "str",
    "selinux-enabled": "bool",
    "shutdown-timeout": "int",
    "storage-driver": "str",
    "storage-opts": "list",
    "swarm-default-advertise-addr": "str",
    "tls": "bool",
    "tlscacert": "str",
    "tlscert": "str",
    "tlskey": "str",
    "tlsverify": "bool",
    "userland-proxy": "bool",
    "userland-proxy-path": "str",
    "userns-remap": "str",
}

_TYPES = {
    "str": (str,),
    "bool": (bool,),
    "int": (int,),
    "list": (list,),
    "dict": (dict,),
}
_LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")
_SIZE = re.compile(r"^[0-9]+[kmg]?$", re.IGNORECASE)


def _type_name(value):
    """Return a short, user-facing name for the type of ``value``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "dict"
    if value is None:
        return "null"
    return type(value).__name__


def _is_type(value, wanted):
    """Check ``value`` against a KNOWN_KEYS type name (bool is not an int here)."""
    if wanted == "any":
        return True
    if wanted == "int" and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[wanted])


def _registry_url_errors(key, values):
    errors = []
    for item in values:
        if not isinstance(item, str) or not re.match(r"^https?://[^\s/]+", item):
            errors.append(
                "'%s' entries must be http(s) URLs such as 'https://mirror.example:5000', got %r"
                % (key, item)
            )
    return errors


def _log_opts_errors(value):
    errors = []
    for opt, optval in value.items():
        if not isinstance(optval, str):
            errors.append(
                "'log-opts' values must be strings (dockerd rejects numbers), "
                "got %s=%r (%s); quote it, e.g. \"%s\"" % (opt, optval, _type_name(optval), optval)
            )
        elif opt == "max-size" and not _SIZE.match(optval):
            errors.append("'log-opts' max-size must look like '10m', '512k' or '1g', got %r" % optval)
        elif opt == "max-file" and not optval.isdigit():
            errors.append("'log-opts' max-file must be a whole number as a string such as '3', got %r" % optval)
    return errors


def validate_options(options):
    """Return a list of human-readable problems with daemon.json ``options`` (empty = valid).

    Checks that ``options`` is a mapping, that every key is one dockerd knows (a typo such as
    ``registry-mirror`` would stop dockerd from starting), that each value has the type dockerd
    expects, and a few value formats that dockerd is strict about (log-opts, registry URLs,
    log-level, data-root).
    """
    if not isinstance(options, dict):
        return ["daemon options must be a mapping of daemon.json keys, got %s" % _type_name(options)]
    errors = []
    for key in sorted(options):
        value = options[key]
        if key not in KNOWN_KEYS:
            close = [k for k in KNOWN_KEYS if k.startswith(key[:5])] if len(key) >= 5 else []
            hint = " (did you mean %s?)" % ", ".join(repr(k) for k in sorted(close)[:3]) if close else ""
            errors.append("unknown daemon.json key %r%s: dockerd refuses to start with it" % (key, hint))
            continue
        wanted = KNOWN_KEYS[key]
        if not _is_type(value, wanted):
            errors.append("%r must be a %s, got %s %r" % (key, wanted, _type_name(value), value))
            continue
        if key == "log-opts":
            errors.extend(_log_opts_errors(value))
        elif key in ("registry-mirrors",):
            errors.extend(_registry_url_errors(key, value))
        elif key == "log-level" and value not in _LOG_LEVELS:
            errors.append("'log-level' must be one of %s, got %r" % (", ".join(_LOG_LEVELS), value))
        elif key == "data-root" and not value.startswith("/"):
            errors.append("'data-root' must be an absolute path, got %r" % value)
    return errors


def merge(current, settings, previously_managed=()):
    """Merge ``settings`` into ``current`` by top-level key.

    Keys in ``settings`` take our values. Keys listed in ``previously_managed`` that are no
    longer in ``settings`` are removed (we wrote them before and no longer want them). Every
    other key is kept untouched.

    Returns ``(merged, added, updated, removed)`` where the last three are sorted key lists.
    """
    merged = dict(current)
    added, updated, removed = [], [], []
    for key, value in settings.items():
        if key not in merged:
            added.append(key)
        elif merged[key] != value:
            updated.append(key)
        merged[key] = value
    for key in previously_managed:
        if key not in settings and key in merged:
            del merged[key]
            removed.append(key)
    return merged, sorted(added), sorted(updated), sorted(removed)
