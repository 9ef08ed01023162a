"""slm_health main() in-process against the scripted OpenAI server and the Ollama API emulator."""

from __future__ import annotations

from ansible_collections.edgeai.slm_fleet.plugins.modules import slm_health
from ollama_api_emulator import OllamaAPIEmulator
from openai_script_server import ScriptedOpenAIServer
from seed_replies import CORRECT
from server_base import free_port

MODEL = "microsoft/Phi-4-mini-instruct"


def test_openai_healthy(run_module) -> None:
    with ScriptedOpenAIServer(CORRECT, version="0.8.5") as srv:
        r = run_module(slm_health.main, {"url": srv.url, "expected_model": MODEL})
    assert r["_rc"] == 0 and r["status"] == "healthy" and r["changed"] is False
    assert r["served_models"] == [MODEL] and r["model_served"] is True
    assert r["engine_version"] == "0.8.5" and r["attempts"] == 1
    assert r["health_endpoint"].endswith("/health") and r["latency_s"] is not None


def test_api_key_guards_models_only(run_module) -> None:
    with ScriptedOpenAIServer(CORRECT, api_key="k-123456") as srv:
        without = run_module(slm_health.main, {"url": srv.url, "expected_model": MODEL, "fail_on_unhealthy": False})
        with_key = run_module(slm_health.main, {"url": srv.url, "expected_model": MODEL, "api_key": "k-123456"})
        auth_headers = [r["headers"].get("authorization") for r in srv.requests]
    assert without["status"] == "unhealthy" and "set api_key" in without["reason"] and "401" in without["reason"]
    assert with_key["status"] == "healthy"
    assert "Bearer k-123456" in auth_headers
    assert "k-123456" not in with_key["_stdout"] and "k-123456" not in without["_stdout"]


def test_refused_while_loading_then_ready(run_module) -> None:
    srv = ScriptedOpenAIServer(CORRECT, start_delay_s=0.8).start()
    try:
        r = run_module(slm_health.main, {"url": srv.url, "expected_model": MODEL, "start_period": 10, "interval": 0.2})
    finally:
        srv.stop()
    assert r["status"] == "healthy" and r["attempts"] > 1 and r["waited_s"] >= 0.5


def test_503_while_loading_then_ready(run_module) -> None:
    with ScriptedOpenAIServer(CORRECT, loading_s=0.6) as srv:
        r = run_module(slm_health.main, {"url": srv.url, "start_period": 10, "interval": 0.2})
    assert r["status"] == "healthy" and r["attempts"] > 1


def test_loading_timeout_fails_with_a_clear_message(run_module) -> None:
    url = "http://127.0.0.1:%d" % free_port()
    r = run_module(slm_health.main, {"url": url, "start_period": 0.5, "interval": 0.1})
    assert r["_rc"] == 1 and r["failed"] and r["status"] == "loading_timeout"
    assert r["msg"].startswith("openai engine at %s is loading_timeout: not ready after the 0.5s start period" % url)
    assert "connection refused" in r["msg"]
    reported = run_module(slm_health.main, {"url": url, "start_period": 0, "fail_on_unhealthy": False})
    assert reported["_rc"] == 0 and reported["status"] == "loading_timeout" and reported["attempts"] == 1


def test_missing_model_is_unhealthy(run_module) -> None:
    with ScriptedOpenAIServer(CORRECT, model="other-model") as srv:
        r = run_module(slm_health.main, {"url": srv.url, "expected_model": MODEL})
    assert r["_rc"] == 1 and r["status"] == "unhealthy"
    assert r["reason"] == "expected model %r is not served; served: other-model" % MODEL


def test_ollama_healthy_through_api_version(run_module) -> None:
    with OllamaAPIEmulator(CORRECT) as emu:
        r = run_module(slm_health.main, {"url": emu.url, "api": "ollama", "expected_model": "phi4-mini"})
        paths = emu.paths()
    assert r["status"] == "healthy" and r["engine_version"] == "0.6.8"
    assert r["served_models"] == ["phi4-mini:latest"]
    assert "/health" not in paths and paths[0] == "/api/version" and "/api/tags" in paths


def test_ollama_without_the_model(run_module) -> None:
    with OllamaAPIEmulator(CORRECT, models=["llama3.2:1b"]) as emu:
        r = run_module(slm_health.main, {"url": emu.url, "api": "ollama", "expected_model": "phi4-mini",
                                         "fail_on_unhealthy": False})
    assert r["status"] == "unhealthy" and "served: llama3.2:1b" in r["reason"]


def test_bad_url_is_rejected(run_module) -> None:
    r = run_module(slm_health.main, {"url": "localhost:8000"})
    assert r["_rc"] == 1 and "url must start with http:// or https://" in r["msg"]


def test_200_with_a_not_ready_status_is_not_healthy(run_module) -> None:
    with ScriptedOpenAIServer(CORRECT, health_body='{"status": "model_not_loaded"}') as srv:
        r = run_module(slm_health.main, {"url": srv.url, "start_period": 0.4, "interval": 0.1,
                                         "fail_on_unhealthy": False})
    assert r["status"] == "loading_timeout" and r["attempts"] > 1
    assert 'HTTP 200' in r["reason"] and "model_not_loaded" in r["reason"]
    with ScriptedOpenAIServer(CORRECT, health_body='{"status": "ok"}') as srv:
        assert run_module(slm_health.main, {"url": srv.url})["status"] == "healthy"
