# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run model-written Python against test expressions, in a subprocess with limits.

Threat model: the code comes from our own model answering a coding prompt. It may be wrong,
loop forever, allocate without bound, or (copying a tutorial) try to fetch a URL or write a
file. The sandbox must contain that and report it. It is **not** a boundary against an
adversary who targets this sandbox specifically (see the Python-level layer below).

Layers, strongest first — each run reports which ones were in force (``isolation``):

* **Network namespace** (``unshare --net``, as root, or with ``--map-root-user`` where
  unprivileged user namespaces are allowed): the process has no network interface but a
  loopback that is down. Nothing, including raw syscalls, reaches the network.
* **Unprivileged user** (as root: ``unshare --setuid 65534 --setgid 65534``): the code runs as
  ``nobody`` and cannot write anything owned by root or other users. World-writable places
  (``/tmp``, ``/dev/shm``) stay writable at the OS level.
* **Resource limits** set by the runner before the code runs: address space (``memory_mb``),
  CPU seconds, file size (16 MiB), open files (64), no core dumps, and no new processes or
  threads (``RLIMIT_NPROC`` 0; not enforced by the kernel for root, see the audit hook).
* **Wall-clock limit** in the parent: the whole process group is killed at ``time_limit_s``;
  each test expression also has its own alarm so one endless test does not hide the others.
