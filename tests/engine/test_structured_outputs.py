"""Structured outputs: response_format and forced tool calls, enforced by grammar.

The tiny model's weights are random, so any JSON it returns is the grammar's doing.
"""

from __future__ import annotations

import json

import httpx
import jsonschema
import pytest
from conftest import chat

pytestmark = pytest.mark.slow  # real tiny model (built once, cached), real processes

FORECAST = {
    "type": "object",
    "properties": {
        "sky": {"enum": ["sunny", "cloudy", "rain"]},
        "windy": {"type": "boolean"},
        "level": {"enum": [1, 2, 3]},
    },
    "required": ["sky", "windy", "level"],
    "additionalProperties": False,
}
CITY_ONLY = {
    "type": "object",
    "properties": {"city": {"enum": ["Paris", "Oslo"]}},
    "required": ["city"],
}  # left open, the random model goes on after "city": {"city": "Paris", " ": 9999...
PICK_CITY = {
    "type": "function",
    "function": {
        "name": "pick_city",
        "description": "Choose a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"enum": ["Paris", "Oslo"]}, "metric": {"type": "boolean"}},
            "required": ["city", "metric"],
        },
    },
}
LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {
            "type": "object",
            "properties": {"id": {"enum": [1, 2]}},
            "required": ["id"],
        },
    },
}


def schema_format(schema: object, strict: bool = True) -> dict[str, object]:
    return {"type": "json_schema", "json_schema": {"name": "f", "schema": schema, "strict": strict}}


def content_of(client: httpx.Client, body: dict[str, object]) -> tuple[str, str]:
    out = client.post("/v1/chat/completions", json=body)
    assert out.status_code == 200, out.text
    (choice,) = out.json()["choices"]
    return choice["message"]["content"], choice["finish_reason"]


