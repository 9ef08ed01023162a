"""Tool-call parsing on crafted Phi-4-mini outputs (the random tiny model never makes calls)."""

from __future__ import annotations

import json

import pytest
from slm_engine.tool_calls import ToolCallStream, parse

NAMES = {"get_weather", "get_time"}


def calls_of(text: str) -> list[tuple[str, dict[str, object]]]:
    _, calls = parse(text, NAMES)
    return [(c.name, json.loads(c.arguments)) for c in calls]


@pytest.mark.parametrize(
    "text",
    [
        '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]<|/tool_call|>',
        '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]',  # no closing
        '<|tool_call|>{"name": "get_weather", "arguments": {"city": "Paris"}}<|/tool_call|>',
        '<|tool_call|>[{"name": "get_weather", "parameters": {"city": "Paris"}}]',
        '<|tool_call|>[{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}]',
        'functools[{"name": "get_weather", "arguments": {"city": "Paris"}}]',  # vLLM form
        '  \n<|tool_call|> [ {"name":"get_weather","arguments":{"city":"Paris"}} ] ',
    ],
)
def test_single_call_forms(text: str) -> None:
    content, calls = parse(text, NAMES)
    assert content is None
    assert calls_of(text) == [("get_weather", {"city": "Paris"})]
    assert calls[0].id.startswith("call_") and len(calls[0].id) == 29


def test_parallel_calls_in_all_shapes() -> None:
    one_list = (
        '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Oslo"}}, '
        '{"name": "get_time", "arguments": {}}]<|/tool_call|>'
    )
    no_brackets = (
        '<|tool_call|>{"name": "get_weather", "arguments": {"city": "Oslo"}}, '
        '{"name": "get_time", "arguments": {}}'
    )
    two_blocks = (
        '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Oslo"}}]'
        '<|/tool_call|><|tool_call|>[{"name": "get_time", "arguments": {}}]'
    )
    expected = [("get_weather", {"city": "Oslo"}), ("get_time", {})]
    for text in (one_list, no_brackets, two_blocks):
        assert calls_of(text) == expected, text


def test_content_around_calls_is_kept() -> None:
    content, calls = parse(
        'Let me check. <|tool_call|>[{"name": "get_time", "arguments": {}}]<|/tool_call|> Done.',
        NAMES,
    )
    assert [c.name for c in calls] == ["get_time"]
    assert content == "Let me check.  Done."


@pytest.mark.parametrize(
    "text",
    [
        "plain answer",
        "<|tool_call|>[{broken json",
        '<|tool_call|>[{"name": "rm_rf", "arguments": {}}]',  # not an offered tool
        '<|tool_call|>[{"arguments": {}}]',  # no name
        '<|tool_call|>[{"name": "get_time", "arguments": [1, 2]}]',  # arguments not an object
        '<|tool_call|>[{"name": "get_time", "arguments": "not json"}]',
        "<|tool_call|>[]",
        "functools[oops]",
    ],
)
def test_unparseable_output_is_returned_as_content(text: str) -> None:
    content, calls = parse(text, NAMES)
    assert calls == []
    assert content == text


def test_unicode_arguments_survive() -> None:
    _, calls = parse(
        '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Zürich"}}]', NAMES
    )
    assert json.loads(calls[0].arguments) == {"city": "Zürich"}
    assert "Zürich" in calls[0].arguments


def stream(pieces: list[str]) -> tuple[str, str, list[str]]:
    s = ToolCallStream(NAMES)
    streamed = "".join(s.feed(p) for p in pieces)
    rest, calls = s.finish()
    return streamed, rest, [c.name for c in calls]


def test_stream_holds_back_a_split_marker_and_returns_calls() -> None:
    pieces = ["Checking", " <|tool", '_call|>[{"name": "get_time",', ' "arguments": {}}]']
    assert stream(pieces) == ("Checking ", "", ["get_time"])


def test_stream_without_calls_streams_everything() -> None:
    assert stream(["just ", "text <|", "x"]) == ("just text <|x", "", [])
    assert stream(["just ", "text <|tool"]) == ("just text ", "<|tool", [])


def test_stream_releases_an_invalid_call_as_content() -> None:
    streamed, rest, calls = stream(["a ", "functools[", "nope"])
    assert (streamed, rest, calls) == ("a ", "functools[nope", [])
