# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks of every role's inputs, run by preflight before the first change (pure functions).

They work on the catalog of :mod:`role_catalog` (what each role accepts) and on the names and
values a host has:

* :func:`unknown_role_variables` — names that look like a role's variable but are none of its
  own (``engine_onnx_prot``, ``container_runtime_daemon_option``, ``engine_onx_port``), each with
  the closest known name;
* :func:`input_sets` — for each role a host will run, its argument spec and the host's values
  merged over the role's literal defaults, ready for ``ansible.builtin.validate_argument_spec``;
* :func:`input_errors` — the refusals of that validation rewritten as one readable sentence per
  variable (what was given, what is allowed), plus what argument specs cannot say: a string
  option given a dict or list (Ansible converts it silently), a ``path`` option that is not an
  absolute path, a number outside the range its description documents ("at least 2",
  "between 0 and 1", "(1-65535)").

Values of ``no_log`` options are never shown.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

Catalog = Mapping[str, Mapping[str, Any]]

# A near-miss prefix (engine_onx_, containr_runtime_) counts only with a strong match.
PREFIX_CUTOFF = 0.85
NEAR_PREFIX_MATCH_CUTOFF = 0.8
MATCH_CUTOFF = 0.6


def _role_of(name: str, catalog: Catalog) -> Optional[str]:
    """The role whose prefix ``name`` starts with (the longest prefix wins)."""
    best = None
    for role, entry in catalog.items():
        prefix = entry["prefix"]
        if name.startswith(prefix) and len(name) > len(prefix) and (best is None or len(prefix) > len(catalog[best]["prefix"])):
            best = role
    return best


