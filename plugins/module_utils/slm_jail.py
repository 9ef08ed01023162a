# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run model-written Python in a jail the kernel enforces; judge it in the parent.

Modes (``isolation``), chosen by the operator, never downgraded:

* ``container`` (default): a throwaway container on the host's own Docker engine
  (:mod:`slm_jail_docker`). Without a usable engine or image the run is **not run**, with the reason.
* ``subprocess_unsafe``: a plain child process of the module on the host (rlimits, a wall clock,
  a scratch cwd, a minimal environment, nothing else). Runs only when named; results say so.

In both, the parent sends the answer's code and the *probes* of each test (never the expected
values) on stdin, reads back at most :data:`OUT_CAP` bytes of values on a results channel and
decides every verdict itself (:mod:`slm_jail_values`). Printing "PASS" lines is useless; writing
to the results channel can only produce lines the parent rejects (the run then fails as
tampered) or values, which are what the answer's functions could have returned anyway.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

from ansible_collections.edgeai.slm_fleet.plugins.module_utils import slm_jail_harness
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_jail_docker import (
    Collector, NotRun, RawRun, run_container)
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_jail_values import (
    Digest, Tampered, decode, plan, verdict)

MODES = ("container", "subprocess_unsafe")
DEFAULT_SOCKET = "/var/run/docker.sock"
OUT_CAP = 64 * 1024
ERR_CAP = 4 * 1024
BOOTSTRAP = ("import json,sys;exec(compile(json.loads(sys.stdin.readline()),'<jail-harness>','exec'),"
             "{'__name__':'__main__'})")


@dataclass
class JailResult:
    """Outcome of one jailed run, judged by the parent."""

    tests: List[Dict[str, Any]] = field(default_factory=list)  # {test, passed, detail}
    load_error: Optional[str] = None
    timed_out: bool = False
    crashed: Optional[str] = None
    tampered: Optional[str] = None
    output_capped: Optional[str] = None
    not_run: Optional[str] = None
    duration_s: float = 0.0
    notes: List[str] = field(default_factory=list)
    isolation: Dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """All tests ran and passed."""
        return bool(self.tests) and all(t["passed"] for t in self.tests) and not (
            self.load_error or self.timed_out or self.crashed or self.tampered or self.output_capped or self.not_run)

    def as_dict(self) -> Dict[str, Any]:
        """Plain dict (for module results)."""
        data = asdict(self)
        data["passed"] = self.passed
        return data


def harness_source() -> str:
    """Source of :mod:`slm_jail_harness` (from a file, or from the module's zip under Ansible)."""
    loader = getattr(slm_jail_harness, "__loader__", None)
    source = loader.get_source(slm_jail_harness.__name__) if loader and hasattr(loader, "get_source") else None
    if not source:
        with open(slm_jail_harness.__file__, encoding="utf-8") as handle:
            source = handle.read()
    return source


