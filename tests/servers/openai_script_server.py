"""A scripted OpenAI-compatible server for tests (stdlib ``http.server``, threaded).

It answers like vLLM's OpenAI server does, from a script instead of a model:

* ``GET /health`` -> 200 with an empty body (or ``health_body``; 503 while ``loading_s`` has not
  elapsed);
* ``GET /version`` -> ``{"version": ...}`` (when ``version`` is set; 404 otherwise);
* ``GET /v1/models``, ``POST /v1/chat/completions`` (streaming SSE with a usage chunk when
  ``stream_options.include_usage`` is set, or a plain JSON answer; ``tool_calls`` when the script
  entry has them);
* ``--api-key`` semantics: with ``api_key`` set, ``/v1/*`` wants ``Authorization: Bearer <key>``
  (401 otherwise) while ``/health`` and ``/version`` stay open;
* ``start_delay_s``: the port is not bound until then (clients get "connection refused");
* ``fail_plan``: ``{path: [status, ...]}`` answered before the real answers (e.g. 503s with a
  ``Retry-After`` of ``retry_after``);
* ``ignore_stream``: answer one JSON object even when asked to stream (some servers do);
* ``reject_stream_options``: 400 for ``stream_options`` (servers that predate it).

Run standalone: ``python tests/servers/openai_script_server.py --port 8000 --script correct``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any, Dict, List, Optional

from server_base import BackgroundServer, JSONHandler, match_entry, split_tokens
from seed_replies import SCRIPTS


class _Handler(JSONHandler):
    def version_string(self) -> str:
        return self.owner.server_header or super().version_string()

    def _planned_failure(self) -> bool:
        owner: ScriptedOpenAIServer = self.owner
        with owner.plan_lock:
            plan = owner.fail_plan.get(self.path.split("?")[0])
            status = plan.pop(0) if plan else None
        if status is None:
            return False
        headers = {"Retry-After": str(owner.retry_after)} if owner.retry_after is not None else {}
        self.send_json(status, {"error": "planned failure %d" % status}, headers)
        return True

    def _authorized(self) -> bool:
        key = self.owner.api_key
        if key and self.headers.get("Authorization") != "Bearer " + key:
            self.send_json(401, {"error": "Unauthorized"})
            return False
        return True

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        owner: ScriptedOpenAIServer = self.owner
        owner.log_request_(self, b"")
        if self._planned_failure():
            return
        if self.path == "/health":
            if owner.loading():
                self.send_text(503, "")
            else:
                self.send_text(200, owner.health_body, "application/json")
        elif self.path == "/version" and owner.version:
            self.send_json(200, {"version": owner.version})
        elif self.path == "/v1/models":
            if self._authorized():
                self.send_json(200, {"object": "list", "data": [
                    {"id": owner.model, "object": "model", "created": 1700000000, "owned_by": "vllm",
                     "root": owner.root or owner.model, "parent": None, "max_model_len": 4096}]})
        else:
            self.send_json(404, {"detail": "Not Found"})

    def do_POST(self) -> None:  # noqa: N802
        owner: ScriptedOpenAIServer = self.owner
        body = self.read_json()
        if self._planned_failure():
            return
        if self.path != "/v1/chat/completions":
            self.send_json(404, {"detail": "Not Found"})
            return
        if not self._authorized():
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self.send_json(400, {"object": "error", "message": "messages is required", "code": 400})
            return
        if body.get("model") != owner.model:
            self.send_json(404, {"object": "error", "message": "The model `%s` does not exist." % body.get("model"),
                                 "type": "NotFoundError", "code": 404})
            return
        if owner.reject_stream_options and "stream_options" in body:
            self.send_json(400, {"object": "error", "message": "unknown field stream_options", "code": 400})
            return
        entry = match_entry(owner.script, body["messages"])
        if body.get("stream") and not owner.ignore_stream:
            self._stream(body, entry)
        else:
            self._plain(body, entry)

    def _tool_calls(self, entry: Dict[str, Any], body: Dict[str, Any]) -> List[Dict[str, Any]]:
        if not body.get("tools") or not entry.get("tool_calls"):
            return []
        return [{"id": "chatcmpl-tool-%d" % i, "type": "function",
                 "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
                for i, c in enumerate(entry["tool_calls"])]

    def _text(self, entry: Dict[str, Any], body: Dict[str, Any]) -> str:
        if entry.get("tool_calls") and not body.get("tools"):
            return "I would call %s." % entry["tool_calls"][0]["name"]
        return entry.get("reply", "")

    def _plain(self, body: Dict[str, Any], entry: Dict[str, Any]) -> None:
        time.sleep(float(entry.get("delay_s", 0)))
        calls = self._tool_calls(entry, body)
        text = "" if calls else self._text(entry, body)
        tokens = split_tokens(text) if text else ["<tool>"] * 12
        message: Dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            message["tool_calls"] = calls
        self.send_json(200, {
            "id": "chatcmpl-test", "object": "chat.completion", "created": 1700000000, "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": len(tokens), "total_tokens": 20 + len(tokens)}})

    def _stream(self, body: Dict[str, Any], entry: Dict[str, Any]) -> None:
        self.start_stream("text/event-stream")

        def event(choices: List[Dict[str, Any]], usage: Optional[Dict[str, int]] = None) -> None:
            data: Dict[str, Any] = {"id": "chatcmpl-test", "object": "chat.completion.chunk",
                                    "created": 1700000000, "model": body["model"], "choices": choices}
            if usage is not None:
                data["usage"] = usage
            self.write_chunk(("data: %s\n\n" % json.dumps(data)).encode())

        event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        time.sleep(float(entry.get("delay_s", 0)))
        tokens = split_tokens(self._text(entry, body))
        for tok in tokens:
            event([{"index": 0, "delta": {"content": tok}, "finish_reason": None}])
            time.sleep(float(entry.get("chunk_delay_s", 0)))
        max_tokens = body.get("max_tokens")
        finish = "length" if max_tokens and len(tokens) > max_tokens else "stop"
        event([{"index": 0, "delta": {}, "finish_reason": finish}])
        if (body.get("stream_options") or {}).get("include_usage"):
            event([], {"prompt_tokens": 20, "completion_tokens": len(tokens), "total_tokens": 20 + len(tokens)})
        self.write_chunk(b"data: [DONE]\n\n")


class ScriptedOpenAIServer(BackgroundServer):
    """See the module docstring. ``script`` is a list of entries (see ``seed_replies``)."""

    handler = _Handler

    def __init__(self, script: List[Dict[str, Any]], model: str = "microsoft/Phi-4-mini-instruct",
                 api_key: Optional[str] = None, version: Optional[str] = "0.0.0-test",
                 fail_plan: Optional[Dict[str, List[int]]] = None, retry_after: Optional[str] = None,
                 loading_s: float = 0.0, start_delay_s: float = 0.0, root: Optional[str] = None,
                 reject_stream_options: bool = False, server_header: Optional[str] = None,
                 health_body: str = "", ignore_stream: bool = False,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port, start_delay_s)
        self.script = script
        self.model = model
        self.root = root
        self.api_key = api_key
        self.version = version
        self.fail_plan = {k: list(v) for k, v in (fail_plan or {}).items()}
        self.plan_lock = threading.Lock()
        self.retry_after = retry_after
        self.loading_s = loading_s
        self.reject_stream_options = reject_stream_options
        self.server_header = server_header
        self.health_body = health_body
        self.ignore_stream = ignore_stream

    def loading(self) -> bool:
        return time.monotonic() - self.started_at < self.loading_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--script", choices=sorted(SCRIPTS), default="correct")
    parser.add_argument("--model", default="microsoft/Phi-4-mini-instruct")
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()
    ScriptedOpenAIServer(SCRIPTS[args.script], model=args.model, api_key=args.api_key, host=args.host,
                         port=args.port).serve_until_interrupted()


if __name__ == "__main__":
    main()
