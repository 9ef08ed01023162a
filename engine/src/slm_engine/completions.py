"""POST /v1/chat/completions (plain and streamed) and the seed-compatible POST /reasoning."""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from . import schema, structured, tool_calls
from .chat_template import generation_prefix, render_segments
from .http_util import APIError, ClientGone, EventStreamResponse, json_response, sse
from .jobs import Finish, GenerationParams
from .prompt_tokens import Segment
from .schema import ChatCompletionRequest, ReasoningRequest
from .state import Generation, Server

_Model = TypeVar("_Model", bound=BaseModel)
_Prepared = TypeVar("_Prepared")
BODY_TIMEOUT = 60.0  # seconds for a reserved request's body to arrive (slow senders)
CLIENT_CLOSED = 499  # nginx's "client closed request", for the metrics of abandoned requests


def _parse(body: bytes, model: type[_Model]) -> _Model:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        err = schema.validation_error_body(exc)["error"]
        raise APIError(400, err["message"], param=err["param"], code=err["code"]) from None


def _raise_for(finish: Finish, req: ChatCompletionRequest | None = None) -> None:
    if finish.reason == "invalid":
        forced = req is not None and req.uses_tools() and req.tool_choice not in (None, "auto")
        what = "tools[].function.parameters" if forced else "response_format.json_schema.schema"
        raise APIError(
            400,
            f"{what}: the schema cannot be enforced: {finish.error}",
            param=what,
            code="invalid_schema",
        )
    if finish.reason == "error":
        raise APIError(500, finish.error or "generation failed", "server_error")


async def _admitted(
    server: Server, request: Request, prepare: Callable[[bytes], _Prepared]
) -> _Prepared | None:
    """Admission first (`Server.reserve`: nothing read yet), then the body, then `prepare(body)`
    (parse, render, tokenize) in the executor, then a slot; None if the client left first."""
    with server.arriving():
        reader = server.reserve(request)
        try:
            try:
                body = await asyncio.wait_for(reader.read(), BODY_TIMEOUT)
            except TimeoutError:
                raise APIError(
                    408,
                    f"The request body did not arrive within {BODY_TIMEOUT:g} seconds",
                    code="request_timeout",
                    headers={"Connection": "close"},
                ) from None
            prepared = await server.prepare(functools.partial(prepare, body))
        except ClientGone:
            server.admission.unreserve()
            return None
        except BaseException:
            server.admission.unreserve()
            raise
        try:
            await server.admit(request.receive)
        except ClientGone:
            return None
        return prepared


def _prepare_chat(
    server: Server, body: bytes
) -> tuple[ChatCompletionRequest, str, GenerationParams]:
    """(request, generation prefix, params) of a chat completion body (runs in the executor)."""
    req = _parse(body, ChatCompletionRequest)
    server.check_model(req.model)
    uses_tools = req.uses_tools()
    prefix = generation_prefix(req.tool_choice, uses_tools)
    segments = render_segments(req.messages, req.tools if uses_tools else None, prefix)
    param = "max_completion_tokens" if req.max_completion_tokens else "max_tokens"
    prompt_ids, max_new_tokens = server.encode(segments, req.requested_max_tokens(), param)
    guidance = (
        structured.tool_call_guidance(req.tools or [], req.tool_choice) if uses_tools else None
    ) or structured.response_format_guidance(req.response_format)
    params = GenerationParams(
        prompt_ids=prompt_ids,
        max_new_tokens=max_new_tokens,
        temperature=1.0 if req.temperature is None else req.temperature,
        top_p=1.0 if req.top_p is None else req.top_p,
        seed=req.seed,
        stop=tuple(req.stop_list()),
        guidance=guidance,
    )
    return req, prefix, params


