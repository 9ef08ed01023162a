# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Schema of a check definition (the YAML a site writes) and its validation.

Validation runs before any request is sent, and reports every problem at once, each naming the
check (index and name), the field, what was given and what is allowed. The schema is documented
for humans in ``docs/verify_checks.md``; keep the two in step.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Callable, Dict, List, Optional, Tuple

from ansible_collections.edgeai.slm_fleet.plugins.module_utils import slm_units

KINDS = ("numeric", "regex", "contains", "not_contains", "code", "tool_call")
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

Validator = Callable[[Any], Optional[str]]  # returns what is allowed, or None when fine


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _str(v: Any) -> Optional[str]:
    return None if isinstance(v, str) and v.strip() else "a non-empty string"


def _num(minimum: float = float("-inf"), strict: bool = False) -> Validator:
    def check(v: Any) -> Optional[str]:
        ok = _is_num(v) and (v > minimum if strict else v >= minimum)
        if ok:
            return None
        if minimum == float("-inf"):
            return "a number"
        return "a number %s %g" % (">" if strict else ">=", minimum)
    return check


def _int(minimum: int) -> Validator:
    def check(v: Any) -> Optional[str]:
        return None if isinstance(v, int) and not isinstance(v, bool) and v >= minimum else "an integer >= %d" % minimum
    return check


def _bool(v: Any) -> Optional[str]:
    return None if isinstance(v, bool) else "true or false"


def _str_list(v: Any) -> Optional[str]:
    ok = isinstance(v, list) and v and all(isinstance(x, str) and x for x in v)
    return None if ok else "a non-empty list of non-empty strings"


def _regex(v: Any) -> Optional[str]:
    items = v if isinstance(v, list) and v else [v]
    for item in items:
        if not isinstance(item, str) or not item:
            return "a non-empty regular expression (Python re syntax) or a list of them"
        try:
            re.compile(item)
        except re.error as exc:
            return "a valid regular expression (Python re syntax): %r: %s" % (item, exc)
    return None


def _unit(v: Any) -> Optional[str]:
    if isinstance(v, str) and slm_units.lookup(v):
        return None
    return "one of the known units: %s (or an alias such as hours, miles, percent, $)" % ", ".join(
        slm_units.known_units())


def _expressions(v: Any) -> Optional[str]:
    if not isinstance(v, list) or not v:
        return "a non-empty list of Python expressions, e.g. 'gcd(48, 18) == 6'"
    for item in v:
        if not isinstance(item, str):
            return "a list of Python expressions as strings (item %r is not a string)" % (item,)
        try:
            ast.parse(item, mode="eval")
        except SyntaxError as exc:
            return "a list of valid Python expressions ('%s' does not parse: %s)" % (item, exc.msg)
    return None


def _tools(v: Any) -> Optional[str]:
    allowed = "a non-empty list of OpenAI tool definitions ({type: function, function: {name, parameters}})"
    if not isinstance(v, list) or not v:
        return allowed
    for item in v:
        fn = item.get("function") if isinstance(item, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or item.get("type", "function") != "function":
            return allowed
    return None


def _dict(v: Any) -> Optional[str]:
    return None if isinstance(v, dict) else "a mapping of argument name to expected value"


def _one_of(*choices: str) -> Validator:
    def check(v: Any) -> Optional[str]:
        return None if v in choices else "one of: %s" % ", ".join(choices)
    return check


def _tool_choice(v: Any) -> Optional[str]:
    return None if v in ("auto", "required", "none") or isinstance(v, dict) else "auto, required, none or a mapping"


COMMON: Dict[str, Tuple[bool, Validator]] = {
    "name": (True, lambda v: None if isinstance(v, str) and NAME_RE.match(v) else
             "1-64 characters of letters, digits, '_', '.', '-'"),
    "kind": (True, _one_of(*KINDS)),
    "prompt": (True, _str),
    "system": (False, _str),
    "description": (False, _str),
    "max_tokens": (False, _int(1)),
    "temperature": (False, _num(0)),
    "timeout": (False, _num(0, strict=True)),
    "only_on": (False, _str_list),
    "informational_on": (False, _str_list),
}

PER_KIND: Dict[str, Dict[str, Tuple[bool, Validator]]] = {
    "numeric": {"expected": (True, _num()), "unit": (False, _unit), "tolerance": (False, _num(0)),
                "rel_tolerance": (False, _num(0))},
    "regex": {"pattern": (True, _regex), "not_pattern": (False, _regex), "ignore_case": (False, _bool),
              "dotall": (False, _bool)},
    "contains": {"any_of": (False, _str_list), "all_of": (False, _str_list), "ignore_case": (False, _bool)},
    "not_contains": {"any_of": (True, _str_list), "ignore_case": (False, _bool)},
    "code": {"tests": (True, _expressions), "language": (False, _one_of("python")),
             "time_limit_s": (False, _num(0, strict=True)), "per_test_s": (False, _num(0, strict=True)),
             "memory_mb": (False, _int(64))},
    "tool_call": {"tools": (True, _tools), "function": (True, _str), "arguments": (False, _dict),
                  "tolerance": (False, _num(0)), "tool_choice": (False, _tool_choice),
                  "allow_extra_arguments": (False, _bool)},
}


def _given(v: Any) -> str:
    text = repr(v)
    if len(text) > 80:
        text = text[:77] + "..."
    return "%s (%s)" % (text, type(v).__name__)


def validate_checks(checks: Any) -> List[str]:
    """Every problem in a list of check definitions; an empty list means valid."""
    if not isinstance(checks, list) or not checks:
        return ["checks must be a non-empty list of check definitions; got %s" % _given(checks)]
    errors: List[str] = []
    names: Dict[str, int] = {}
    for i, check in enumerate(checks):
        if not isinstance(check, dict):
            errors.append("checks[%d]: must be a mapping with at least name, kind and prompt; got %s" % (i, _given(check)))
            continue
        label = "checks[%d]%s" % (i, (" '%s'" % check["name"]) if isinstance(check.get("name"), str) else "")
        kind = check.get("kind")
        fields = dict(COMMON)
        fields.update(PER_KIND.get(kind, {}) if isinstance(kind, str) else {})
        for key, (required, validator) in fields.items():
            if key not in check:
                if required:
                    errors.append("%s: field '%s' is required (%s)" % (label, key, validator(None) or "any value"))
                continue
            allowed = validator(check[key])
            if allowed:
                errors.append("%s: field '%s' must be %s; got %s" % (label, key, allowed, _given(check[key])))
        for key in check:
            if key not in fields:
                kind_fields = sorted(PER_KIND.get(kind, {})) if isinstance(kind, str) else []
                errors.append("%s: unknown field '%s'; allowed: %s" % (
                    label, key, ", ".join(sorted(COMMON) + kind_fields)))
        if kind == "contains" and "any_of" not in check and "all_of" not in check:
            errors.append("%s: kind contains needs 'any_of' or 'all_of' (a list of strings)" % label)
        if kind == "tool_call" and _tools(check.get("tools")) is None and isinstance(check.get("function"), str):
            offered = [t["function"]["name"] for t in check["tools"]]
            if check["function"] not in offered:
                errors.append("%s: field 'function' must name one of the offered tools (%s); got %s" % (
                    label, ", ".join(offered), _given(check["function"])))
        name = check.get("name")
        if isinstance(name, str):
            if name in names:
                errors.append("%s: name '%s' is already used by checks[%d]; names must be unique" % (label, name, names[name]))
            names.setdefault(name, i)
    return errors