* **Scratch directory**: an empty temp dir (mode 0700, owned by the runner's uid) is the cwd,
  ``HOME`` and ``TMPDIR``; it is removed afterwards. The environment is minimal (``PATH``,
  ``HOME``, ``TMPDIR``, ``LANG``); the interpreter runs isolated (``-I -S -B``: no user site,
  no ``PYTHON*`` variables, no ``site``/``sitecustomize``, no ``.pyc`` writes). stdin is empty.
* **Python audit hook** (always, Python >= 3.8), installed by the runner before the code runs:
  blocks socket creation and DNS lookups; opening files for writing, creating, deleting,
  renaming, linking or changing modes outside the scratch dir; starting processes
  (``subprocess``, ``os.system``, ``exec*``, ``fork``, ``posix_spawn``), sending signals;
  ``ctypes`` and ``_posixsubprocess`` imports, ``gc`` object walking and ``setrlimit``.
  Reading files is allowed (the stdlib must import). Every blocked attempt is recorded, even
  when the code catches the exception, and fails the check. This layer stops accidents and the usual
  ways a tutorial snippet touches the outside; code built to defeat audit hooks can, so the
  OS layers above are what is *guaranteed* — and they depend on ``unshare`` being usable.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

NOBODY = 65534
_MODES_LOCK = threading.Lock()
_MODES: Dict[str, Tuple[List[str], Dict[str, Any]]] = {}

RUNNER = r'''
import ast, builtins, io, json, os, resource, signal, sys, traceback
payload = json.loads(sys.stdin.read())
sys.stdin = open(os.devnull)
NONCE, SCRATCH = payload["nonce"], os.path.realpath(payload["scratch"])
out = os.fdopen(os.dup(1), "w", buffering=1)
devnull = os.open(os.devnull, os.O_WRONLY)
os.dup2(devnull, 1)
os.dup2(devnull, 2)

def emit(**kw):
    out.write(NONCE + json.dumps(kw, default=repr) + "\n")
    out.flush()

def limit(res, value):
    try:
        resource.setrlimit(res, (value, value))
    except (ValueError, OSError):
        pass

mem = payload["memory_mb"] * 1024 * 1024
limit(resource.RLIMIT_AS, mem)
limit(resource.RLIMIT_CPU, payload["cpu_s"])
limit(resource.RLIMIT_FSIZE, 16 * 1024 * 1024)
limit(resource.RLIMIT_NOFILE, 64)
limit(resource.RLIMIT_CORE, 0)
limit(resource.RLIMIT_NPROC, 0)

BLOCK_ALWAYS = frozenset((
    "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname",
    "socket.gethostbyaddr", "socket.getnameinfo", "socket.sendto", "socket.sethostname",
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.forkpty", "os.kill", "os.killpg", "signal.pthread_kill", "pty.spawn", "os.startfile",
    "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "gc.get_objects", "gc.get_referrers",
    "gc.get_referents", "resource.setrlimit", "resource.prlimit", "sys._current_frames",
    "os.setuid", "os.chroot", "webbrowser.open", "urllib.Request", "http.client.connect",
    "ftplib.connect", "smtplib.connect", "imaplib.open", "poplib.connect", "telnetlib.Telnet.open",
))
BLOCK_IMPORTS = frozenset(("ctypes", "_ctypes", "_posixsubprocess", "cffi", "_xxsubinterpreters"))
PATH_EVENTS = {"os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.chmod": (0,),
               "os.chown": (0,), "os.rename": (0, 1), "os.replace": (0, 1), "os.link": (0, 1),
               "os.symlink": (1,), "os.truncate": (0,), "os.utime": (0,), "shutil.rmtree": (0,),
               "shutil.copyfile": (1,), "shutil.copytree": (1,), "shutil.move": (0, 1),
               "os.mkfifo": (0,), "os.mknod": (0,), "os.setxattr": (0,),
               "os.removexattr": (0,), "os.chflags": (0,), "os.lchown": (0,)}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
violations = []

class Blocked(PermissionError):
    pass

def hook(event, args, _always=BLOCK_ALWAYS, _imports=BLOCK_IMPORTS, _paths=PATH_EVENTS,
         _scratch=SCRATCH + os.sep, _real=os.path.realpath, _fs=os.fsdecode, _wf=WRITE_FLAGS,
         _seen=violations, _err=Blocked):
    def block(text):
        if len(_seen) < 20:
            _seen.append(text)
        raise _err("sandbox: " + text)
    def inside(p):
        if isinstance(p, int):
            return p <= 2
        try:
            return (_real(_fs(p)) + os.sep).startswith(_scratch)
        except (TypeError, ValueError):
            return False
    if event in _always:
        block("%s is blocked" % event)
    if event == "import" and args and args[0] in _imports:
        block("import of %s is blocked" % args[0])
    if event == "open" and len(args) >= 3:
        path, mode, flags = args[0], args[1], args[2]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _wf)
        if writing and not inside(path):
            block("writing %r is blocked (only the scratch dir is writable)" % (path,))
    elif event in _paths:
        for i in _paths[event]:
            if i < len(args) and args[i] is not None and not inside(args[i]):
                block("%s on %r is blocked (outside the scratch dir)" % (event, args[i]))

class TestTimeout(Exception):
    pass

def on_alarm(signum, frame):
    raise TestTimeout()

signal.signal(signal.SIGALRM, on_alarm)
captured = io.StringIO()
sys.stdout = sys.stderr = captured
ns = {"__name__": "__answer__", "__builtins__": builtins}
sys.addaudithook(hook)

def short(value, n=200):
    text = repr(value)
    return text if len(text) <= n else text[:n - 3] + "..."

def last_line(exc):
    return "%s: %s" % ("PermissionError" if isinstance(exc, Blocked) else type(exc).__name__, exc)

# Load statement by statement. Definitions and imports must succeed; other top-level statements
# are "example usage" (input(), prints, demo loops): their failures are noted and skipped.
DEFINING = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)
notes = []
try:
    module = ast.parse(payload["code"], "<answer>")
except SyntaxError as exc:
    emit(load_error="SyntaxError: %s (line %s)" % (exc.msg, exc.lineno))
    raise SystemExit(0)
for stmt in module.body:
    try:
        signal.setitimer(signal.ITIMER_REAL, payload["load_s"])
        exec(compile(ast.Module(body=[stmt], type_ignores=[]), "<answer>", "exec"), ns)
        signal.setitimer(signal.ITIMER_REAL, 0)
    except BaseException as exc:
        signal.setitimer(signal.ITIMER_REAL, 0)
        what = "took longer than %.1f s" % payload["load_s"] if isinstance(exc, TestTimeout) else last_line(exc)
        lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<answer>"]
        line = lines[-1] if lines else stmt.lineno
        if isinstance(stmt, DEFINING) or isinstance(exc, Blocked) or violations:
            emit(load_error="%s (line %d)" % (what, line), violations=violations)
            raise SystemExit(0)
        notes.append("top-level code at line %d %s%s; skipped" % (
            line, "" if isinstance(exc, TestTimeout) else "raised ", what))

import operator
OPS = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
       ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
       ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}

for expr in payload["tests"]:
    try:
        signal.setitimer(signal.ITIMER_REAL, payload["per_test_s"])
        tree = ast.parse(expr, mode="eval").body
        if isinstance(tree, ast.Compare) and len(tree.ops) == 1 and type(tree.ops[0]) in OPS:
            left = eval(compile(ast.Expression(tree.left), "<test>", "eval"), ns)
            right = eval(compile(ast.Expression(tree.comparators[0]), "<test>", "eval"), ns)
            ok = bool(OPS[type(tree.ops[0])](left, right))
            detail = "" if ok else "got %s, expected %s" % (short(left), short(right))
        else:
            value = eval(compile(ast.Expression(tree), "<test>", "eval"), ns)
            ok = bool(value)
            detail = "" if ok else "evaluated to %s" % short(value)
        signal.setitimer(signal.ITIMER_REAL, 0)
        emit(test=expr, passed=ok, detail=detail)
    except TestTimeout:
        emit(test=expr, passed=False, detail="timed out after %.1f s" % payload["per_test_s"])
    except BaseException as exc:
        signal.setitimer(signal.ITIMER_REAL, 0)
        emit(test=expr, passed=False, detail="raised " + last_line(exc))
emit(done=True, stdout=captured.getvalue()[-2000:], notes=notes, violations=violations)
'''


@dataclass
class SandboxResult:
    """Outcome of one sandboxed run."""

    tests: List[Dict[str, Any]] = field(default_factory=list)  # {test, passed, detail}
    load_error: Optional[str] = None
    timed_out: bool = False
    crashed: Optional[str] = None
    duration_s: float = 0.0
    stdout: str = ""
    notes: List[str] = field(default_factory=list)
    violations: List[str] = field(default_factory=list)
    isolation: Dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """All tests ran and passed."""
        return bool(self.tests) and all(t["passed"] for t in self.tests) and not (
            self.load_error or self.timed_out or self.crashed or self.violations)

    def as_dict(self) -> Dict[str, Any]:
        """Plain dict (for module results)."""
        data = asdict(self)
        data["passed"] = self.passed
        return data


def _base_env(scratch: str) -> Dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": scratch, "TMPDIR": scratch,
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def _interpreters(python: str) -> List[str]:
    """Interpreters able to run the stdlib-only runner: the given one, its real path, the system one.

    A virtualenv under /root is not executable by ``nobody``; the interpreter it points to or
    ``/usr/bin/python3`` often is, and the runner needs nothing but the standard library.
    """
    out: List[str] = []
    for cand in (python, os.path.realpath(python), "/usr/bin/python3"):
        if cand and os.path.exists(cand) and cand not in out:
            out.append(cand)
    return out


def _candidate_modes(python: str) -> List[Tuple[str, List[str], Dict[str, Any]]]:
    unshare = shutil.which("unshare") or ("/usr/bin/unshare" if os.path.exists("/usr/bin/unshare") else None)
    flags = ["-I", "-S", "-B", "-c"]
    netns = {"network": "namespace (no interfaces)"}
    modes: List[Tuple[str, List[str], Dict[str, Any]]] = []
    if unshare and os.geteuid() == 0:
        for interp in _interpreters(python):
            modes.append(("netns+nobody", [unshare, "--net", "--setgid", str(NOBODY), "--setuid", str(NOBODY),
                                           "--", interp] + flags,
                          dict(netns, user="nobody (65534)", uid=NOBODY, python=interp)))
        modes.append(("netns", [unshare, "--net", "--", python] + flags,
                      dict(netns, user="root: no interpreter here is executable by nobody", python=python)))
    if unshare:
        modes.append(("userns+netns", [unshare, "--user", "--map-root-user", "--net", "--", python] + flags,
                      dict(netns, user="current user (mapped to root inside a user namespace)", python=python)))
    modes.append(("audit-hook-only", [python] + flags,
                  {"network": "audit hook only (unshare unavailable or not permitted)", "user": "current user",
                   "python": python}))
    return modes


def _scratch_base() -> Optional[str]:
    """Where scratch dirs go: /tmp when it is a sticky world-writable dir, else the default.

    Under Ansible TMPDIR may point into ~/.ansible/tmp of root, which ``nobody`` cannot traverse;
    the scratch dir itself is private (0700, owned by the runner's uid) wherever it lives.
    """
    try:
        st = os.stat("/tmp")
    except OSError:
        return None
    return "/tmp" if st.st_mode & 0o1777 == 0o1777 else None


def _try_mode(argv: List[str], uid: Optional[int]) -> bool:
    scratch = tempfile.mkdtemp(prefix="slm-sandbox-probe-", dir=_scratch_base())
    try:
        if uid is not None:
            os.chown(scratch, uid, uid)
        proc = subprocess.run(argv + ["import os, socket; open('probe', 'w').write('ok')"], cwd=scratch,
                              env=_base_env(scratch), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=20, check=False)
        return proc.returncode == 0 and os.path.exists(os.path.join(scratch, "probe"))
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def isolation_mode(python: Optional[str] = None) -> Tuple[List[str], Dict[str, Any]]:
    """The strongest working launcher on this host (probed once per interpreter, then cached)."""
    python = python or sys.executable
    with _MODES_LOCK:
        if python not in _MODES:
            for name, argv, info in _candidate_modes(python):
                if _try_mode(argv, info.get("uid")):
                    _MODES[python] = (argv, dict(info, mode=name))
                    break
            else:  # pragma: no cover - the last mode is plain python, which always works
                _MODES[python] = ([python, "-I", "-S", "-B", "-c"],
                                  {"mode": "audit-hook-only", "network": "audit hook only", "user": "current user"})
        return _MODES[python]


def run_python(code: str, tests: List[str], time_limit_s: float = 10.0, per_test_s: float = 5.0,
               memory_mb: int = 256, python: Optional[str] = None) -> SandboxResult:
    """Define ``code`` and evaluate each test expression (truthy = pass) in the sandbox."""
    argv, info = isolation_mode(python)
    result = SandboxResult(isolation=dict(info))
    scratch = tempfile.mkdtemp(prefix="slm-sandbox-", dir=_scratch_base())
    nonce = "@@" + uuid.uuid4().hex + "@@"
    start = time.monotonic()
    try:
        if info.get("uid") is not None:
            os.chown(scratch, info["uid"], info["uid"])
        payload = json.dumps({"nonce": nonce, "scratch": scratch, "code": code, "tests": tests,
                              "memory_mb": int(memory_mb), "cpu_s": int(time_limit_s) + 1,
                              "load_s": float(per_test_s), "per_test_s": float(per_test_s)})
        proc = subprocess.Popen(argv + [RUNNER], cwd=scratch, env=_base_env(scratch), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = proc.communicate(payload.encode("utf-8"), timeout=time_limit_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            out, err = proc.communicate()
            result.timed_out = True
        done = _absorb(result, out.decode("utf-8", "replace"), nonce)
        if not result.timed_out and not done and not result.load_error:
            if proc.returncode is not None and proc.returncode < 0:
                sig = -proc.returncode
                why = {int(signal.SIGXCPU): "CPU time limit", int(signal.SIGKILL): "killed (memory or time limit)",
                       int(signal.SIGSEGV): "segmentation fault"}.get(sig, "signal %d" % sig)
                result.crashed = "the process died: %s" % why
            else:
                tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
                result.crashed = "the process exited with %s before finishing: %s" % (proc.returncode, tail[0])
        if result.timed_out or result.crashed:
            # the runner reports tests in order, so the missing ones are the tail
            result.tests.extend({"test": t, "passed": False, "detail": "not run: the process was stopped"}
                                for t in tests[len(result.tests):])
    finally:
        result.duration_s = round(time.monotonic() - start, 3)
        shutil.rmtree(scratch, ignore_errors=True)
    result.isolation["scratch_removed"] = not os.path.exists(scratch)
    return result


def _absorb(result: SandboxResult, out: str, nonce: str) -> bool:
    """Read the runner's result lines; True when it reported completion."""
    done = False
    for line in out.splitlines():
        if not line.startswith(nonce):
            continue
        try:
            event = json.loads(line[len(nonce):])
        except ValueError:
            continue
        if "load_error" in event:
            result.load_error = event["load_error"]
            result.violations = list(event.get("violations") or [])
            done = True
        elif "test" in event:
            result.tests.append({"test": event["test"], "passed": bool(event.get("passed")),
                                 "detail": event.get("detail", "")})
        elif event.get("done"):
            result.stdout = event.get("stdout", "")
            result.notes = list(event.get("notes") or [])
            result.violations = list(event.get("violations") or [])
            done = True
    return done
