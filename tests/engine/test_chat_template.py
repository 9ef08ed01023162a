"""The prompt renderer against Phi-4-mini's published chat template (rendered with Jinja)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jinja2
import pytest
from slm_engine.chat_template import DEFAULT_TOOL_SYSTEM, generation_prefix, render
from slm_engine.schema import ChatCompletionRequest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from tiny_phi3 import PHI4_MINI_CHAT_TEMPLATE

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def request(messages: list[dict[str, object]], **fields: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": "m", "messages": messages, **fields})


def reference(messages: list[dict[str, object]], tools: list[dict[str, object]] | None) -> str:
    """What microsoft/Phi-4-mini-instruct's own template renders (tools as the system 'tools')."""
    messages = [dict(m) for m in messages]
    if tools:
        specs = [t["function"] for t in tools]
        messages[0]["tools"] = json.dumps(specs, ensure_ascii=False)
    template = jinja2.Environment().from_string(PHI4_MINI_CHAT_TEMPLATE)
    return template.render(messages=messages, add_generation_prompt=True, eos_token="<|endoftext|>")


CONVERSATIONS = {
    "user only": [{"role": "user", "content": "Hi"}],
    "system and user": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ],
    "multi turn": [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ],
    "unicode": [{"role": "user", "content": "Grüße, 東京 🌧"}],
    "tool result": [{"role": "user", "content": "q"}, {"role": "tool", "content": "42"}],
}


@pytest.mark.parametrize("name", sorted(CONVERSATIONS))
def test_matches_the_published_template_without_tools(name: str) -> None:
    messages = CONVERSATIONS[name]
    assert render(request(messages).messages, None) == reference(messages, None)


def test_matches_the_published_template_with_tools() -> None:
    messages = [
        {"role": "system", "content": "You can look things up."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    req = request(messages, tools=[WEATHER])
    prompt = render(req.messages, req.tools)
    assert prompt == reference(messages, [WEATHER])
    assert '<|tool|>[{"name": "get_weather", "description": "Weather for a city"' in prompt


def test_tools_without_system_message_get_a_default_system_turn() -> None:
    req = request([{"role": "user", "content": "Weather?"}], tools=[WEATHER])
    prompt = render(req.messages, req.tools)
    assert prompt.startswith(f"<|system|>{DEFAULT_TOOL_SYSTEM}<|tool|>[")
    assert prompt.endswith("<|/tool|><|end|><|user|>Weather?<|end|><|assistant|>")


def test_assistant_tool_calls_are_rendered_in_the_model_output_format() -> None:
    req = request(
        [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ]
    )
    assert render(req.messages, None) == (
        "<|user|>Weather?<|end|>"
        '<|assistant|><|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]'
        "<|/tool_call|><|end|><|tool|>sunny<|end|><|assistant|>"
    )


def test_developer_role_and_content_parts() -> None:
    req = request(
        [
            {"role": "developer", "content": "Rules"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
        ]
    )
    assert render(req.messages, None) == "<|system|>Rules<|end|><|user|>ab<|end|><|assistant|>"


def test_generation_prefix_forces_tool_calls() -> None:
    named = request(
        [{"role": "user", "content": "x"}],
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert generation_prefix(named.tool_choice, True) == "<|tool_call|>"  # the grammar names it
    assert generation_prefix("required", True) == "<|tool_call|>"
    assert generation_prefix("auto", True) == ""
    assert generation_prefix("required", False) == ""
