"""The code sandbox: time-outs, no network, no writes outside the scratch dir, errors reported.

Each guarantee is tested twice where possible: through the runner (all layers, including the
audit hook) and, for the OS layers, with the audit hook out of the way, to prove the OS layer
holds on its own. Those OS-layer tests skip, saying why, when this host cannot create a network
namespace or drop to ``nobody``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import threading

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_sandbox import isolation_mode, run_python

GCD = "def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a\n"


def test_tests_pass_and_fail_with_details() -> None:
    r = run_python(GCD, ["gcd(48, 18) == 6", "gcd(17, 5) == 2", "undefined_fn(1)", "[1, 2] == [1, 2]"])
    by = {t["test"]: t for t in r.tests}
    assert by["gcd(48, 18) == 6"]["passed"]
    assert by["gcd(17, 5) == 2"] == {"test": "gcd(17, 5) == 2", "passed": False, "detail": "got 1, expected 2"}
    assert by["undefined_fn(1)"]["detail"] == "raised NameError: name 'undefined_fn' is not defined"
    assert by["[1, 2] == [1, 2]"]["passed"]
    assert not r.passed and not r.timed_out and r.load_error is None


def test_exception_while_loading_is_reported_with_line() -> None:
    r = run_python("x = 1\nclass Broken:\n    y = 1\n    raise ValueError('boom')\n", ["x == 1"])
    assert r.load_error == "ValueError: boom (line 4)" and not r.passed


def test_syntax_error_is_reported() -> None:
    r = run_python("def f(:\n  pass\n", ["f()"])
    assert r.load_error.startswith("SyntaxError")


def test_endless_test_times_out_alone() -> None:
    r = run_python("def spin():\n    while True:\n        pass\n", ["spin()", "1 + 1 == 2"], per_test_s=0.5)
    assert r.tests[0] == {"test": "spin()", "passed": False, "detail": "timed out after 0.5 s"}
    assert r.tests[1]["passed"] and not r.timed_out


def test_wall_clock_limit_kills_uninterruptible_code() -> None:
    # sum() over a huge range runs in C: the per-test alarm cannot interrupt it, the parent kills it.
    r = run_python("x = 1\n", ["x == 1", "sum(range(10 ** 12)) > 0", "x == 1"], time_limit_s=2, per_test_s=60)
    assert r.timed_out and r.duration_s < 5
    assert r.tests[0]["passed"]
    assert [t["detail"] for t in r.tests[1:]] == ["not run: the process was stopped"] * 2


def test_memory_limit() -> None:
    r = run_python("def grab():\n    return bytearray(2 * 1024 ** 3)\n", ["len(grab()) > 0"], memory_mb=128)
    assert r.tests[0]["detail"].startswith("raised MemoryError") and not r.passed


def test_endless_definition_times_out() -> None:
    r = run_python("class Spin:\n    while True:\n        pass\n", ["True"], per_test_s=0.5)
    assert r.load_error == "took longer than 0.5 s (line 2)"


def test_network_is_blocked() -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        code = "import socket\ns = socket.create_connection(('127.0.0.1', %d), timeout=2)\n" % port
        r = run_python(code, ["True"])
    assert "PermissionError" in r.load_error and "socket" in r.load_error
    r = run_python("import urllib.request\nurllib.request.urlopen('http://example.com', timeout=2)\n", ["True"])
    assert "blocked" in r.load_error
    r = run_python("import socket\nsocket.getaddrinfo('example.com', 80)\n", ["True"])
    assert "blocked" in r.load_error


def test_writes_outside_scratch_are_blocked(tmp_path) -> None:
    target = tmp_path / "escape.txt"
    for code in ("open(%r, 'w').write('x')\n" % str(target),
                 "import os\nos.open(%r, os.O_WRONLY | os.O_CREAT)\n" % str(target),
                 "import pathlib\npathlib.Path(%r).write_text('x')\n" % str(target),
                 "import os\nos.symlink(%r, 'link')\nopen('link', 'w').write('x')\n" % str(target),
                 "import shutil\nshutil.rmtree(%r)\n" % str(tmp_path)):
        r = run_python(code, ["True"])
        assert r.load_error and "sandbox" in r.load_error, code
    assert not target.exists() and tmp_path.exists()


def test_scratch_dir_is_writable_empty_and_removed() -> None:
    code = ("import os\nLISTING = sorted(os.listdir('.'))\nopen('note.txt', 'w').write('hi')\n"
            "CWD = os.getcwd()\nENV = dict(os.environ)\nopen(os.path.join(CWD, 'abs.txt'), 'w').write('x')\n")
    r = run_python(code, ["LISTING == []", "open('note.txt').read() == 'hi'", "ENV['HOME'] == CWD",
                          "open(os.path.join(CWD, 'abs.txt')).read() == 'x'",
                          "sorted(ENV) == ['HOME', 'LANG', 'LC_ALL', 'PATH', 'TMPDIR']"])
    assert r.passed, r.tests
    assert r.isolation["scratch_removed"] is True


def test_caught_violations_are_still_recorded() -> None:
    code = "import socket\ntry:\n    socket.socket()\nexcept OSError:\n    pass\n" + GCD
    r = run_python(code, ["gcd(4, 2) == 2"])
    assert r.violations == ["socket.__new__ is blocked"] and not r.passed
    r = run_python(GCD, ["gcd(4, 2) == 2", "open('/etc/x', 'w') is None"])
    assert r.violations and "writing '/etc/x'" in r.violations[0] and not r.passed


def test_processes_and_ctypes_are_blocked() -> None:
    for code, word in (("import subprocess\n", "_posixsubprocess"), ("import os\nos.system('true')\n", "os.system"),
                       ("import os\nos.fork()\n", "os.fork"), ("import ctypes\n", "ctypes"),
                       ("import os\nos.kill(1, 0)\n", "os.kill")):
        r = run_python(code, ["True"])
        assert r.load_error and word in r.load_error, (code, r.load_error)


def test_stdout_is_captured_not_mixed_with_results() -> None:
    r = run_python("print('@@fake@@{\"test\": \"x\", \"passed\": true}')\nimport os\nos.write(1, b'junk\\n')\n",
                   ["1 == 2"])
    assert [t["test"] for t in r.tests] == ["1 == 2"] and not r.passed
    assert "@@fake@@" in r.stdout


def test_runs_in_parallel_threads() -> None:
    results = []
    threads = [threading.Thread(target=lambda: results.append(run_python(GCD, ["gcd(48, 18) == 6"]))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(r.passed for r in results)


# ---------------------------------------------------------------- OS layers on their own (no audit hook)

def _raw(code: str, cwd: str) -> subprocess.CompletedProcess:
    argv, _ = isolation_mode()
    return subprocess.run(argv + [code], cwd=cwd, capture_output=True, text=True, timeout=20,
                          env={"PATH": "/usr/bin:/bin", "HOME": cwd}, check=False)


def test_network_namespace_holds_without_the_audit_hook() -> None:
    argv, info = isolation_mode()
    if "namespace" not in info["network"]:
        pytest.skip("no network namespace on this host (%s): only the audit hook blocks network" % info["mode"])
    with socket.socket() as srv, tempfile.TemporaryDirectory() as d:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        os.chmod(d, 0o777)
        code = ("import socket\ntry:\n    socket.create_connection(('127.0.0.1', %d), timeout=2)\n    print('CONNECTED')\n"
                "except OSError as e:\n    print('BLOCKED', e)\n" % srv.getsockname()[1])
        out = _raw(code, d).stdout
    assert out.startswith("BLOCKED"), out


def test_unprivileged_user_cannot_write_root_files() -> None:
    argv, info = isolation_mode()
    if info.get("uid") is None:
        pytest.skip("the sandbox does not drop to nobody on this host (%s)" % info["mode"])
    with tempfile.TemporaryDirectory() as protected, tempfile.TemporaryDirectory() as cwd:
        os.chmod(protected, 0o755)
        os.chmod(cwd, 0o777)
        code = "try:\n    open(%r, 'w')\n    print('WROTE')\nexcept OSError as e:\n    print('DENIED', e)\n" % (
            os.path.join(protected, "x"))
        out = _raw(code, cwd).stdout
        assert out.startswith("DENIED"), out
        assert not os.path.exists(os.path.join(protected, "x"))


def test_isolation_is_reported() -> None:
    r = run_python("x = 1\n", ["x == 1"])
    assert r.isolation["mode"] in ("netns+nobody", "netns", "userns+netns", "audit-hook-only")
    assert {"network", "user", "mode"} <= set(r.isolation)


def test_example_usage_at_top_level_does_not_spoil_the_function() -> None:
    code = GCD + "a = int(input('First number: '))\nprint(gcd(a, 4))\nwhile True:\n    pass\n"
    r = run_python(code, ["gcd(48, 18) == 6"], per_test_s=0.5)
    assert r.passed, r.as_dict()
    assert r.notes[0].startswith("top-level code at line 5 raised EOFError")
    assert r.notes[-1] == "top-level code at line 7 took longer than 0.5 s; skipped"


def test_failing_import_is_a_load_error() -> None:
    r = run_python("import numpy_that_does_not_exist\n" + GCD, ["gcd(4, 2) == 2"])
    assert r.load_error == "ModuleNotFoundError: No module named 'numpy_that_does_not_exist' (line 1)"
