"""OpenAI chat-completions request models (validated strictly) and response/error bodies.

Requests are validated with pydantic in strict mode straight from the JSON bytes: wrong types are
errors, not coerced ("5" is not an integer). Unknown fields are ignored, as clients such as Open
WebUI send parameters this server does not implement. Responses are plain dicts: they are built
once per streamed token, and pydantic would cost more than the JSON encoding itself.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FUNCTION_NAME = r"^[A-Za-z0-9_.-]{1,64}$"
MAX_STOP = 8
TASK_PROMPTS = {  # the seed tutorial's /reasoning task prompts, kept for compatibility
    "reasoning": "Think step by step and show your reasoning clearly:",
    "math": "Solve this mathematical problem step by step:",
    "coding": "Write clean, well-commented code for this task:",
}


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class FunctionDef(_Strict):
    """A callable function offered to the model."""

    name: Annotated[str, Field(pattern=FUNCTION_NAME)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDef(_Strict):
    """`tools[]` element."""

    type: Literal["function"]
    function: FunctionDef


class FunctionName(_Strict):
    """`{"name": ...}` inside a named tool choice."""

    name: Annotated[str, Field(pattern=FUNCTION_NAME)]


class NamedToolChoice(_Strict):
    """`tool_choice: {"type": "function", "function": {"name": ...}}`."""

    type: Literal["function"]
    function: FunctionName


class CalledFunction(_Strict):
    """A function call in an assistant message; `arguments` is JSON text."""

    name: str
    arguments: str


class AssistantToolCall(_Strict):
    """`tool_calls[]` of an assistant message sent back by the client."""

    id: str
    type: Literal["function"]
    function: CalledFunction


class TextPart(_Strict):
    """Content part; only text is supported by a text-only model."""

    type: Literal["text"]
    text: str


class Message(_Strict):
    """A chat message. `developer` is OpenAI's newer name for `system`."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[AssistantToolCall] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _content_present(self) -> Message:
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError(f"a {self.role} message needs content")
        return self


class StreamOptions(_Strict):
    """`stream_options`."""

    include_usage: bool = False


class JSONSchemaFormat(_Strict):
    """`response_format.json_schema`: the schema the reply must follow."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    description: str | None = None
    schema_: Annotated[dict[str, Any] | None, Field(alias="schema")] = None
    strict: bool | None = None


class ResponseFormat(_Strict):
    """`response_format`: text (default), any JSON object, or JSON following a schema."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_present(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("type 'json_schema' needs json_schema: {name, schema, strict}")
        return self


class ChatCompletionRequest(_Strict):
    """POST /v1/chat/completions body (n=1 only)."""

    model: str
    messages: Annotated[list[Message], Field(min_length=1)]
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = None
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    stop: str | Annotated[list[str], Field(max_length=MAX_STOP)] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: Annotated[list[ToolDef], Field(max_length=128)] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    response_format: ResponseFormat | None = None
    n: Annotated[int, Field(ge=1, le=1)] = 1

    @model_validator(mode="after")
    def _consistent(self) -> ChatCompletionRequest:
        if any(s == "" for s in self.stop_list()):
            raise ValueError("stop sequences must not be empty")
        if isinstance(self.tool_choice, NamedToolChoice):
            names = {t.function.name for t in self.tools or []}
            if self.tool_choice.function.name not in names:
                raise ValueError(
                    f"tool_choice names {self.tool_choice.function.name!r}, which is not in tools"
                )
        elif self.tool_choice == "required" and not self.tools:
            raise ValueError("tool_choice 'required' needs tools")
        return self

    def stop_list(self) -> list[str]:
        """`stop` as a list."""
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def requested_max_tokens(self) -> int | None:
        """max_completion_tokens (newer name) or max_tokens."""
        return self.max_completion_tokens or self.max_tokens

    def uses_tools(self) -> bool:
        """Whether tools are rendered into the prompt and calls parsed from the output."""
        return bool(self.tools) and self.tool_choice != "none"


class ReasoningRequest(_Strict):
    """POST /reasoning body, the seed tutorial's shape."""

    prompt: Annotated[str, Field(min_length=1)]
    task_type: Literal["reasoning", "math", "coding"] = "reasoning"
    max_length: Annotated[int, Field(ge=1)] = 200
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 0.3


def error_body(
    message: str,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """OpenAI error object."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def validation_error_body(exc: ValidationError) -> dict[str, Any]:
    """400 body for the first pydantic error, naming the offending field."""
    err = exc.errors(include_url=False)[0]
    if err["type"] == "json_invalid":
        return error_body(f"The request body is not valid JSON: {err['msg']}", code="invalid_json")
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
    msg = err["msg"].removeprefix("Value error, ")
    return error_body(f"{loc}: {msg}" if loc else msg, param=loc or None)


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """OpenAI `usage`."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion(
    completion_id: str,
    model: str,
    message: dict[str, Any],
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
) -> dict[str, Any]:
    """Non-streaming chat.completion object."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}
        ],
        "usage": usage(prompt_tokens, completion_tokens),
    }


def chunk(
    completion_id: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish_reason: str | None = None,
) -> dict[str, Any]:
    """chat.completion.chunk object for streaming."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }
