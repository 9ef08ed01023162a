"""Plugins run on targets whose Python may be older than the controller's: smoke-test on 3.8.

Skips when no Python 3.8 interpreter is installed on this machine (then only the controller's
Python has been exercised).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SMOKE = r'''
import sys
sys.path.insert(0, "collections")
from ansible_collections.edgeai.slm_fleet.plugins.module_utils import (
    slm_check_schema, slm_checks, slm_client, slm_extract, slm_health_core, slm_http, slm_jail, slm_probe_core,
    slm_report)
assert slm_extract.extract_final("It is not 2.4 hours, the answer is 3", "h").value == 3
# the jail's harness and the parent's judging, on this interpreter (the harness as a plain process)
r = slm_jail.run_python("def f(x):\n    return x * 2\nn = input()\n", ["f(2) == 4", "f(2) == 5"],
                        isolation="subprocess_unsafe")
assert [t["passed"] for t in r.tests] == [True, False], r
assert r.notes and "EOFError" in r.notes[0], r
for name in ("slm_health", "slm_probe", "slm_site_report"):
    compile(open("plugins/modules/%s.py" % name).read(), name, "exec")
print("ok", sys.version_info[:2])
'''


def python38() -> str:
    """A working 3.8 interpreter: on PATH, or installed by pyenv (whose shim may refuse to run it)."""
    candidates = [shutil.which("python3.8")] + sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.8*/bin/python3.8"))
    for py in candidates:
        if py and subprocess.run([py, "-c", "import sys; assert sys.version_info[:2] == (3, 8)"],
                                 capture_output=True, check=False).returncode == 0:
            return py
    pytest.skip("no working python3.8 on this machine: target-Python compatibility not exercised")


def test_plugins_work_on_python_3_8() -> None:
    py = python38()
    res = subprocess.run([py, "-c", SMOKE], cwd=str(REPO), capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0 and res.stdout.startswith("ok (3, 8)"), res.stderr[-2000:]
