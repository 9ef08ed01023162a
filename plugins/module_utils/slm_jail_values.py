# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The parent's side of a code check: split tests into probes, decode values, decide verdicts.

A test such as ``gcd(48, 18) == 6`` is split (:func:`plan`) into

* **probes** — the maximal sub-expressions that use a name the answer defines (anything that is
  not one of :data:`SAFE_BUILTINS`): ``gcd(48, 18)``. Only these go into the jail;
* the rest — comparisons, ``and``/``or``/``not`` and sub-expressions made of literals and the
  safe builtins (``6``, ``list(range(5))``) — which the parent evaluates itself, from the check
  definition (operator-written, trusted), with nothing from the jail but the decoded probe values.

The jail returns each probe's value in the canonical form of :mod:`slm_jail_harness`;
:func:`decode` turns it back into plain Python values (or :class:`Opaque` / :class:`Digest`), so
no object built by the answer's code ever reaches the parent and the comparison is Python's own.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_jail_harness import digest, encode

SAFE_BUILTINS = {name: getattr(__import__("builtins"), name) for name in (
    "abs", "all", "any", "bool", "bytes", "chr", "complex", "dict", "divmod", "enumerate", "float", "frozenset",
    "int", "isinstance", "len", "list", "max", "min", "ord", "pow", "range", "reversed", "round", "set", "sorted",
    "str", "sum", "tuple", "type", "zip")}
OPS = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
       ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
       ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}


class Tampered(ValueError):
    """The results channel carried something the harness does not write."""


@dataclass(frozen=True)
class Opaque:
    """A value of a type without a canonical form: equal only to one of the same type and repr."""

    type_name: str
    text: str
    truth: Optional[bool]

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Opaque) and (self.type_name, self.text) == (other.type_name, other.text)

    def __hash__(self) -> int:
        return hash((self.type_name, self.text))

    def __bool__(self) -> bool:
        if self.truth is None:
            raise TypeError("the truth value of this %s raised an error in the jail" % self.type_name)
        return self.truth

    def __repr__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Digest:
    """A value too large to return: compared for (in)equality through its digest only."""

    sha256: str
    size: int
    head: str

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, Digest):
            return self.sha256 == other.sha256
        return digest(encode(other)) == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)

    def __repr__(self) -> str:
        return "<%d-byte value %s...>" % (self.size, self.head[:60])


def decode(enc: Any) -> Any:
    """Plain Python value of an encoded one; :class:`Tampered` for anything the harness cannot produce."""
    if enc is None or isinstance(enc, (bool, int, float, str)):
        return enc
    if isinstance(enc, list):
        return [decode(e) for e in enc]
    if not isinstance(enc, dict) or len(enc) != 1:
        raise Tampered("not a canonical value: %.80r" % (enc,))
    (tag, body), = enc.items()
    try:
        if tag == "$int":
            return int(body, 16)
        if tag == "$complex":
            return complex(float(body[0]), float(body[1]))
        if tag == "$bytes":
            return bytes.fromhex(body)
        if tag == "$tuple":
            return tuple(decode(e) for e in body)
        if tag == "$set":
            return {decode(e) for e in body}
        if tag == "$frozenset":
            return frozenset(decode(e) for e in body)
        if tag == "$dict":
            return {decode(k): decode(v) for k, v in body}
        if tag == "$repr":
            return Opaque(str(body[0]), str(body[1]), None if body[2] is None else bool(body[2]))
    except (TypeError, ValueError, IndexError) as exc:
        raise Tampered("malformed %s value: %s" % (tag, exc)) from exc
    raise Tampered("unknown value tag %r" % tag)


# ---------------------------------------------------------------- splitting tests into probes

def _answer_side(node: ast.AST) -> bool:
    """True when the sub-expression uses something only the jail has (a name the answer defines)."""
    bound = set()  # comprehension and lambda variables are the test's own
    for sub in ast.walk(node):
        if isinstance(sub, ast.comprehension):
            bound |= {n.id for n in ast.walk(sub.target) if isinstance(n, ast.Name)}
        elif isinstance(sub, ast.Lambda):
            bound |= {a.arg for a in sub.args.posonlyargs + sub.args.args + sub.args.kwonlyargs}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id not in SAFE_BUILTINS and sub.id not in bound:
            return True
        if isinstance(sub, ast.Attribute) and sub.attr.startswith("_"):
            return True
    return False


class _Splitter(ast.NodeTransformer):
    def __init__(self, source: str, probes: List[str]) -> None:
        self.source, self.probes = source, probes

    def visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, (ast.Compare, ast.BoolOp, ast.Expression)) or (
                isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
            return self.generic_visit(node)
        if isinstance(node, ast.expr) and _answer_side(node):
            self.probes.append(ast.get_source_segment(self.source, node) or "")
            return ast.copy_location(ast.Name(id="__probe%d" % (len(self.probes) - 1), ctx=ast.Load()), node)
        return node


@dataclass
class ProbePlan:
    """One test: its probes (sent to the jail) and the expression the parent evaluates around them."""

    test: str
    tree: ast.Expression
    probes: List[str] = field(default_factory=list)


def plan(test: str) -> ProbePlan:
    """Split one test expression into probes and the parent's part."""
    probes: List[str] = []
    tree = _Splitter(test, probes).visit(ast.parse(test, mode="eval"))
    return ProbePlan(test, ast.fix_missing_locations(tree), probes)


def short(value: Any, n: int = 200) -> str:
    """``repr`` cut to ``n`` characters (and safe for huge ints)."""
    try:
        text = repr(value)
    except ValueError:
        text = "<int of %d bits>" % value.bit_length()
    return text if len(text) <= n else text[:n - 3] + "..."


def _eval(node: ast.AST, names: Dict[str, Any]) -> Any:
    expr = ast.fix_missing_locations(ast.Expression(body=node))
    return eval(compile(expr, "<test>", "eval"), {"__builtins__": SAFE_BUILTINS}, names)  # pylint: disable=eval-used


def verdict(test_plan: ProbePlan, outcomes: List[Dict[str, Any]], per_test_s: float) -> Dict[str, Any]:
    """``{test, passed, detail}`` from the probes' outcomes (``value``, ``error``, ``timeout`` or ``missing``)."""
    names: Dict[str, Any] = {}
    for i, out in enumerate(outcomes):
        if "error" in out:
            return {"test": test_plan.test, "passed": False, "detail": "raised " + out["error"]}
        if out.get("timeout"):
            return {"test": test_plan.test, "passed": False, "detail": "timed out after %.1f s" % per_test_s}
        if "missing" in out:
            return {"test": test_plan.test, "passed": False, "detail": "not run: " + out["missing"]}
        names["__probe%d" % i] = out["value"]
    body = test_plan.tree.body
    try:
        if isinstance(body, ast.Compare) and len(body.ops) == 1 and type(body.ops[0]) in OPS:
            left, right = _eval(body.left, names), _eval(body.comparators[0], names)
            ok = bool(OPS[type(body.ops[0])](left, right))
            detail = "" if ok else "got %s, expected %s" % (short(left), short(right))
        else:
            value = _eval(body, names)
            ok = bool(value)
            detail = "" if ok else "evaluated to %s" % short(value)
    except Exception as exc:  # pylint: disable=broad-except
        return {"test": test_plan.test, "passed": False, "detail": "raised %s: %s" % (type(exc).__name__, exc)}
    return {"test": test_plan.test, "passed": ok, "detail": detail}
