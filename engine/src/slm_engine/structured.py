"""Structured outputs: OpenAI's `response_format` and forced tool calls as grammars.

onnxruntime-genai 0.18 constrains a turn with llguidance (`TurnOptions.set_guidance`): at every
step only tokens that keep the output inside the grammar can be chosen, and the turn ends when the
grammar is complete. So even the random-weight test model answers with JSON that validates.
llguidance compiles the schema when the turn begins; a schema it cannot enforce is refused then
and answered with 400 and llguidance's reason (see engine.py).

JSON is generated compactly (`", "` and `": "` separators, no other whitespace): with flexible
whitespace a model can spend its whole budget on blanks inside a valid document.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .schema import NamedToolChoice, ResponseFormat, ToolDef

Guidance = tuple[str, str]  # (kind for set_guidance, grammar text)
COMPACT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


def _closed(schema: Any) -> Any:
    """`schema` with `additionalProperties: false` wherever an object schema leaves it open
    (OpenAI's strict mode requires exactly that of the client; here it is applied)."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _closed(value) for key, value in schema.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def _json_schema(schema: dict[str, Any]) -> Guidance:
    schema = copy.deepcopy(schema)
    schema.setdefault("x-guidance", COMPACT)
    return "json_schema", json.dumps(schema, ensure_ascii=False)


def _arguments(tool: ToolDef) -> Any:
    schema = tool.function.parameters or {"type": "object"}
    return _closed(schema) if tool.function.strict else schema


def response_format_guidance(response_format: ResponseFormat | None) -> Guidance | None:
    """The grammar for `response_format` (None for text)."""
    if response_format is None or response_format.type == "text":
        return None
    if response_format.type == "json_object":
        return _json_schema({"type": "object"})
    spec = response_format.json_schema
    assert spec is not None  # the request model requires it for type json_schema
    schema = spec.schema_ if spec.schema_ is not None else {"type": "object"}
    return _json_schema(_closed(schema) if spec.strict else schema)


def tool_call_guidance(
    tools: list[ToolDef], choice: str | NamedToolChoice | None
) -> Guidance | None:
    """For tool_choice `required` or a named function: the calls that may follow
    ``<|tool_call|>``, a JSON list of ``{"name", "arguments"}`` whose arguments follow the
    function's `parameters` schema (one call of the named function, or one or more of any)."""
    if choice == "required":
        offered = tools
    elif isinstance(choice, NamedToolChoice):
        offered = [t for t in tools if t.function.name == choice.function.name]
    else:
        return None
    calls = [
        {
            "type": "object",
            "properties": {
                "name": {"const": t.function.name},
                "arguments": _arguments(t),
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for t in offered
    ]
    schema: dict[str, Any] = {"type": "array", "minItems": 1, "items": {"anyOf": calls}}
    if isinstance(choice, NamedToolChoice):
        schema["maxItems"] = 1
    return _json_schema(schema)
