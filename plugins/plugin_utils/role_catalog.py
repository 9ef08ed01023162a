# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every role of the collection accepts, read from its files on the controller.

For each directory under ``roles/`` (discovered, never listed by hand, so a new role is covered
the day it lands) the catalog holds:

``prefix``
    ``<role>_``: the variables of the role start with it.
``known``
    Every name the role defines or sets: the options of ``meta/argument_specs.yml`` (entry point
    ``main``), the keys of ``defaults/main.yml`` and ``vars/main.yml``, and the facts and results its
    tasks and handlers set (``set_fact`` keys, ``register`` names).
``spec``
    The options of ``meta/argument_specs.yml`` (``None`` when the role has no such file yet).
``defaults``
    The defaults of spec options whose value is a literal (not a Jinja template): a template can
    only be resolved inside the role, so it is left to the role's own checks.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator, List, Optional

import yaml


class _TolerantLoader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
    """SafeLoader that reads Ansible's tags (``!unsafe``, ``!vault``) as plain values."""


def _any_tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_TolerantLoader.add_multi_constructor("!", _any_tag)


def read_yaml(path: str) -> Any:
    """The YAML document at ``path`` (None when the file does not exist)."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_TolerantLoader)  # nosec B506 - a SafeLoader subclass


def is_template(value: Any) -> bool:
    """True when ``value`` (or anything inside it) is a Jinja expression."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(is_template(v) for v in value.values())
    if isinstance(value, list):
        return any(is_template(v) for v in value)
    return False


_BLOCK_KEYS = ("block", "rescue", "always")
_SET_FACT = ("set_fact", "ansible.builtin.set_fact", "ansible.legacy.set_fact")


def _tasks(items: Any) -> Iterator[Dict[str, Any]]:
    for task in items if isinstance(items, list) else []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in _BLOCK_KEYS:
            yield from _tasks(task.get(key))


def set_names(task_files: List[Any]) -> List[str]:
    """Names that tasks set: ``set_fact`` keys and ``register`` names (parsed task files)."""
    names = set()
    for document in task_files:
        for task in _tasks(document):
            if isinstance(task.get("register"), str):
                names.add(task["register"])
            for action in _SET_FACT:
                if isinstance(task.get(action), dict):
                    names.update(k for k in task[action] if k != "cacheable")
    return sorted(names)


def _yaml_files(directory: str) -> List[str]:
    if not os.path.isdir(directory):
        return []
    return sorted(os.path.join(directory, f) for f in os.listdir(directory) if f.endswith((".yml", ".yaml")))


def role_entry(role_dir: str) -> Optional[Dict[str, Any]]:
    """The catalog entry of one role directory (None when it is not a role)."""
    parts = {name: os.path.join(role_dir, name) for name in ("tasks", "defaults", "meta", "vars", "handlers")}
    if not any(os.path.isdir(p) for p in parts.values()):
        return None
    role = os.path.basename(os.path.normpath(role_dir))
    specs = read_yaml(os.path.join(parts["meta"], "argument_specs.yml"))
    if specs is None:
        specs = read_yaml(os.path.join(parts["meta"], "argument_specs.yaml"))
    spec = None
    if isinstance(specs, dict):
        main = (specs.get("argument_specs") or {}).get("main") or {}
        spec = dict(main.get("options") or {})
    defaults = read_yaml(os.path.join(parts["defaults"], "main.yml")) or {}
    role_vars = read_yaml(os.path.join(parts["vars"], "main.yml")) or {}
    tasks = [read_yaml(f) for f in _yaml_files(parts["tasks"]) + _yaml_files(parts["handlers"])]
    known = set(spec or {}) | set(defaults) | set(role_vars) | set(set_names(tasks))
    return {
        "prefix": role + "_",
        "known": sorted(known),
        "spec": spec,
        "defaults": {k: v for k, v in defaults.items() if spec and k in spec and not is_template(v)},
    }


def role_catalog(roles_dir: str) -> Dict[str, Dict[str, Any]]:
    """Catalog of every role under ``roles_dir``: role name -> entry (see the module docstring)."""
    catalog = {}
    for name in sorted(os.listdir(roles_dir)):
        if name.startswith("."):
            continue
        entry = role_entry(os.path.join(roles_dir, name))
        if entry is not None:
            catalog[name] = entry
    return catalog
