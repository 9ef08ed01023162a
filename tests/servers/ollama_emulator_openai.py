"""The OpenAI-compatible ``/v1`` layer of the Ollama API EMULATOR (tests and lab only — not Ollama).

Follows ollama/ollama: ``openai/openai.go`` (``ChatCompletion``, ``ChatCompletionChunk``,
``ToListCompletion``: ``owned_by`` is the name's namespace, ``library`` for plain names;
``NewError``: ``{"error": {"message", "type", "param", "code"}}`` with ``invalid_request_error`` /
``not_found_error`` / ``api_error``) and ``middleware/openai.go`` (``ChatWriter``: SSE
``data: {...}`` lines, the role only in the first chunk, a separate finish chunk with an empty
delta, a usage chunk with empty ``choices`` when ``stream_options.include_usage`` is set, then
``data: [DONE]``; tool-call arguments as a JSON *string*; ``finish_reason`` ``tool_calls`` when a
tool call was sent). Routes: ``GET /v1/models``, ``GET /v1/models/<model>``,
``POST /v1/chat/completions``.
"""

from __future__ import annotations

import json
import time
from typing import Any, Dict, List, Optional

from ollama_emulator_store import CREATED_UNIX, canonical
from server_base import match_entry, split_tokens


def error(code: int, message: str) -> Dict[str, Any]:
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(code, "api_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def model_entry(name: str) -> Dict[str, Any]:
    owner = name.split("/")[-2] if "/" in name else "library"
    return {"id": name, "object": "model", "created": CREATED_UNIX, "owned_by": owner}


def list_models(handler: Any) -> None:
    store = handler.owner.store
    with store.lock:
        data = [model_entry(n) for n in sorted(store.models)]
    handler.send_json(200, {"object": "list", "data": data})


def get_model(handler: Any, name: str) -> None:
    store = handler.owner.store
    if canonical(name) not in store.models:
        handler.send_json(404, error(404, "model '%s' not found" % name))
    else:
        handler.send_json(200, model_entry(name))


def _tool_calls(calls: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Ollama's ``ToToolCalls``: arguments re-encoded as a JSON string."""
    return [{"id": "call_%d" % i, "index": i, "type": "function",
             "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}} for i, c in enumerate(calls)]


def chat_completions(handler: Any, body: Dict[str, Any]) -> None:
    owner = handler.owner
    name = str(body.get("model") or "")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        handler.send_json(400, error(400, "[] is too short - 'messages'"))
        return
    if canonical(name) not in owner.store.models:
        handler.send_json(404, error(404, "model '%s' not found" % name))
        return
    entry = match_entry(owner.script, messages)
    calls = entry.get("tool_calls") if body.get("tools") else None
    text = "" if calls else entry.get("reply", "")
    pieces = split_tokens(text)
    usage = {"prompt_tokens": 20, "completion_tokens": len(pieces) or 10,
             "total_tokens": 20 + (len(pieces) or 10)}
    reason = "tool_calls" if calls else "stop"
    ident = "chatcmpl-%d" % (len(owner.requests) % 999)
    base = {"id": ident, "created": CREATED_UNIX, "model": name, "system_fingerprint": "fp_ollama"}
    time.sleep(float(entry.get("delay_s", 0)))
    if not body.get("stream"):
        message: Dict[str, Any] = {"role": "assistant", "content": text}
        if calls:
            message["tool_calls"] = _tool_calls(calls)
        handler.send_json(200, dict(base, object="chat.completion", usage=usage, choices=[
            {"index": 0, "message": message, "finish_reason": reason}]))
        return
    handler.start_stream("text/event-stream")

    def send(delta: Dict[str, Any], finish: Optional[str] = None, extra: Optional[Dict[str, Any]] = None) -> None:
        chunk = dict(base, object="chat.completion.chunk",
                     choices=[{"index": 0, "delta": delta, "finish_reason": finish}])
        chunk.update(extra or {})
        handler.write_chunk(("data: %s\n\n" % json.dumps(chunk)).encode())

    if calls:
        send({"role": "assistant", "content": "", "tool_calls": _tool_calls(calls)})
    else:
        for i, piece in enumerate(pieces or [""]):
            send({"role": "assistant", "content": piece} if i == 0 else {"content": piece})
            time.sleep(float(entry.get("chunk_delay_s", 0)))
    send({}, reason)
    options = body.get("stream_options") or {}
    if isinstance(options, dict) and options.get("include_usage"):
        chunk = dict(base, object="chat.completion.chunk", choices=[], usage=usage)
        handler.write_chunk(("data: %s\n\n" % json.dumps(chunk)).encode())
    handler.write_chunk(b"data: [DONE]\n\n")