def streamed_content(client: httpx.Client, body: dict[str, object]) -> str:
    with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as r:
        assert r.status_code == 200
        lines = [x[6:] for x in r.iter_lines() if x.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    deltas = [json.loads(x)["choices"][0]["delta"] for x in lines[:-1]]
    return "".join(d.get("content") or "" for d in deltas)


@pytest.mark.parametrize("prompt", ["Forecast please", "Weather for Oslo?"])
def test_json_schema_output_validates(client: httpx.Client, prompt: str) -> None:
    body = chat(prompt, max_tokens=64, response_format=schema_format(FORECAST))
    text, reason = content_of(client, body)
    assert reason == "stop"
    jsonschema.validate(json.loads(text), FORECAST)
    assert streamed_content(client, body) == text


def test_strict_closes_objects_the_schema_leaves_open(client: httpx.Client) -> None:
    def reply(strict: bool) -> tuple[str, str]:
        fmt = schema_format(CITY_ONLY, strict=strict)
        return content_of(client, chat("Weather?", max_tokens=48, response_format=fmt))

    text, reason = reply(strict=True)
    assert reason == "stop", text
    jsonschema.validate(json.loads(text), {**CITY_ONLY, "additionalProperties": False})
    loose, _ = reply(strict=False)  # the same schema, not strict: the object stays open
    assert loose.startswith(text[:-1] + ", "), loose


def test_strict_function_parameters_are_closed(client: httpx.Client) -> None:
    def call(strict: bool) -> dict[str, object]:
        tool = {"name": "weather", "parameters": CITY_ONLY, "strict": strict}
        body = chat(
            "Weather?",
            max_tokens=48,
            tools=[{"type": "function", "function": tool}],
            tool_choice="required",
        )
        out = client.post("/v1/chat/completions", json=body)
        assert out.status_code == 200, out.text
        return dict(out.json()["choices"][0])

    strict = call(strict=True)
    assert strict["finish_reason"] == "tool_calls", strict
    for c in strict["message"]["tool_calls"]:
        args = json.loads(c["function"]["arguments"])
        jsonschema.validate(args, {**CITY_ONLY, "additionalProperties": False})
    loose = call(strict=False)  # not strict: extra arguments may follow "city"
    assert '"city": "Paris", ' in str(loose["message"].get("content")), loose


def completes_to_json(text: str) -> bool:
    """Whether `text` is valid JSON, or a cut-off start of it that a few closing characters
    complete (the random model may write one number until max_tokens)."""
    for tail in ("", "}", '"}', "]}", '"]}', "}}", '"}}', '":0}', ":0}", "0}"):
        try:
            json.loads(text + tail)
            return True
        except ValueError:
            pass
    return False


def test_json_object_mode_returns_an_object(client: httpx.Client) -> None:
    guided, reason = content_of(
        client, chat("JSON please", max_tokens=32, response_format={"type": "json_object"})
    )
    assert guided.startswith("{") and completes_to_json(guided), (guided, reason)
    if reason == "stop":
        assert isinstance(json.loads(guided), dict)
    plain, _ = content_of(client, chat("JSON please", max_tokens=32))
    assert not completes_to_json(plain)  # without the grammar the random model writes no JSON


@pytest.mark.parametrize(
    "choice", ["required", {"type": "function", "function": {"name": "pick_city"}}]
)
def test_forced_tool_calls_follow_the_parameters_schema(
    client: httpx.Client, choice: object
) -> None:
    body = chat("Pick a city", max_tokens=64, tools=[LOOKUP, PICK_CITY], tool_choice=choice)
    out = client.post("/v1/chat/completions", json=body)
    assert out.status_code == 200, out.text
    (result,) = out.json()["choices"]
    assert result["finish_reason"] == "tool_calls", result
    calls = result["message"]["tool_calls"]
    tools = {t["function"]["name"]: t["function"]["parameters"] for t in (LOOKUP, PICK_CITY)}
    for call in calls:
        jsonschema.validate(
            json.loads(call["function"]["arguments"]), tools[call["function"]["name"]]
        )
    if choice != "required":
        assert [c["function"]["name"] for c in calls] == ["pick_city"]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("response_format", "why"),
    [
        (schema_format({"type": "nonsense"}), "nonsense"),
        (schema_format({"type": "string", "pattern": "(?<=x)"}), "look-around"),
    ],
)
def test_schemas_that_cannot_be_enforced_are_refused_with_400(
    client: httpx.Client, response_format: dict[str, object], why: str, stream: bool
) -> None:
    body = chat("x", max_tokens=8, response_format=response_format, stream=stream)
    out = client.post("/v1/chat/completions", json=body)
    assert out.status_code == 400, out.text
    error = out.json()["error"]
    assert error["code"] == "invalid_schema"
    assert error["param"] == "response_format.json_schema.schema"
    assert why in error["message"]
    assert client.post("/v1/chat/completions", json=chat("x", max_tokens=2)).status_code == 200


def test_tool_parameters_that_cannot_be_enforced_are_refused_with_400(client: httpx.Client) -> None:
    bad = {"type": "function", "function": {"name": "bad", "parameters": {"type": "nonsense"}}}
    out = client.post(
        "/v1/chat/completions",
        json=chat("x", max_tokens=8, tools=[bad], tool_choice="required"),
    )
    assert out.status_code == 400, out.text
    assert out.json()["error"]["param"] == "tools[].function.parameters"


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_schema"},
        {"type": "xml"},
        {"type": "json_schema", "json_schema": {"name": "f", "schema": "not an object"}},
        {"type": "json_schema", "json_schema": {"name": "bad name!", "schema": {}}},
    ],
)
def test_malformed_response_format_is_refused_with_400(
    client: httpx.Client, response_format: dict[str, object]
) -> None:
    out = client.post("/v1/chat/completions", json=chat("x", response_format=response_format))
    assert out.status_code == 400, out.text
    assert "response_format" in out.json()["error"]["message"]