def _run_subprocess(argv: List[str], stdin: bytes, time_limit_s: float) -> RawRun:
    scratch = tempfile.mkdtemp(prefix="slm-code-check-")
    run = RawRun()
    try:
        proc = subprocess.Popen(argv, cwd=scratch, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True,
                                env={"PATH": "/usr/bin:/bin", "HOME": scratch, "TMPDIR": scratch, "LANG": "C.UTF-8"})
        try:
            proc.stdin.write(stdin)
            proc.stdin.close()
        except OSError:
            pass
        out, deadline = Collector({1: OUT_CAP, 2: ERR_CAP}), time.monotonic() + time_limit_s
        streams = {proc.stdout.fileno(): 1, proc.stderr.fileno(): 2}
        finished = True
        while streams and finished:
            left = deadline - time.monotonic()
            ready = select.select(list(streams), [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                run.timed_out, finished = True, False
            for fd in ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    del streams[fd]
                elif not out.add(streams[fd], chunk):
                    finished = False
                    break
        try:  # output closed is not the end: the process gets what is left of its time
            code = proc.wait(timeout=max(deadline - time.monotonic(), 0)) if finished else None
        except subprocess.TimeoutExpired:
            run.timed_out, code = True, None
        try:  # also the children it left behind in its process group
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        if code is None:
            code = proc.wait()
        run.exit_code = 128 - code if code < 0 else code
        run.stdout, run.stderr, run.capped = bytes(out.data[1]), bytes(out.data[2]), out.capped
        proc.stdout.close()
        proc.stderr.close()
        return run
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _outcome(event: Dict[str, Any]) -> Dict[str, Any]:
    kinds = [k for k in ("value", "error", "timeout", "digest") if k in event]
    if len(kinds) != 1:
        raise Tampered("a result must carry exactly one of value, error, timeout, digest")
    if kinds == ["value"]:
        return {"value": decode(event["value"])}
    if kinds == ["error"] and isinstance(event["error"], str):
        return {"error": event["error"][:300]}
    if kinds == ["timeout"] and event["timeout"] is True:
        return {"timeout": True}
    if kinds == ["digest"] and isinstance(event.get("size"), int) and isinstance(event.get("head"), str):
        return {"value": Digest(str(event["digest"]), event["size"], event["head"])}
    raise Tampered("malformed result")


def _read_channel(result: JailResult, text: str, n_probes: int) -> tuple:
    """Outcomes per probe and whether the harness finished; sets ``tampered`` on anything foreign."""
    outcomes: List[Optional[Dict[str, Any]]] = [None] * n_probes
    done, seen = False, set()
    for number, line in enumerate(text.split("\n")[:-1], 1):  # a cut last line is incomplete, not foreign
        try:
            event = json.loads(line)
            if done or not isinstance(event, dict):
                raise Tampered("unexpected line")
            if "i" in event:
                i = event["i"]
                if not isinstance(i, int) or not 0 <= i < n_probes or outcomes[i] is not None:
                    raise Tampered("result for probe %r out of range or repeated" % (i,))
                outcomes[i] = _outcome(event)
            elif event == {"done": True}:
                done = True
            elif set(event) == {"loaded", "notes"} and not seen:
                result.notes = [str(n) for n in event["notes"]][:20]
            elif set(event) == {"load_error"} and not seen:
                result.load_error = str(event["load_error"])[:500]
            else:
                raise Tampered("unknown event")
            seen.add(number)
        except (ValueError, TypeError, RecursionError, Tampered) as exc:
            result.tampered = "line %d (%s): %.80r" % (number, exc, line)
            return outcomes, False
    return outcomes, done


def _crash(raw: RawRun) -> str:
    if raw.exit_code in (137, None):
        return "the process died: killed (memory limit or SIGKILL)"
    tail = raw.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
    return "the process exited with %s before finishing: %s" % (raw.exit_code, tail[0][:200])


def _judge(result: JailResult, raw: RawRun, tests: List[str], per_test_s: float) -> None:
    plans = [plan(t) for t in tests]
    starts, n = [], 0
    for p in plans:
        starts.append(n)
        n += len(p.probes)
    outcomes, done = _read_channel(result, raw.stdout.decode("utf-8", "replace"), n)
    result.timed_out = raw.timed_out
    if raw.capped:
        result.output_capped = "the jail wrote more than %d KiB on %s; the rest was not read and the run stopped" % (
            (OUT_CAP if raw.capped == "stdout" else ERR_CAP) // 1024, raw.capped)
    if result.load_error:
        return
    if not (done or raw.timed_out or raw.capped or result.tampered):
        result.crashed = _crash(raw)
    why = ("not judged: the results channel carried data the harness did not write" if result.tampered
           else "the process was stopped")
    for p, start in zip(plans, starts):
        outs = [o if o is not None else {"missing": why} for o in outcomes[start:start + len(p.probes)]]
        if result.tampered:
            outs = [{"missing": why}] if p.probes else outs
        result.tests.append(verdict(p, outs, per_test_s))


def run_python(code: str, tests: List[str], time_limit_s: float = 10.0, per_test_s: float = 5.0,
               memory_mb: int = 256, isolation: str = "container", image: Optional[str] = None,
               docker_socket: str = DEFAULT_SOCKET) -> JailResult:
    """Define ``code`` in the jail and judge each test expression in the parent."""
    if isolation not in MODES:
        raise ValueError("isolation must be one of %s; got %r" % (", ".join(MODES), isolation))
    result = JailResult(isolation={"mode": isolation})
    probes = [p for t in tests for p in plan(t).probes]
    limits = {"RLIMIT_AS": int(memory_mb) * 1024 * 1024, "RLIMIT_CPU": int(time_limit_s) + 1,
              "RLIMIT_FSIZE": 16 * 1024 * 1024, "RLIMIT_NOFILE": 64, "RLIMIT_CORE": 0}
    if isolation == "subprocess_unsafe":
        limits["RLIMIT_NPROC"] = 0
    stdin = (json.dumps(harness_source()) + "\n" + json.dumps({
        "code": code, "probes": probes, "load_s": float(per_test_s), "per_test_s": float(per_test_s),
        "limits": limits})).encode("utf-8")
    start = time.monotonic()
    try:
        if isolation == "container":
            if not image:
                raise NotRun("no isolation available: mode container needs an image with python3 (code_image)")
            result.isolation.update(image=image, network="none", user="65534:65534", root="read-only")
            raw = run_container(docker_socket, image, ["python3", "-I", "-S", "-B", "-c", BOOTSTRAP], stdin,
                                time_limit_s, memory_mb, {1: OUT_CAP, 2: ERR_CAP})
            if raw.warnings:
                result.isolation["engine_warnings"] = raw.warnings
        else:
            result.isolation.update(network="host", user="the module's user", root="host filesystem")
            raw = _run_subprocess([sys.executable, "-I", "-S", "-B", "-c", BOOTSTRAP], stdin, time_limit_s)
        _judge(result, raw, tests, per_test_s)
    except NotRun as exc:
        result.not_run = "not run: %s" % exc
    finally:
        result.duration_s = round(time.monotonic() - start, 3)
    return result
