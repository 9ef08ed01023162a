"""The code-check jail end to end on this machine's Docker engine: tests, time-outs, limits, reporting.

What hostile code cannot do is in test_slm_jail_abuse.py; the parent's value handling without
Docker is in test_slm_jail_values.py.
"""

from __future__ import annotations

import subprocess
import threading

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_jail import run_python
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_jail_docker import LABEL, container_spec
from jail_engine import IMAGE, jail, require_docker

GCD = "def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a\n"


@pytest.fixture(autouse=True)
def docker() -> None:
    require_docker()


def test_tests_pass_and_fail_with_details() -> None:
    r = jail(GCD, ["gcd(48, 18) == 6", "gcd(17, 5) == 2", "undefined_fn(1)", "[1, 2] == [1, 2]"])
    by = {t["test"]: t for t in r.tests}
    assert by["gcd(48, 18) == 6"]["passed"]
    assert by["gcd(17, 5) == 2"] == {"test": "gcd(17, 5) == 2", "passed": False, "detail": "got 1, expected 2"}
    assert by["undefined_fn(1)"]["detail"] == "raised NameError: name 'undefined_fn' is not defined"
    assert by["[1, 2] == [1, 2]"]["passed"]
    assert not r.passed and not r.timed_out and r.load_error is None
    assert r.isolation == {"mode": "container", "image": IMAGE, "network": "none", "user": "65534:65534",
                           "root": "read-only"}


def test_values_of_every_kind_come_back_and_compare_in_the_parent() -> None:
    code = ("from collections import OrderedDict, namedtuple\nfrom fractions import Fraction\nP = namedtuple('P', 'x y')\n"
            "def v(k):\n    return {'tuple': P(1, 2), 'dict': OrderedDict([(2, 'b'), (1, 'a')]), 'set': {3, 1},\n"
            "            'bytes': bytearray(b'ab'), 'big': 3 ** 200, 'float': 0.1 + 0.2, 'none': None,\n"
            "            'frac': Fraction(1, 3), 'long': list(range(5000))}[k]\n")
    r = jail(code, ["v('tuple') == (1, 2)", "v('dict') == {1: 'a', 2: 'b'}", "v('set') == {1, 3}",
                    "v('bytes') == b'ab'", "v('big') == 3 ** 200", "abs(v('float') - 0.3) < 1e-9", "v('none') is None",
                    "v('frac') == v('frac')", "v('frac') == 1", "v('long') == list(range(5000))",
                    "v('long') != list(range(4999))", "len(v('long')) == 5000"])
    assert [t["passed"] for t in r.tests] == [True] * 8 + [False] + [True] * 3, r.tests
    assert r.tests[8]["detail"] == "got Fraction(1, 3), expected 1"


def test_exception_while_loading_is_reported_with_line() -> None:
    r = jail("x = 1\nclass Broken:\n    y = 1\n    raise ValueError('boom')\n", ["x == 1"])
    assert r.load_error == "ValueError: boom (line 4)" and not r.passed


def test_syntax_error_is_reported() -> None:
    r = jail("def f(:\n  pass\n", ["f()"])
    assert r.load_error.startswith("SyntaxError")


def test_endless_test_times_out_alone() -> None:
    r = jail("def spin():\n    while True:\n        pass\n", ["spin()", "1 + 1 == 2"], per_test_s=0.5)
    assert r.tests[0] == {"test": "spin()", "passed": False, "detail": "timed out after 0.5 s"}
    assert r.tests[1]["passed"] and not r.timed_out


def test_wall_clock_limit_kills_uninterruptible_code_and_the_container() -> None:
    # sum() over a huge range runs in C: the per-test alarm cannot interrupt it, the parent kills it.
    r = jail("x = 1\ndef spin():\n    return sum(range(10 ** 12))\n", ["x == 1", "spin() > 0", "x == 1"],
             time_limit_s=2, per_test_s=60)
    assert r.timed_out and r.tests[0]["passed"]
    assert [t["detail"] for t in r.tests[1:]] == ["not run: the process was stopped"] * 2
    left = subprocess.run(["docker", "ps", "-aq", "--filter", "label=" + LABEL], capture_output=True, text=True,
                          check=True).stdout.split()
    assert left == [], "jail containers left behind: %s" % left


