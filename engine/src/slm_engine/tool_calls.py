"""Parse Phi-4-mini tool calls out of generated text into OpenAI `tool_calls`.

Two output forms are recognised:

* Phi-4-mini's own: ``<|tool_call|>[{"name": "f", "arguments": {...}}]<|/tool_call|>``, the
  tokens Microsoft's tokenizer reserves for it (the onnxruntime-genai builder records them as
  bot/eot_token_id). The closing marker is often omitted by the model, so it is optional; several
  calls may come as one list, as comma-separated objects, or as several marked blocks.
* ``functools[{"name": "f", "arguments": {...}}, ...]``: what vLLM's `phi4_mini_json` tool
  parser expects (vllm/entrypoints/openai/tool_parsers/phi4mini_tool_parser.py) when the model
  is prompted with vLLM's examples/tool_chat_template_phi4_mini.jinja.

Like vLLM's parser, "parameters" is accepted in place of "arguments". Output that does not parse,
or that names a function the request did not offer, is returned unchanged as content.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from .stop import NeedleScanner

TOOL_CALL_OPEN = "<|tool_call|>"
TOOL_CALL_CLOSE = "<|/tool_call|>"
FUNCTOOLS = "functools["
MARKERS = (TOOL_CALL_OPEN, FUNCTOOLS)


@dataclass(frozen=True)
class ToolCall:
    """One parsed call; `arguments` is a JSON text, as in the OpenAI API."""

    id: str
    name: str
    arguments: str

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI `tool_calls[]` element."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


def new_call_id() -> str:
    """An OpenAI-style tool call id."""
    return "call_" + secrets.token_hex(12)


def _json_values(payload: str) -> list[Any] | None:
    """Decode a JSON list, one object, or comma-separated objects; None if it is not JSON."""
    decoder = json.JSONDecoder()
    values, i, n = [], 0, len(payload)
    while True:
        while i < n and payload[i] in " \t\r\n,":
            i += 1
        if i >= n:
            break
        try:
            value, i = decoder.raw_decode(payload, i)
        except ValueError:
            return None
        values.extend(value if isinstance(value, list) else [value])
    return values or None


def _to_call(item: Any, names: set[str]) -> ToolCall | None:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return None
    if item["name"] not in names:
        return None
    arguments = item.get("arguments", item.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            json.loads(arguments)
        except ValueError:
            return None
        text = arguments
    elif isinstance(arguments, dict):
        text = json.dumps(arguments, ensure_ascii=False)
    else:
        return None
    return ToolCall(new_call_id(), item["name"], text)


def _split_marked(text: str) -> tuple[str, str, list[str]] | None:
    """(text before, text after, payloads) for the <|tool_call|> form."""
    start = text.find(TOOL_CALL_OPEN)
    if start == -1:
        return None
    after, payloads = [], []
    for block in text[start + len(TOOL_CALL_OPEN) :].split(TOOL_CALL_OPEN):
        payload, _, rest = block.partition(TOOL_CALL_CLOSE)
        payloads.append(payload)
        after.append(rest)
    return text[:start], "".join(after), payloads


def _split_functools(text: str) -> tuple[str, str, list[str]] | None:
    """(text before, '', [payload]) for the functools[...] form (it has no closing marker)."""
    start = text.find(FUNCTOOLS)
    if start == -1:
        return None
    return text[:start], "", ["[" + text[start + len(FUNCTOOLS) :]]


def _parse_parts(text: str, tool_names: set[str]) -> tuple[str, str, list[ToolCall]] | None:
    """(text before the calls, text after them, calls), or None if there is no valid call."""
    split = _split_marked(text) or _split_functools(text)
    if split is None:
        return None
    before, after, payloads = split
    calls: list[ToolCall] = []
    for payload in payloads:
        values = _json_values(payload)
        if values is None:
            return None
        for value in values:
            call = _to_call(value, tool_names)
            if call is None:
                return None
            calls.append(call)
    return (before, after, calls) if calls else None


def parse(text: str, tool_names: set[str]) -> tuple[str | None, list[ToolCall]]:
    """(content, calls) from model output; content is None when only calls were produced."""
    parts = _parse_parts(text, tool_names)
    if parts is None:
        return (text or None), []
    before, after, calls = parts
    return ((before + after).strip() or None), calls


class ToolCallStream:
    """Streams content until a tool-call marker appears, then holds the rest for `finish`."""

    def __init__(self, tool_names: set[str]) -> None:
        self.tool_names = tool_names
        self._scanner = NeedleScanner(MARKERS)

    def feed(self, piece: str) -> str:
        """Content that can be streamed now ('' once a call has started)."""
        return self._scanner.feed(piece)

    def finish(self) -> tuple[str, list[ToolCall]]:
        """(remaining content to stream, calls). Held text that is not a valid call is released
        as content, so nothing the model wrote is lost."""
        if self._scanner.found is None:
            return self._scanner.flush(), []
        held = self._scanner.found + self._scanner.after
        parts = _parse_parts(held, self.tool_names)
        if parts is None:
            return held, []
        _, after, calls = parts
        return after.strip(), calls
