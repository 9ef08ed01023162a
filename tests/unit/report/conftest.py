"""A realistic site: per-host results produced by the real probe/health code against test servers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_client import make_client
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_health_core import check_health
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_probe_core import run_suite
from ollama_api_emulator import OllamaAPIEmulator
from openai_script_server import ScriptedOpenAIServer
from seed_replies import CORRECT, GIBBERISH

SUITE = Path(__file__).resolve().parents[3] / "roles/verify/files/suites/seed_reasoning.yml"
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
    checks = [c for c in yaml.safe_load(SUITE.read_text())["checks"] if c["kind"] != "code"]
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
