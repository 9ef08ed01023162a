"""Run a module's main() in-process, the way Ansible would, and return its JSON result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

SUITE_FILE = Path(__file__).resolve().parents[2] / "roles/verify/files/suites/seed_reasoning.yml"


@pytest.fixture
def run_module(capsys) -> Callable[..., Dict[str, Any]]:
    """``run_module(main, args)`` -> result dict with ``_rc`` (0 exit_json, 1 fail_json) and ``_stdout``."""

    def run(main: Callable[[], None], args: Dict[str, Any]) -> Dict[str, Any]:
        capsys.readouterr()
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exc:
                main()
        out = capsys.readouterr().out
        result = json.loads(out)
        result["_rc"] = exc.value.code
        result["_stdout"] = out
        return result

    return run


@pytest.fixture(scope="session")
def seed_checks():
    return yaml.safe_load(SUITE_FILE.read_text())["checks"]