def test_memory_limit() -> None:
    r = jail("def grab():\n    return bytearray(2 * 1024 ** 3)\n", ["len(grab()) > 0"], memory_mb=128)
    assert r.tests[0]["detail"].startswith("raised MemoryError") and not r.passed


def test_endless_definition_times_out() -> None:
    r = jail("class Spin:\n    while True:\n        pass\n", ["True"], per_test_s=0.5)
    assert r.load_error == "took longer than 0.5 s (line 2)"


def test_example_usage_at_top_level_does_not_spoil_the_function() -> None:
    code = GCD + "a = int(input('First number: '))\nprint(gcd(a, 4))\nwhile True:\n    pass\n"
    r = jail(code, ["gcd(48, 18) == 6"], per_test_s=0.5)
    assert r.passed, r.as_dict()
    assert r.notes[0].startswith("top-level code at line 5 raised EOFError")
    assert r.notes[-1] == "top-level code at line 7 took longer than 0.5 s; skipped"


def test_failing_import_is_a_load_error() -> None:
    r = jail("import numpy_that_does_not_exist\n" + GCD, ["gcd(4, 2) == 2"])
    assert r.load_error == "ModuleNotFoundError: No module named 'numpy_that_does_not_exist' (line 1)"


def test_prints_are_not_results() -> None:
    r = jail("print('{\"i\": 0, \"value\": 6}')\nimport os\nos.write(1, b'PASS\\n')\n" + GCD.replace("return a", "return 0"),
             ["gcd(48, 18) == 6"])
    assert r.tests == [{"test": "gcd(48, 18) == 6", "passed": False, "detail": "got 0, expected 6"}]
    assert r.tampered is None


def test_runs_in_parallel_threads() -> None:
    results = []
    threads = [threading.Thread(target=lambda: results.append(jail(GCD, ["gcd(48, 18) == 6"]))) for _run in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(r.passed for r in results)


def test_no_engine_means_not_run(tmp_path) -> None:
    r = run_python(GCD, ["gcd(4, 2) == 2"], image=IMAGE, docker_socket=str(tmp_path / "none.sock"))
    assert r.not_run == ("not run: no isolation available: mode container needs Docker on the host: "
                         "%s does not exist" % (tmp_path / "none.sock"))
    assert not r.passed and r.tests == []


def test_missing_image_means_not_run() -> None:
    r = run_python(GCD, ["gcd(4, 2) == 2"], image="slm-fleet/code-jail-no-such-image:0")
    assert r.not_run.startswith("not run: image slm-fleet/code-jail-no-such-image:0 is not on this host's Docker engine")


def test_unsafe_mode_is_the_same_harness_without_the_jail() -> None:
    r = run_python(GCD, ["gcd(48, 18) == 6", "gcd(1, 1) == 2"], isolation="subprocess_unsafe")
    assert [t["passed"] for t in r.tests] == [True, False] and r.isolation["mode"] == "subprocess_unsafe"
    with pytest.raises(ValueError, match="isolation must be one of container, subprocess_unsafe"):
        run_python(GCD, ["True"], isolation="netns")


def test_the_container_spec_isolates() -> None:
    spec = container_spec(IMAGE, ["python3"], 256)
    host = spec["HostConfig"]
    assert (host["NetworkMode"], host["ReadonlyRootfs"], host["CapDrop"], host["SecurityOpt"]) == (
        "none", True, ["ALL"], ["no-new-privileges"])
    assert spec["User"] == "65534:65534" and host["Binds"] == [] and host["Mounts"] == [] and host["AutoRemove"]
    assert host["PidsLimit"] == 64 and host["Memory"] == host["MemorySwap"] and host["NanoCpus"] == 10 ** 9
    assert "noexec" in host["Tmpfs"]["/tmp"] and spec["Env"] == ["HOME=/tmp", "TMPDIR=/tmp", "LANG=C.UTF-8"]
