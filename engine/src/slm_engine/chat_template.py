"""Render an OpenAI chat request in Phi-4-mini's prompt format.

The format follows the `chat_template` of microsoft/Phi-4-mini-instruct (tokenizer_config.json;
copied verbatim into tests/fixtures/tiny_phi3.py, and the tests check that both render the same):
every message is ``<|role|>content<|end|>``, tools are a JSON list between ``<|tool|>`` and
``<|/tool|>`` inside the system turn, and the prompt ends with ``<|assistant|>``. Microsoft's
model card describes each tool as ``{"name", "description", "parameters"}``. The published
template has no syntax for an assistant turn that called tools; it is rendered the way the model
emits calls (see tool_calls.py), as Ollama's phi4-mini template does:
``<|assistant|>content<|tool_call|>[{"name": ..., "arguments": {...}}]<|/tool_call|><|end|>``.
"""

from __future__ import annotations

import json
from typing import Any

from .prompt_tokens import Segment
from .schema import Message, NamedToolChoice, ToolDef
from .tool_calls import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

# Used when tools are given without a system message (Microsoft's tool-calling example prompt).
DEFAULT_TOOL_SYSTEM = "You are a helpful assistant with some tools."


def message_text(message: Message) -> str:
    """The text of a message (content parts joined); '' for an assistant turn with only calls."""
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return "".join(part.text for part in message.content)


def tool_specs(tools: list[ToolDef]) -> list[dict[str, Any]]:
    """Tools as Phi-4-mini expects them: [{"name", "description", "parameters"}]."""
    specs = []
    for tool in tools:
        spec: dict[str, Any] = {"name": tool.function.name}
        if tool.function.description is not None:
            spec["description"] = tool.function.description
        if tool.function.parameters is not None:
            spec["parameters"] = tool.function.parameters
        specs.append(spec)
    return specs


def _calls_json(message: Message) -> str:
    calls = []
    for call in message.tool_calls or []:
        try:
            arguments: Any = json.loads(call.function.arguments)
        except ValueError:
            arguments = call.function.arguments
        calls.append({"name": call.function.name, "arguments": arguments})
    return json.dumps(calls, ensure_ascii=False)


def generation_prefix(tool_choice: str | NamedToolChoice | None, has_tools: bool) -> str:
    """Text the assistant turn starts with: ``<|tool_call|>`` for tool_choice required or a
    named function (the grammar of structured.tool_call_guidance then forces the call)."""
    if not has_tools or tool_choice in (None, "auto", "none"):
        return ""
    return TOOL_CALL_OPEN


def render_segments(
    messages: list[Message], tools: list[ToolDef] | None, prefix: str = ""
) -> list[Segment]:
    """The prompt for `messages`, with `tools` in the first system turn, ending in the generation
    prompt ``<|assistant|>`` followed by `prefix`: the template's markup as trusted segments,
    everything taken from the request (contents, tools, call arguments, names) as untrusted."""
    out: list[Segment] = []

    def mark(text: str) -> None:
        out.append(Segment(text, True))

    def user(text: str) -> None:
        if text:
            out.append(Segment(text, False))

    def tool_block(tools_json: str) -> None:
        mark("<|tool|>")
        user(tools_json)
        mark("<|/tool|>")

    tools_json = json.dumps(tool_specs(tools), ensure_ascii=False) if tools else None
    if tools_json is not None and not any(m.role in ("system", "developer") for m in messages):
        mark("<|system|>")
        user(DEFAULT_TOOL_SYSTEM)
        tool_block(tools_json)
        mark("<|end|>")
        tools_json = None
    for message in messages:
        text = message_text(message)
        if message.role in ("system", "developer"):
            mark("<|system|>")
            user(text)
            if tools_json is not None:
                tool_block(tools_json)
                tools_json = None
            mark("<|end|>")
        elif message.role == "assistant" and message.tool_calls:
            mark("<|assistant|>")
            user(text)
            mark(TOOL_CALL_OPEN)
            user(_calls_json(message))
            mark(f"{TOOL_CALL_CLOSE}<|end|>")
        else:
            mark(f"<|{message.role}|>")
            user(text)
            mark("<|end|>")
    mark("<|assistant|>")
    if prefix.startswith(TOOL_CALL_OPEN):
        mark(TOOL_CALL_OPEN)
        user(prefix[len(TOOL_CALL_OPEN) :])
    else:
        user(prefix)
    return out


def render(messages: list[Message], tools: list[ToolDef] | None, prefix: str = "") -> str:
    """The prompt of `render_segments` as one string."""
    return "".join(segment.text for segment in render_segments(messages, tools, prefix))