async def chat_completions(server: Server, request: Request) -> Response:
    """OpenAI chat completion."""
    arrived = time.monotonic()
    prepared = await _admitted(server, request, functools.partial(_prepare_chat, server))
    if prepared is None:
        return Response(status_code=CLIENT_CLOSED)
    req, prefix, params = prepared
    uses_tools = req.uses_tools()
    generation = Generation(server, params, arrived)
    completion_id = "chatcmpl-" + secrets.token_hex(12)
    tool_names = {t.function.name for t in req.tools or []} if uses_tools else set()
    if params.guidance is not None:  # a schema llguidance refuses is a 400, even when streaming
        refused = await generation.begun()
        if refused is not None:
            _raise_for(refused, req)
            return Response(status_code=CLIENT_CLOSED)  # cancelled before it began
    if req.stream:
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        events = _stream(
            generation, completion_id, server.config.model_id, prefix, tool_names, include_usage
        )
        return EventStreamResponse(events, on_close=generation.abandon)
    text, finish = await generation.run_to_end(request.receive)
    if finish.reason == "cancelled":
        return Response(status_code=CLIENT_CLOSED)
    _raise_for(finish, req)
    content, calls = tool_calls.parse(prefix + text, tool_names) if uses_tools else (text, [])
    message: dict[str, object] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [c.to_openai() for c in calls]
    body = schema.completion(
        completion_id,
        server.config.model_id,
        message,
        "tool_calls" if calls else finish.reason,
        finish.prompt_tokens,
        finish.completion_tokens,
    )
    return json_response(200, body)


async def _stream(
    generation: Generation,
    completion_id: str,
    model: str,
    prefix: str,
    tool_names: set[str],
    include_usage: bool,
) -> AsyncIterator[bytes]:
    """Server-sent events: role, content deltas, tool calls, finish reason, usage, [DONE]."""
    created = int(time.time())

    def event(delta: dict[str, object], reason: str | None = None) -> bytes:
        return sse(schema.chunk(completion_id, created, model, delta, reason))

    # Content events are most of the stream: encode only the text, around a fixed frame.
    head, _, tail = sse(schema.chunk(completion_id, created, model, {"content": ""})).partition(
        b'"content": ""'
    )

    def content(text: str) -> bytes:
        return head + b'"content": ' + json.dumps(text, ensure_ascii=False).encode() + tail

    calls_stream = tool_calls.ToolCallStream(tool_names) if tool_names else None
    yield event({"role": "assistant", "content": ""})
    if calls_stream is not None and prefix:
        calls_stream.feed(prefix)  # a forced call: the prefix opens it, nothing to stream yet
    while True:
        text, finish = await generation.next_text()
        text = calls_stream.feed(text) if calls_stream and text else text
        if text:
            yield content(text)
        if finish is not None:
            break
    if finish.reason in ("error", "cancelled"):
        yield sse(schema.error_body(finish.error or "generation cancelled", "server_error"))
        yield sse("[DONE]")
        return
    reason = finish.reason
    if calls_stream is not None:
        rest, calls = calls_stream.finish()
        if rest:
            yield content(rest)
        if calls:
            reason = "tool_calls"
            deltas = [{"index": i, **c.to_openai()} for i, c in enumerate(calls)]
            yield event({"tool_calls": deltas})
    yield event({}, reason)
    if include_usage:
        usage = schema.usage(finish.prompt_tokens, finish.completion_tokens)
        yield sse(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage,
            }
        )
    yield sse("[DONE]")


def _prepare_reasoning(server: Server, body: bytes) -> tuple[ReasoningRequest, GenerationParams]:
    """(request, params) of a /reasoning body (runs in the executor)."""
    req = _parse(body, ReasoningRequest)
    segments = [
        Segment(f"<|system|>{schema.TASK_PROMPTS[req.task_type]}<|end|><|user|>", True),
        Segment(req.prompt, False),
        Segment("<|end|><|assistant|>", True),
    ]
    prompt_ids, max_new_tokens = server.encode(segments, req.max_length, "max_length")
    params = GenerationParams(
        prompt_ids=prompt_ids, max_new_tokens=max_new_tokens, temperature=req.temperature
    )
    return req, params


async def reasoning(server: Server, request: Request) -> Response:
    """The seed tutorial's /reasoning: prompt + task_type -> generated_text (non-streaming)."""
    arrived = time.monotonic()
    prepared = await _admitted(server, request, functools.partial(_prepare_reasoning, server))
    if prepared is None:
        return Response(status_code=CLIENT_CLOSED)
    req, params = prepared
    generation = Generation(server, params, arrived)
    started = time.monotonic()
    text, finish = await generation.run_to_end(request.receive)
    if finish.reason == "cancelled":
        return Response(status_code=CLIENT_CLOSED)
    _raise_for(finish)
    return json_response(
        200,
        {
            "generated_text": text,
            "task_type": req.task_type,
            "inference_time": round(time.monotonic() - started, 4),
            "model": server.config.model_id,
            "finish_reason": finish.reason,
            "usage": schema.usage(finish.prompt_tokens, finish.completion_tokens),
        },
    )