def _near_role(name: str, catalog: Catalog) -> Optional[str]:
    """The role whose prefix ``name`` nearly starts with (a typo in the prefix itself)."""
    best, best_ratio = None, PREFIX_CUTOFF
    for role, entry in catalog.items():
        prefix = entry["prefix"]
        for cut in (len(prefix) - 1, len(prefix), len(prefix) + 1):
            ratio = difflib.SequenceMatcher(None, name[:cut], prefix).ratio()
            if ratio >= best_ratio:
                best, best_ratio = role, ratio
    return best


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps."""
    prev2: List[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


def closest(name: str, candidates: Iterable[str], prefix: str = "", cutoff: float = MATCH_CUTOFF) -> Optional[str]:
    """The known name closest to ``name``, or None when none is close.

    Close means a difflib ratio of at least ``cutoff`` or at most one edit per four characters,
    both computed without the shared ``prefix`` (every ``engine_onnx_*`` name shares it). Among
    close names the fewest edits win ("prot" -> "port", a swap, not "root"), then the best ratio.
    """
    strip = len(prefix) if name.startswith(prefix) else 0
    tail = name[strip:]
    scored = []
    for candidate in candidates:
        other = candidate[strip:] if strip else candidate
        ratio = difflib.SequenceMatcher(None, tail, other).ratio()
        distance = edit_distance(tail, other)
        if ratio >= cutoff or distance <= max(1, len(other) // 4):
            scored.append((distance, -ratio, candidate))
    return min(scored)[2] if scored else None


def unknown_role_variables(names: Iterable[str], catalog: Catalog,
                           ignore: Iterable[str] = ()) -> List[Dict[str, Optional[str]]]:
    """Names that look like a role variable but are not one: ``[{name, role, suggestion}]``, sorted.

    ``suggestion`` is the closest known name of that role (see :func:`closest`), or None. A name
    whose prefix itself is misspelt is reported only when a known name is very close to it.
    """
    known = set()
    for entry in catalog.values():
        known.update(entry["known"])
    skip = set(ignore or ())
    found = []
    for name in sorted(n for n in set(names) if isinstance(n, str)):
        if name in known or name in skip:
            continue
        role = _role_of(name, catalog)
        near = role is None
        if near:
            role = _near_role(name, catalog)
            if role is None:
                continue
        prefix = catalog[role]["prefix"]
        candidates = [k for k in catalog[role]["known"] if k.startswith(prefix)]
        if near:
            match = closest(name, candidates, "", NEAR_PREFIX_MATCH_CUTOFF)
            if match is None or edit_distance(name, match) > 2:
                continue
        else:
            match = closest(name, candidates, prefix)
        found.append({"name": name, "role": role, "suggestion": match})
    return found


def unknown_message(item: Mapping[str, Optional[str]]) -> str:
    """``engine_onnx_prot is not a variable of role engine_onnx (did you mean engine_onnx_port?)``"""
    text = "%s is not a variable of role %s" % (item["name"], item["role"])
    if item.get("suggestion"):
        return text + " (did you mean %s?)" % item["suggestion"]
    return text + " (its variables: roles/%s/README.md)" % item["role"]


def role_names(roles: Any) -> List[str]:
    """Role names from a name, a comma-separated string or (nested) lists; anything else gives none.

    A malformed list is not an error here: the argument spec validation of that variable refuses it.
    """
    if isinstance(roles, str):
        return [r.strip() for r in roles.split(",") if r.strip()]
    if isinstance(roles, (list, tuple)):
        return [name for role in roles for name in role_names(role)]
    return []


def input_sets(catalog: Catalog, roles: Any, provided: Mapping[str, Any],
               unresolved: Iterable[str] = ()) -> List[Dict[str, Any]]:
    """``[{role, spec, arguments}]`` for each role of ``roles`` that has an argument spec.

    ``roles`` may nest lists (``['preflight', preflight_input_roles]``). ``arguments`` are the
    role's literal defaults with the host's values (``provided``) over them. Roles without a
    catalog entry or without an argument spec are skipped. Options named in ``unresolved`` (values
    that cannot be resolved before their role runs) are left out of the spec: validate_argument_spec
    also reads the spec's names from the task's variables, and would fail on them.
    """
    sets, seen = [], set()
    for role in role_names(roles):
        entry = catalog.get(role)
        if role in seen or not entry or entry.get("spec") is None:
            continue
        seen.add(role)
        skip = set(unresolved or ())
        spec = {name: option for name, option in entry["spec"].items() if name not in skip}
        values = {k: v for k, v in (entry.get("defaults") or {}).items() if k in spec}
        values.update({k: v for k, v in provided.items() if k in spec})
        sets.append({"role": role, "spec": spec, "arguments": values})
    return sets


# --------------------------------------------------------------------------- messages

_KIND = {
    "str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean (true or false)",
    "list": "a list", "dict": "a dictionary", "path": "an absolute path", "raw": "any value",
    "bytes": "a size in bytes", "bits": "a size in bits", "json": "JSON", "jsonarg": "JSON",
}
_TYPE_ERROR = re.compile(r"^argument '(?P<name>[^']+)' is of type (?P<given>\S+) and we were unable to convert to (?P<want>\w+)")
_ELEMENT_ERROR = re.compile(r"^Elements value for option '(?P<name>[^']+)' is of type (?P<given>\S+) and we were unable to "
                            r"convert to (?P<want>\w+)")
_CHOICE_ERROR = re.compile(r"^value of (?P<name>\S+) must be one of: (?P<choices>.*), got: (?P<got>.*)$", re.S)
_NUMBER = r"(-?\d+(?:\.\d+)?)"
_RANGES = (
    (re.compile(r"\bbetween\s+" + _NUMBER + r"\s+and\s+" + _NUMBER, re.I), (1, 2)),
    (re.compile(r"\(\s*" + _NUMBER + r"\s*(?:-|–|\.\.|to)\s*" + _NUMBER + r"\s*\)", re.I), (1, 2)),
    (re.compile(r"\bat\s+least\s+" + _NUMBER, re.I), (1, None)),
    (re.compile(r"\bat\s+most\s+" + _NUMBER, re.I), (None, 1)),
)


def _number(text: str) -> float:
    value = float(text)
    return int(value) if value.is_integer() else value


def documented_range(option: Mapping[str, Any]) -> Tuple[Optional[float], Optional[float]]:
    """``(minimum, maximum)`` a numeric option's description documents (None where it says nothing)."""
    if option.get("type") not in ("int", "float"):
        return None, None
    description = option.get("description") or ""
    if isinstance(description, list):
        description = " ".join(str(d) for d in description)
    low: Optional[float] = None
    high: Optional[float] = None
    for pattern, (lo_group, hi_group) in _RANGES:
        m = pattern.search(description)
        if not m:
            continue
        if lo_group and low is None:
            low = _number(m.group(lo_group))
        if hi_group and high is None:
            high = _number(m.group(hi_group))
    return low, high


def shown(value: Any, option: Mapping[str, Any]) -> str:
    """A value for a message: compact, at most 60 characters, hidden for ``no_log`` options."""
    if option.get("no_log"):
        return "(hidden: no_log)"
    try:
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = str(value)
    text = " ".join(str(text).split())
    text = text if len(text) <= 60 else text[:57] + "..."
    return "'%s'" % text if isinstance(value, str) else text


