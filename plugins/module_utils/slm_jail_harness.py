# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The program that runs *inside* the code-check jail (stdlib only, Python >= 3.8).

The parent (:mod:`slm_jail`) sends this file's source as the first line of stdin, then one
JSON payload: the answer's code, the **probes** (the parts of each test that use the answer's
names, e.g. ``gcd(48, 18)``), time limits and rlimits. It never sends expected values.

This program defines the code statement by statement, evaluates each probe and writes one JSON
line per event on a private duplicate of the original stdout: ``{"i": 0, "value": ...}``,
``{"i": 1, "error": "ZeroDivisionError: ..."}``, ``{"i": 2, "timeout": true}``. It reports
values, never verdicts: the parent compares them with the expected values it kept. The answer's
own output (fd 1 and 2, ``print``) goes to ``/dev/null``.

:func:`encode` is the canonical form of a value, shared with the parent (which imports this
module for :func:`digest`): exact types for ``None, bool, int, float, complex, str, bytes,
tuple, list, dict, set, frozenset`` (and their subclasses, as their base type); anything else as
``{"$repr": [type, repr, truth]}``. A value whose encoding exceeds :data:`VALUE_LIMIT` bytes is
sent as a sha256 :func:`digest` of a normalised form (``True`` ~ ``1`` ~ ``1.0``, ``frozenset`` ~
``set``), so large results still compare for equality.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import signal
import sys
import traceback

VALUE_LIMIT = 4096
DEPTH_LIMIT = 64
INT64 = 2 ** 63


def _int(v):
    return v if -INT64 <= v < INT64 else {"$int": hex(v)}


def _sorted(items):
    return sorted(items, key=lambda e: json.dumps(e, sort_keys=True))


def encode(value, depth=0):
    """Canonical JSON-able form of ``value`` (see the module docstring)."""
    if depth > DEPTH_LIMIT:
        return {"$repr": ["...", "nested deeper than %d levels" % DEPTH_LIMIT, True]}
    d = depth + 1
    if value is None or isinstance(value, bool):
        return value if value is None else value is True
    if isinstance(value, int):
        return _int(int.__int__(value))
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, complex):
        return {"$complex": [value.real, value.imag]}
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": bytes(value).hex()}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v, d) for v in value]}
    if isinstance(value, list):
        return [encode(v, d) for v in value]
    if isinstance(value, dict):
        return {"$dict": _sorted([[encode(k, d), encode(v, d)] for k, v in value.items()])}
    if isinstance(value, (set, frozenset)):
        tag = "$frozenset" if isinstance(value, frozenset) else "$set"
        return {tag: _sorted([encode(v, d) for v in value])}
    try:
        truth = bool(value)
    except Exception:  # pylint: disable=broad-except
        truth = None
    cls = type(value)
    return {"$repr": ["%s.%s" % (cls.__module__, cls.__qualname__), repr(value)[:400], truth]}


def _normal(enc):
    """The form digests are taken of: Python's cross-type equalities folded in."""
    if isinstance(enc, bool):
        return int(enc)
    if isinstance(enc, float) and math.isfinite(enc) and enc == int(enc):
        return _int(int(enc))
    if isinstance(enc, list):
        return [_normal(e) for e in enc]
    if isinstance(enc, dict):
        (tag, body), = enc.items()
        if tag in ("$set", "$frozenset"):
            return {"$set": _sorted([_normal(e) for e in body])}
        if tag == "$dict":
            return {tag: _sorted([[_normal(k), _normal(v)] for k, v in body])}
        if tag == "$tuple":
            return {tag: [_normal(e) for e in body]}
    return enc


def digest(enc):
    """sha256 of the normalised canonical form of an encoded value."""
    text = json.dumps(_normal(enc), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TestTimeout(BaseException):
    """Raised by SIGALRM (a BaseException, so ``except Exception`` in the answer does not swallow it)."""


def _on_alarm(signum, frame):
    raise TestTimeout()


def _last_line(exc):
    return "%s: %s" % (type(exc).__name__, exc)


def _limit(res, value):
    import resource
    try:
        resource.setrlimit(getattr(resource, res), (value, value))
    except (ValueError, OSError, AttributeError):
        pass


DEFINING = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


def _load(code, ns, load_s, emit):
    """Define the code statement by statement; True when the definitions loaded."""
    try:
        module = ast.parse(code, "<answer>")
    except SyntaxError as exc:
        emit(load_error="SyntaxError: %s (line %s)" % (exc.msg, exc.lineno))
        return False
    notes = []
    for stmt in module.body:
        try:
            signal.setitimer(signal.ITIMER_REAL, load_s)
            exec(compile(ast.Module(body=[stmt], type_ignores=[]), "<answer>", "exec"), ns)  # pylint: disable=exec-used
            signal.setitimer(signal.ITIMER_REAL, 0)
        except BaseException as exc:  # pylint: disable=broad-except
            signal.setitimer(signal.ITIMER_REAL, 0)
            what = "took longer than %.1f s" % load_s if isinstance(exc, TestTimeout) else _last_line(exc)
            lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<answer>"]
            line = lines[-1] if lines else stmt.lineno
            if isinstance(stmt, DEFINING):
                emit(load_error="%s (line %d)" % (what, line))
                return False
            notes.append("top-level code at line %d %s%s; skipped" % (
                line, "" if isinstance(exc, TestTimeout) else "raised ", what))
    emit(loaded=True, notes=notes)
    return True


def _probe(i, expr, ns, per_test_s, emit):
    try:
        signal.setitimer(signal.ITIMER_REAL, per_test_s)
        enc = encode(eval(compile(expr, "<test>", "eval"), ns))  # pylint: disable=eval-used
        text = json.dumps(enc, separators=(",", ":"))
        signal.setitimer(signal.ITIMER_REAL, 0)
    except TestTimeout:
        emit(i=i, timeout=True)
        return
    except BaseException as exc:  # pylint: disable=broad-except
        signal.setitimer(signal.ITIMER_REAL, 0)
        emit(i=i, error=_last_line(exc)[:300])
        return
    if len(text) > VALUE_LIMIT:
        emit(i=i, digest=digest(enc), size=len(text), head=text[:120])
    else:
        emit(i=i, value=enc)


def main():
    """Read the payload, run the probes, report values on the results channel."""
    payload = json.loads(sys.stdin.read())
    channel = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    sys.stdin = sys.stdout = sys.stderr = open(os.devnull, "r+")

    def emit(**event):
        channel.write(json.dumps(event, separators=(",", ":")) + "\n")
        channel.flush()

    for name, value in payload["limits"].items():
        _limit(name, value)
    signal.signal(signal.SIGALRM, _on_alarm)
    ns = {"__name__": "__answer__"}
    if _load(payload["code"], ns, payload["load_s"], emit):
        for i, expr in enumerate(payload["probes"]):
            _probe(i, expr, ns, payload["per_test_s"], emit)
    emit(done=True)


if __name__ == "__main__":
    main()
