"""The scripted OpenAI-compatible server behaves like vLLM where the tests rely on it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from openai_script_server import ScriptedOpenAIServer
from seed_replies import CORRECT
from server_base import split_tokens


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_health_is_empty_and_unguarded_models_are_guarded() -> None:
    with ScriptedOpenAIServer(CORRECT, api_key="k") as srv:
        assert get(srv.url + "/health") == (200, "")
        assert get(srv.url + "/v1/models")[0] == 401
        status, body = get(srv.url + "/v1/models", {"Authorization": "Bearer k"})
        assert status == 200 and json.loads(body)["data"][0]["id"] == srv.model


def test_sse_stream_shape() -> None:
    with ScriptedOpenAIServer(CORRECT) as srv:
        body = json.dumps({"model": srv.model, "stream": True, "stream_options": {"include_usage": True},
                           "messages": [{"role": "user", "content": "All cats are mammals. ..."}]}).encode()
        req = urllib.request.Request(srv.url + "/v1/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            events = [line[6:] for line in resp.read().decode().splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 5
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text.startswith("No, we cannot conclude")


def test_split_tokens_keeps_text() -> None:
    text = "Final answer:\n2.4 hours  (2 h)"
    assert "".join(split_tokens(text)) == text and split_tokens(text) == ["Final", " answer:", "\n2.4", " hours", "  (2", " h)"]
