"""API clients against the scripted OpenAI-compatible server and the Ollama API emulator
(``emu`` below is always the emulator: no Ollama binary exists here)."""

from __future__ import annotations

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_client import (
    OllamaClient,
    OpenAIClient,
    make_client,
    normalize_tool_call,
    ollama_model_name,
    throughput,
)
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_http import HttpTransport
from ollama_api_emulator import OllamaAPIEmulator
from openai_script_server import ScriptedOpenAIServer
from seed_replies import CORRECT

TRAIN = [{"role": "user", "content": "A train travels 240 km in 3 hours. ..."}]
CIRCLE_TOOLS = [{"type": "function", "function": {"name": "calculate_circle_area", "parameters": {
    "type": "object", "properties": {"radius": {"type": "number"}}}}}]
SLOW = [{"match": "", "reply": "one two three four five six seven eight nine ten", "delay_s": 0.3,
         "chunk_delay_s": 0.02}]


def openai(url: str, **kw) -> OpenAIClient:
    return OpenAIClient(HttpTransport(url, **kw))


def test_streaming_measures_ttft_and_tokens() -> None:
    with ScriptedOpenAIServer(SLOW) as srv:
        res = openai(srv.url).chat(srv.model, TRAIN, max_tokens=64)
    assert res.ok and res.content == "one two three four five six seven eight nine ten"
    assert res.ttft_s is not None and 0.3 <= res.ttft_s < res.latency_s
    assert res.completion_tokens == 10 and res.tokens_source == "usage"
    # (10 - 1) tokens over the time after the first one
    assert res.tokens_per_s == pytest.approx(9 / (res.latency_s - res.ttft_s), rel=0.01)
    body = [r for r in srv.requests if r["method"] == "POST"][0]["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_streaming_without_usage_counts_chunks() -> None:
    with ScriptedOpenAIServer(SLOW, reject_stream_options=True) as srv:
        res = openai(srv.url).chat(srv.model, TRAIN)
    assert res.ok and res.completion_tokens == 10 and res.tokens_source == "counted_chunks"
    posts = [r["body"] for r in srv.requests if r["method"] == "POST"]
    assert "stream_options" in posts[0] and "stream_options" not in posts[1]


def test_server_that_ignores_stream_true() -> None:
    with ScriptedOpenAIServer(CORRECT, ignore_stream=True) as srv:
        res = openai(srv.url).chat(srv.model, TRAIN)
    assert res.ok and "Final answer: 2.4 hours" in res.content and res.ttft_s is None
    assert res.tokens_source == "usage" and res.completion_tokens > 10


def test_plain_chat_and_tool_calls() -> None:
    with ScriptedOpenAIServer(CORRECT) as srv:
        res = openai(srv.url).chat(srv.model, [{"role": "user", "content": "Calculate the area of a circle with radius 5 units"}],
                                   tools=CIRCLE_TOOLS, stream=False)
    assert res.ok and res.ttft_s is None and res.finish_reason == "tool_calls"
    assert res.tool_calls == [{"name": "calculate_circle_area", "arguments": {"radius": 5},
                               "raw_arguments": '{"radius": 5}'}]
    body = [r for r in srv.requests if r["method"] == "POST"][0]["body"]
    assert body["tool_choice"] == "auto" and body["stream"] is False


def test_unknown_model_is_a_readable_error() -> None:
    with ScriptedOpenAIServer(CORRECT) as srv:
        res = openai(srv.url).chat("no-such-model", TRAIN)
    assert not res.ok and res.status == 404 and "does not exist" in res.error


def test_models_and_version() -> None:
    with ScriptedOpenAIServer(CORRECT, version="0.8.5") as srv:
        client = openai(srv.url)
        res, ids = client.models()
        assert res.ok and ids == ["microsoft/Phi-4-mini-instruct"]
        assert client.version() == "0.8.5"
    with ScriptedOpenAIServer(CORRECT, version=None) as srv:  # Server: BaseHTTP/0.6 Python/3.x
        assert openai(srv.url).version() is None
    with ScriptedOpenAIServer(CORRECT, version=None, server_header="slm-engine/0.1.0") as srv:
        assert openai(srv.url).version() == "slm-engine/0.1.0"
    with ScriptedOpenAIServer(CORRECT, version=None, server_header="nginx/1.25.3") as srv:
        assert openai(srv.url).version() is None


def test_chat_retries_503_then_answers() -> None:
    with ScriptedOpenAIServer(CORRECT, fail_plan={"/v1/chat/completions": [503]}, retry_after="0") as srv:
        res = openai(srv.url).chat(srv.model, TRAIN)
    assert res.ok and "2.4 hours" in res.content


def test_ollama_streaming_uses_eval_counters() -> None:
    with OllamaAPIEmulator(SLOW) as emu:
        client = OllamaClient(HttpTransport(emu.url))
        res = client.chat("phi4-mini", TRAIN)
        assert client.version() == "0.6.8"
        tags_res, names = client.models()
    assert res.ok and res.content == SLOW[0]["reply"]
    assert res.ttft_s is not None and res.ttft_s >= 0.3
    assert res.completion_tokens == 10 and res.tokens_source == "ollama_eval"
    assert res.tokens_per_s == pytest.approx(20.0)  # the emulator's 50 ms per token
    assert tags_res.ok and names == ["phi4-mini:latest"]
    body = [r for r in emu.requests if r["path"] == "/api/chat"][0]["body"]
    assert body["options"] == {"num_predict": 512, "temperature": 0.0}


def test_ollama_tool_calls_arrive_as_objects() -> None:
    with OllamaAPIEmulator(CORRECT) as emu:
        client = OllamaClient(HttpTransport(emu.url))
        msgs = [{"role": "user", "content": "Calculate the area of a circle with radius 5 units"}]
        streamed = client.chat("phi4-mini", msgs, tools=CIRCLE_TOOLS)
        plain = client.chat("phi4-mini", msgs, tools=CIRCLE_TOOLS, stream=False)
    for res in (streamed, plain):
        assert res.ok and res.tool_calls[0]["name"] == "calculate_circle_area"
        assert res.tool_calls[0]["arguments"] == {"radius": 5}


def test_ollama_missing_model() -> None:
    with OllamaAPIEmulator(CORRECT) as emu:
        res = OllamaClient(HttpTransport(emu.url)).chat("llama3", TRAIN)
    assert not res.ok and res.status == 404 and "not found" in res.error


def test_helpers() -> None:
    assert ollama_model_name("phi4-mini") == "phi4-mini:latest"
    assert ollama_model_name("phi4-mini:q4") == "phi4-mini:q4"
    assert ollama_model_name("reg.local:5000/ns/phi4-mini") == "reg.local:5000/ns/phi4-mini:latest"
    assert throughput(None, 1.0, None) is None
    assert throughput(10, 2.0, None) == 5.0
    assert normalize_tool_call({"function": {"name": "f", "arguments": "not json"}})["arguments"] is None
    assert normalize_tool_call({"function": {"name": "f", "parameters": {"r": 1}}})["arguments"] == {"r": 1}
    with pytest.raises(ValueError):
        make_client("grpc", "http://x")
