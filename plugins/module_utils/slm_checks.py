# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Judge one reply against one check: numeric, regex, contains, not_contains, code, tool_call.

:func:`judge` takes a validated check (see :mod:`slm_check_schema`) and the engine's reply
(:class:`slm_client.ChatResult`) and returns ``(passed, reason, answer, details)``. Reasons are
written for an operator reading a failed rollout: what was expected, what came back, where.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
from typing import Any, Callable, Dict, List, Optional, Tuple

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_extract import (
    extract_final,
    format_quantity,
)
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_jail import run_python

Verdict = Tuple[bool, str, Any, Dict[str, Any]]


def quote(text: str, width: int = 100, tail: bool = True) -> str:
    """A short, single-line excerpt in quotes for a reason."""
    text = " ".join((text or "").split())
    if len(text) > width:
        text = ("..." + text[-(width - 3):]) if tail else (text[:width - 3] + "...")
    return "'%s'" % text


def _fmt(v: float) -> str:
    return ("%.6f" % v).rstrip("0").rstrip(".")


# --------------------------------------------------------------------------- numeric

def judge_numeric(check: Dict[str, Any], content: str) -> Verdict:
    expected = float(check["expected"])
    unit = check.get("unit")
    abs_tol = float(check.get("tolerance", 0))
    rel_tol = float(check.get("rel_tolerance", 0))
    allowed = max(abs_tol, rel_tol * abs(expected), 1e-9 * max(1.0, abs(expected)))
    want = format_quantity(expected, unit)
    tol_text = (" ±" + _fmt(allowed)) if allowed > 1e-6 else ""
    got = extract_final(content, unit)
    details = {"tier": got.tier, "rejected": [mention for mention, _context in got.rejected]}
    if not got.found:
        reason = "expected %s%s, found no final numeric answer in %s" % (want, tol_text, quote(content))
        return False, reason, None, details
    answer = format_quantity(got.value, got.unit)
    if abs(got.value - expected) <= allowed:  # type: ignore[operator]
        return True, "%s (expected %s%s) from %s" % (answer, want, tol_text, quote(got.context)), answer, details
    reason = "expected %s%s, got %s from %s" % (want, tol_text, answer, quote(got.context))
    for text, ctx in got.rejected:
        if text and str(_fmt(expected)) in text.replace(",", ""):
            reason += "; the expected value appears but is rejected or retracted: %s" % quote(ctx, 80)
            break
    return False, reason, answer, details


# --------------------------------------------------------------------------- text checks

def _flags(check: Dict[str, Any]) -> int:
    flags = re.IGNORECASE if check.get("ignore_case", True) else 0
    return flags | (re.DOTALL if check.get("dotall", False) else 0)


def _pat(pattern: str) -> str:
    return "/%s/" % (pattern if len(pattern) <= 60 else pattern[:57] + "...")


def _patterns(value: Any) -> List[str]:
    return list(value) if isinstance(value, list) else ([value] if value else [])


def judge_regex(check: Dict[str, Any], content: str) -> Verdict:
    """Any ``pattern`` must match and no ``not_pattern`` may (each a regex or a list of them)."""
    flags = _flags(check) | re.MULTILINE
    for bad_pattern in _patterns(check.get("not_pattern")):
        bad = re.search(bad_pattern, content, flags)
        if bad:
            return False, "matched the forbidden pattern %s at %s" % (
                _pat(bad_pattern), quote(content[max(0, bad.start() - 30):bad.end() + 40], tail=False)), bad.group(0), {}
    patterns = _patterns(check["pattern"])
    for pattern in patterns:
        m = re.search(pattern, content, flags)
        if m:
            return True, "matched %s" % quote(content[max(0, m.start() - 30):m.end() + 30], tail=False), m.group(0), {}
    shown = _pat(patterns[0]) + (" (or %d other pattern%s)" % (len(patterns) - 1, "s" if len(patterns) > 2 else "")
                                 if len(patterns) > 1 else "")
    return False, "no match for %s in %s" % (shown, quote(content)), None, {}


def _present(needles: List[str], content: str, ignore_case: bool) -> List[str]:
    hay = content.lower() if ignore_case else content
    return [n for n in needles if (n.lower() if ignore_case else n) in hay]


def judge_contains(check: Dict[str, Any], content: str) -> Verdict:
    ic = check.get("ignore_case", True)
    found: List[str] = []
    if check.get("all_of"):
        have = _present(check["all_of"], content, ic)
        missing = [n for n in check["all_of"] if n not in have]
        if missing:
            return False, "missing %s in %s" % (", ".join(repr(n) for n in missing), quote(content)), have, {}
        found += have
    if check.get("any_of"):
        have = _present(check["any_of"], content, ic)
        if not have:
            return False, "none of %s in %s" % (", ".join(repr(n) for n in check["any_of"]), quote(content)), None, {}
        found += have
    return True, "contains %s" % ", ".join(repr(n) for n in found), found, {}


