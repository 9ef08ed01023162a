"""Shared helpers for the unit tests: running modules in-process, fixture files, fake host roots."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Dict

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_client import make_client
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_health_core import check_health
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_probe_core import run_suite
from ollama_api_emulator import OllamaAPIEmulator
from openai_script_server import ScriptedOpenAIServer
from seed_replies import CORRECT, GIBBERISH

FIXTURES = Path(__file__).parent / "fixtures" / "hardware"
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
    """The checks of the default reasoning suite."""
    return yaml.safe_load(SUITE_FILE.read_text())["checks"]


def fixture_text(name: str) -> str:
    """Text of ``tests/unit/fixtures/hardware/<name>`` (NUL bytes kept)."""
    return (FIXTURES / name).read_bytes().decode("utf-8")


@pytest.fixture
def fixture() -> Callable[[str], str]:
    """The ``fixture_text`` helper as a pytest fixture."""
    return fixture_text


@pytest.fixture
def make_root(tmp_path: Path) -> Callable[..., Path]:
    """Build a fake host root: ``make_root({"/proc/cpuinfo": "cpuinfo/rpi4_aarch64.txt", ...})``.

    Values naming a fixture file are copied from it; other strings are written as they are;
    ``None`` creates an empty marker file (``/.dockerenv``).
    """

    def build(files: dict[str, str | None]) -> Path:
        root = tmp_path / "root"
        root.mkdir(exist_ok=True)
        for host_path, source in files.items():
            target = root / host_path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            if source is None:
                target.write_bytes(b"")
            elif (FIXTURES / source).is_file():
                target.write_bytes((FIXTURES / source).read_bytes())
            else:
                target.write_text(source)
        os.makedirs(root / "var" / "lib", exist_ok=True)
        return root

    return build


# --- A realistic site for the report tests: per-host results produced by the real probe/health
# code against test servers.
HOSTILE = '<script>alert("x")</script>&<b>gw</b>'


def _probe(api, url, model, checks, engine):
    client = make_client(api, url)
    health = check_health(client, api, model, start_period=0)
    probe = run_suite(client, model, checks, [api, engine], concurrency=4, pass_threshold=0.8)
    probe.update(model=model, gate="report")
    return health, probe


@pytest.fixture(scope="session")
def hostile() -> str:
    """A host name that would break an unescaped page."""
    return HOSTILE


@pytest.fixture(scope="session")
def site_hosts():
    """Four hosts: a correct OpenAI-style (vLLM) server, an Ollama host played by the Ollama API
    emulator, a gibberish gateway, an unreachable one. All engines here are test servers."""
    checks = [c for c in yaml.safe_load(SUITE_FILE.read_text())["checks"] if c["kind"] != "code"]
    hosts = []
    with ScriptedOpenAIServer(CORRECT) as good, OllamaAPIEmulator(CORRECT) as olla, \
            ScriptedOpenAIServer(GIBBERISH, model="phi4-mini-int4") as gib:
        h, p = _probe("openai", good.url, good.model, checks, "vllm")
        hosts.append({"host": "gpu-01", "group": "gpu_servers", "profile": "production_gpu", "engine": "vllm",
                      "health": h, "probe": p})
        h, p = _probe("ollama", olla.url, "phi4-mini", checks, "ollama")
        hosts.append({"host": "edge-01", "group": "edge_servers", "profile": "production_cpu", "engine": "ollama",
                      "health": h, "probe": p})
        h, p = _probe("openai", gib.url, gib.model, checks, "onnx")
        hosts.append({"host": HOSTILE, "group": "gateways", "profile": "edge_optimized", "engine": "onnx",
                      "health": h, "probe": p})
    hosts.append({"host": "gw-02", "group": "gateways", "profile": "edge_optimized", "engine": "onnx",
                  "health": {"status": "loading_timeout", "reason": "still not answering after the 600s start period",
                             "failed": True}})
    return hosts