def allowed(option: Mapping[str, Any]) -> str:
    """What an option accepts: 'an integer, one of: 16, 32'; 'a list of strings'."""
    kind = _KIND.get(option.get("type") or "str", option.get("type") or "str")
    if option.get("type") == "list" and option.get("elements"):
        kind = "a list of %ss" % _KIND.get(option["elements"], option["elements"]).split(" ", 1)[-1]
    if option.get("choices"):
        kind += ", one of: " + ", ".join(str(c) for c in option["choices"])
    return kind


def _given(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    for kind, text in ((dict, "a dictionary"), (list, "a list"), (int, "an integer"), (float, "a number"), (str, "a string")):
        if isinstance(value, kind):
            return text
    return type(value).__name__


def _rewrite(error: str, spec: Mapping[str, Any], values: Mapping[str, Any]) -> Tuple[Optional[str], str]:
    """(variable, readable message) for one error of validate_argument_spec."""
    for pattern, what in ((_TYPE_ERROR, "must be"), (_ELEMENT_ERROR, "must have elements that are")):
        m = pattern.match(error)
        if m:
            name = m.group("name")
            option = spec.get(name, {})
            want = allowed(option) if what == "must be" else _KIND.get(m.group("want"), m.group("want"))
            return name, "%s %s %s, got %s %s" % (name, what, want, _given(values.get(name)), shown(values.get(name), option))
    m = _CHOICE_ERROR.match(error)
    if m:
        name = m.group("name")
        option = spec.get(name, {})
        got = shown(values.get(name), option) if option.get("no_log") else m.group("got")
        return name, "%s must be one of: %s, got: %s" % (name, m.group("choices"), got)
    clean = re.sub(r"<class '[\w.]*?_?(?:AnsibleTagged)?(\w+)'>", r"\1", error)
    named = next((n for n in spec if re.search(r"\b%s\b" % re.escape(n), clean)), None)
    return named, clean.strip()


def _extra(name: str, option: Mapping[str, Any], value: Any) -> Optional[str]:
    """What argument specs cannot check: strict strings, absolute paths, documented ranges."""
    kind = option.get("type") or "str"
    if kind == "str" and isinstance(value, (dict, list)):
        return "%s must be %s, got %s %s" % (name, allowed(option), _given(value), shown(value, option))
    if kind == "path":
        if not isinstance(value, str) or not value.startswith(("/", "~")) or "\x00" in value or "\n" in value:
            return "%s must be an absolute path (starting with /), got %s %s" % (name, _given(value), shown(value, option))
    low, high = documented_range(option)
    if low is None and high is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = ("between %s and %s" % (low, high) if low is not None and high is not None
                  else "at least %s" % low if low is not None else "at most %s" % high)
        return "%s must be %s, got %s" % (name, bounds, shown(value, option))
    return None


def role_errors(role_set: Mapping[str, Any], argument_errors: Iterable[str] = ()) -> List[str]:
    """Readable messages, one per variable, for one ``input_sets`` entry and its validation errors."""
    spec, values = role_set["spec"], role_set["arguments"]
    messages: Dict[str, str] = {}
    anonymous = []
    for error in argument_errors or ():
        name, message = _rewrite(str(error), spec, values)
        if name is None:
            anonymous.append(message)
        elif name not in messages:
            messages[name] = message
    for name in sorted(values):
        if name not in spec:
            continue
        message = _extra(name, spec[name], values[name])
        # A dictionary given for a string with choices: "must be a string, one of: ..." says more
        # than Ansible's "must be one of: ..., got: {...}".
        if message and (name not in messages or " must be one of: " in messages[name]):
            messages[name] = message
    return [messages[n] for n in sorted(messages)] + anonymous


def input_errors(results: Iterable[Mapping[str, Any]]) -> List[str]:
    """One line per role with bad input: ``invalid input for role X: a must be ...; b must be ...``.

    ``results`` are the loop results of ``validate_argument_spec`` over :func:`input_sets` (each
    has ``item`` and, when refused, ``argument_errors``).
    """
    lines = []
    for result in results or ():
        item = result.get("item") or {}
        if not item.get("spec"):
            continue
        errors = result.get("argument_errors") or ([result["msg"]] if result.get("failed") and result.get("msg") else [])
        errors = [e for e in errors if not str(e).startswith("Validation of arguments failed")]
        messages = role_errors(item, errors)
        if messages:
            lines.append("invalid input for role %s: %s" % (item["role"], "; ".join(messages)))
    return lines