def judge_not_contains(check: Dict[str, Any], content: str) -> Verdict:
    have = _present(check["any_of"], content, check.get("ignore_case", True))
    if have:
        return False, "contains forbidden %s" % ", ".join(repr(n) for n in have), have, {}
    return True, "none of the forbidden strings present", None, {}


# --------------------------------------------------------------------------- code

_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_PY_LANGS = ("", "python", "py", "python3", "py3")


def required_names(tests: List[str]) -> List[str]:
    """Functions the tests call that are not builtins (``gcd(48, 18) == 6`` -> ``gcd``)."""
    names: List[str] = []
    for expr in tests:
        for node in ast.walk(ast.parse(expr, mode="eval")):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if not hasattr(builtins, node.func.id) and node.func.id not in names:
                    names.append(node.func.id)
    return names


def _defines(code: str) -> Optional[List[str]]:
    """Top-level names ``code`` defines (functions, classes, imports, assignments); None if it does not parse."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    out: List[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.append(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out += [(a.asname or a.name).split(".")[0] for a in node.names]
        elif isinstance(node, ast.Assign):
            out += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.append(node.target.id)
    return out


def extract_code(content: str, needed: List[str]) -> Tuple[Optional[str], str]:
    """The code to run and how it was chosen.

    Candidates are fenced blocks labelled python/py (or unlabelled blocks that parse as Python;
    an unlabelled block of program output does not). Order of preference:

    1. all candidate blocks that parse, joined, when that defines every needed name — helpers,
       imports and a later improved version all count (the last definition wins, as when the
       reply is run top to bottom);
    2. the last single block that defines every needed name;
    3. the last block that parses (the run then reports the missing names);
    4. the whole reply, when it is bare code that parses and defines the names.

    Example usage at top level does not spoil a good function: the sandbox runs top-level
    statements one by one and only definitions and imports must succeed.
    """
    py: List[str] = []
    for lang, body in _FENCE.findall(content or ""):
        lang = lang.lower()
        if lang in _PY_LANGS[1:] or (lang == "" and _defines(body) is not None):
            py.append(body)
    parsable = [b for b in py if _defines(b) is not None]
    if len(parsable) > 1:
        joined = "\n\n".join(parsable)
        if all(n in (_defines(joined) or []) for n in needed):
            return joined, "all %d fenced blocks joined" % len(parsable)
    for i in range(len(py) - 1, -1, -1):
        defined = _defines(py[i])
        if defined is not None and all(n in defined for n in needed):
            return py[i], "fenced block %d of %d" % (i + 1, len(py))
    for i in range(len(py) - 1, -1, -1):
        if _defines(py[i]) is not None:
            return py[i], "fenced block %d of %d (does not define %s)" % (i + 1, len(py), ", ".join(needed))
    if py:
        return py[-1], "fenced block %d of %d (does not parse)" % (len(py), len(py))
    bare = _defines(content or "")
    if bare is not None and needed and all(n in bare for n in needed):
        return content, "the whole reply (no fenced block)"
    return None, "no Python code block in the reply"


def judge_code(check: Dict[str, Any], content: str, runner: Callable[..., Any] = run_python) -> Verdict:
    """Run the reply's code in the jail; the tests are judged by this process (see :mod:`slm_jail`).

    When the jail is unavailable, ``details['not_run']`` carries the reason and the caller reports
    the check as not run (it is neither passed nor counted).
    """
    tests = check["tests"]
    needed = required_names(tests)
    code, how = extract_code(content, needed)
    if code is None:
        return False, "%s (expected a ```python block defining %s)" % (how, ", ".join(needed) or "the code"), None, {}
    result = runner(code, tests, time_limit_s=float(check.get("time_limit_s", 10)),
                    per_test_s=float(check.get("per_test_s", 5)), memory_mb=int(check.get("memory_mb", 256)))
    mode = result.isolation.get("mode")
    details = {"code_source": how, "tests": result.tests, "isolation": mode, "jail": result.isolation,
               "duration_s": result.duration_s, "notes": result.notes, "output_capped": result.output_capped}
    answer = code if len(code) <= 4000 else code[:3997] + "..."
    if result.not_run:
        details["not_run"] = result.not_run
        return False, "%s (isolation %s)" % (result.not_run, mode), answer, details
    where = "" if mode == "container" else " [ran in mode %s: no isolation, opted in by name]" % mode
    if result.load_error:
        return False, "the code (%s) failed to load: %s%s" % (how, result.load_error, where), answer, details
    if result.tampered:
        return False, "the code wrote to the jail's results channel (%s); the run is not judged%s" % (
            result.tampered, where), answer, details
    failed = [t for t in result.tests if not t["passed"]]
    ran = "%d/%d tests passed" % (len(tests) - len(failed), len(tests))
    if result.timed_out:
        ran += "; the run hit the %gs wall-clock limit" % float(check.get("time_limit_s", 10))
    for problem in (result.crashed, result.output_capped):
        if problem:
            ran += "; %s" % problem
    if failed or result.timed_out or result.crashed or result.output_capped:
        listed = "; ".join("%s -> %s" % (t["test"], t["detail"]) for t in failed[:4])
        more = " (+%d more)" % (len(failed) - 4) if len(failed) > 4 else ""
        notes = (" (note: %s)" % "; ".join(result.notes[:2])) if result.notes else ""
        return False, "%s; failed: %s%s%s%s" % (ran, listed, more, notes, where), answer, details
    return True, "%s (%s, jail %s)%s" % (ran, how, mode, where), answer, details


# --------------------------------------------------------------------------- tool calls

def _same(expected: Any, got: Any, tol: float) -> bool:
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        try:
            return abs(float(got) - float(expected)) <= tol
        except (TypeError, ValueError):
            return False
    if isinstance(expected, str) and isinstance(got, str):
        return expected.strip().lower() == got.strip().lower()
    if isinstance(expected, dict) and isinstance(got, dict):
        return all(k in got and _same(v, got[k], tol) for k, v in expected.items())
    if isinstance(expected, list) and isinstance(got, list):
        return len(expected) == len(got) and all(_same(a, b, tol) for a, b in zip(expected, got))
    return bool(expected == got)


def _call_text(name: Any, args: Any) -> str:
    if isinstance(args, dict):
        return "%s(%s)" % (name, ", ".join("%s=%s" % (k, json.dumps(v)) for k, v in args.items()))
    return "%s(%s)" % (name, args if args is not None else "")


def judge_tool_call(check: Dict[str, Any], content: str, tool_calls: List[Dict[str, Any]]) -> Verdict:
    fn = check["function"]
    want_args = check.get("arguments") or {}
    tol = float(check.get("tolerance", 1e-6))
    extra_ok = check.get("allow_extra_arguments", True)
    want = _call_text(fn, want_args)
    details = {"tool_calls": [{"name": c.get("name"), "arguments": c.get("arguments"),
                               "raw_arguments": c.get("raw_arguments")} for c in tool_calls]}
    if not tool_calls:
        hint = ""
        if "functools[" in (content or "") or re.search(r'"name"\s*:\s*"%s"' % re.escape(fn), content or ""):
            hint = (" — the reply contains the call as text: is the engine started with tool parsing "
                    "(vLLM: --enable-auto-tool-choice --tool-call-parser phi4_mini_json)?")
        return False, "expected a call %s, got no tool call; reply %s%s" % (want, quote(content), hint), None, details
    got_text = [_call_text(c.get("name"), c.get("arguments") if c.get("arguments") is not None else c.get("raw_arguments"))
                for c in tool_calls]
    for call, text in zip(tool_calls, got_text):
        args = call.get("arguments")
        if call.get("name") != fn or not isinstance(args, dict):
            continue
        if not _same(want_args, args, tol):
            continue
        extra = sorted(set(args) - set(want_args))
        if extra and not extra_ok:
            return False, "expected %s, got %s (extra arguments %s not allowed)" % (want, text, ", ".join(extra)), text, details
        note = " (extra arguments: %s)" % ", ".join(extra) if extra else ""
        return True, "called %s%s" % (text, note), text, details
    return False, "expected %s%s, got %s" % (want, (" (±%g)" % tol) if tol > 1e-6 else "", "; ".join(got_text)), got_text[0], details


def judge(check: Dict[str, Any], content: str, tool_calls: Optional[List[Dict[str, Any]]] = None,
          runner: Callable[..., Any] = run_python) -> Verdict:
    """Dispatch on ``check['kind']``."""
    kind = check["kind"]
    if kind == "numeric":
        return judge_numeric(check, content)
    if kind == "regex":
        return judge_regex(check, content)
    if kind == "contains":
        return judge_contains(check, content)
    if kind == "not_contains":
        return judge_not_contains(check, content)
    if kind == "code":
        return judge_code(check, content, runner)
    if kind == "tool_call":
        return judge_tool_call(check, content, tool_calls or [])
    raise ValueError("unknown check kind %r" % kind)
