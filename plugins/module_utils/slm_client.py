# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Engine API clients: OpenAI-compatible (vLLM, the project's ONNX engine) and Ollama native.

Stdlib only (see :mod:`slm_http` for transport, retries, TLS and the API key).

Measurements, identical in meaning for both APIs:

* ``latency_s`` — request sent to last byte of the answer;
* ``ttft_s`` — request sent to the first chunk that carries generated text (streaming only);
* ``completion_tokens`` — from the engine's ``usage`` (OpenAI) or ``eval_count`` (Ollama); when a
  streaming OpenAI-style server sends no usage, the number of content chunks is used instead and
  ``tokens_source`` says ``counted_chunks`` (vLLM sends one token per chunk, so this is close);
* ``tokens_per_s`` — decode throughput: Ollama's ``eval_count / eval_duration`` when present;
  otherwise, when streaming, ``(tokens - 1) / (latency - ttft)`` (the tokens after the first,
  over the time after the first); without streaming, ``tokens / latency`` (prefill included).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_http import (
    HttpResult,
    HttpTransport,
)

# Server header products that say nothing about the engine behind them.
GENERIC_SERVERS = ("uvicorn", "hypercorn", "gunicorn", "nginx", "basehttp", "python", "werkzeug", "envoy",
                   "caddy", "apache", "traefik", "openresty", "istio-envoy", "cloudflare", "microsoft-iis")

OPENAI = "openai"
OLLAMA = "ollama"
APIS = (OPENAI, OLLAMA)


@dataclass
class ChatResult:
    """One chat completion, normalised across APIs."""

    ok: bool = False
    status: Optional[int] = None
    content: str = ""
    tool_calls: List[Dict[str, Any]] = field(default_factory=list)
    finish_reason: Optional[str] = None
    model: Optional[str] = None
    latency_s: Optional[float] = None
    ttft_s: Optional[float] = None
    prompt_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None
    tokens_source: Optional[str] = None
    tokens_per_s: Optional[float] = None
    error: Optional[str] = None
    error_kind: Optional[str] = None

    def as_dict(self) -> Dict[str, Any]:
        """Plain dict (for module results)."""
        return asdict(self)


def throughput(tokens: Optional[int], latency: Optional[float], ttft: Optional[float]) -> Optional[float]:
    """Decode tokens/s as documented in the module docstring."""
    if not tokens or not latency or latency <= 0:
        return None
    if ttft is not None and tokens > 1 and latency > ttft:
        return round((tokens - 1) / (latency - ttft), 3)
    return round(tokens / latency, 3)


def normalize_tool_call(call: Dict[str, Any]) -> Dict[str, Any]:
    """``{"name", "arguments" (dict or None), "raw_arguments" (str)}`` from either API's shape."""
    fn = call.get("function") if isinstance(call, dict) else None
    fn = fn if isinstance(fn, dict) else {}
    args = fn.get("arguments", fn.get("parameters"))
    raw = args if isinstance(args, str) else json.dumps(args)
    parsed: Optional[Dict[str, Any]] = None
    if isinstance(args, dict):
        parsed = args
    elif isinstance(args, str):
        try:
            value = json.loads(args) if args.strip() else {}
            parsed = value if isinstance(value, dict) else None
        except ValueError:
            parsed = None
    return {"name": fn.get("name"), "arguments": parsed, "raw_arguments": raw}


def _fail(result: ChatResult, http: HttpResult) -> ChatResult:
    result.ok = False
    result.status = http.status
    result.error_kind = http.error_kind
    result.error = http.describe()
    result.latency_s = http.latency_s
    return result


class OpenAIClient:
    """OpenAI-compatible API: ``/health``, ``/version``, ``/v1/models``, ``/v1/chat/completions``."""

    api = OPENAI

    def __init__(self, transport: HttpTransport) -> None:
        self.t = transport

    def health(self, retry: bool = False) -> HttpResult:
        """``GET /health`` (vLLM: 200 with an empty body once up; not behind the API key)."""
        return self.t.request("GET", "/health", retry=retry)

    def version(self) -> Optional[str]:
        """Engine version: ``GET /version`` (vLLM has it), an ``x-*-version`` header, or a
        versioned ``Server`` header that names the engine (not a generic HTTP stack), else None."""
        res = self.t.request("GET", "/version", retry=False)
        data = res.json() if res.ok else None
        if isinstance(data, dict) and data.get("version"):
            return str(data["version"])
        for name in sorted(res.headers):
            if name.startswith("x-") and name.endswith("version") and res.headers[name]:
                return res.headers[name]
        server = res.headers.get("server", "")
        product = server.split("/", 1)[0].strip().lower()
        if "/" in server and any(ch.isdigit() for ch in server) and product not in GENERIC_SERVERS:
            return server
        return None

    def models(self) -> Tuple[HttpResult, List[str]]:
        """``GET /v1/models`` and the served model ids (what requests must name as ``model``)."""
        res = self.t.request("GET", "/v1/models")
        ids: List[str] = []
        data = res.json() if res.ok else None
        for entry in (data or {}).get("data", []) if isinstance(data, dict) else []:
            if isinstance(entry, dict) and entry.get("id"):
                ids.append(str(entry["id"]))
        return res, ids

    def chat(self, model: str, messages: List[Dict[str, Any]], max_tokens: int = 512,
             temperature: float = 0.0, tools: Optional[List[Dict[str, Any]]] = None,
             tool_choice: Any = None, stream: bool = True, timeout: Optional[float] = None) -> ChatResult:
        """``POST /v1/chat/completions``; streaming (SSE) unless ``stream`` is false."""
        body: Dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens,
                                "temperature": temperature, "stream": bool(stream)}
        if tools:
            body["tools"] = tools
            body["tool_choice"] = tool_choice or "auto"
        if not stream:
            return self._chat_plain(body, timeout)
        body["stream_options"] = {"include_usage": True}
        result = self._chat_stream(body, timeout)
        if result.status == 400 and "stream_options" in (result.error or ""):
            # A server that rejects stream_options: ask again without it (tokens get counted).
            del body["stream_options"]
            result = self._chat_stream(body, timeout)
        return result

    def _chat_plain(self, body: Dict[str, Any], timeout: Optional[float]) -> ChatResult:
        http = self.t.request("POST", "/v1/chat/completions", body, timeout=timeout)
        data = http.json() if http.ok else None
        if not isinstance(data, dict):
            if http.ok:
                http.error_kind, http.error = "protocol", "answer is not a JSON object"
            return _fail(ChatResult(), http)
        return self._parse_plain(data, http)

    def _from_plain_json(self, text: str, http: HttpResult) -> Optional[ChatResult]:
        try:
            data = json.loads(text)
        except ValueError:
            return None
        return self._parse_plain(data, http) if isinstance(data, dict) and "choices" in data else None

    def _parse_plain(self, data: Dict[str, Any], http: HttpResult) -> ChatResult:
        result = ChatResult()
        choice = (data.get("choices") or [{}])[0] or {}
        msg = choice.get("message") or {}
        result.ok, result.status, result.model = True, http.status, data.get("model")
        result.content = msg.get("content") or ""
        result.tool_calls = [normalize_tool_call(c) for c in msg.get("tool_calls") or []]
        result.finish_reason = choice.get("finish_reason")
        usage = data.get("usage") or {}
        result.prompt_tokens = usage.get("prompt_tokens")
        result.completion_tokens = usage.get("completion_tokens")
        result.tokens_source = "usage" if result.completion_tokens is not None else None
        result.latency_s = http.latency_s
        result.tokens_per_s = throughput(result.completion_tokens, result.latency_s, None)
        return result

    def _chat_stream(self, body: Dict[str, Any], timeout: Optional[float]) -> ChatResult:
        result = ChatResult()
        http, lines = self.t.stream_lines("POST", "/v1/chat/completions", body, timeout=timeout)
        if not http.ok:
            return _fail(result, http)
        parts: List[str] = []
        calls: Dict[int, Dict[str, Any]] = {}
        chunks = 0
        events = 0
        other: List[str] = []
        for at, line in lines:
            if not line.startswith("data:"):
                if line.strip() and len(other) < 10000:
                    other.append(line)
                continue
            events += 1
            payload = line[5:].strip()
            if payload == "[DONE]":
                break
            try:
                event = json.loads(payload)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            result.model = event.get("model") or result.model
            usage = event.get("usage")
            if isinstance(usage, dict):
                result.prompt_tokens = usage.get("prompt_tokens", result.prompt_tokens)
                result.completion_tokens = usage.get("completion_tokens", result.completion_tokens)
            for choice in event.get("choices") or []:
                delta = choice.get("delta") or {}
                text = delta.get("content")
                if text:
                    parts.append(text)
                    chunks += 1
                    if result.ttft_s is None:
                        result.ttft_s = round(at, 4)
                for tc in delta.get("tool_calls") or []:
                    slot = calls.setdefault(int(tc.get("index", 0)), {"name": "", "arguments": ""})
                    fn = tc.get("function") or {}
                    slot["name"] += fn.get("name") or ""
                    slot["arguments"] += fn.get("arguments") or ""
                    if result.ttft_s is None:
                        result.ttft_s = round(at, 4)
                if choice.get("finish_reason"):
                    result.finish_reason = choice["finish_reason"]
        for _unused in lines:  # drain (closes the response, sets latency)
            pass
        if not events and other:
            # A server that ignores "stream": true and answers with one JSON object.
            plain = self._from_plain_json("\n".join(other), http)
            if plain is not None:
                return plain
        result.latency_s = http.latency_s
        result.status = http.status
        if http.error_kind:
            result.error_kind, result.error = http.error_kind, http.error
        result.ok = http.error_kind is None
        result.content = "".join(parts)
        result.tool_calls = [normalize_tool_call({"function": calls[i]}) for i in sorted(calls)]
        if result.completion_tokens is not None:
            result.tokens_source = "usage"
        elif chunks:
            result.completion_tokens, result.tokens_source = chunks, "counted_chunks"
        result.tokens_per_s = throughput(result.completion_tokens, result.latency_s, result.ttft_s)
        return result


def ollama_model_name(name: str) -> str:
    """Ollama's canonical short name: ``phi4-mini`` -> ``phi4-mini:latest``."""
    name = name.strip()
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else name + ":latest"


class OllamaClient:
    """Ollama native API: ``/``, ``/api/version``, ``/api/tags``, ``/api/show``, ``/api/chat``."""

    api = OLLAMA

    def __init__(self, transport: HttpTransport) -> None:
        self.t = transport

    def health(self, retry: bool = False) -> HttpResult:
        """``GET /api/version`` — Ollama has no ``/health``; this answers as soon as it serves."""
        return self.t.request("GET", "/api/version", retry=retry)

    def version(self) -> Optional[str]:
        """``version`` from ``/api/version``."""
        data = self.health().json()
        return str(data["version"]) if isinstance(data, dict) and data.get("version") else None

    def models(self) -> Tuple[HttpResult, List[str]]:
        """``GET /api/tags`` and the local model names (``name:tag``)."""
        res = self.t.request("GET", "/api/tags")
        data = res.json() if res.ok else None
        names = []
        for entry in (data or {}).get("models", []) if isinstance(data, dict) else []:
            if isinstance(entry, dict) and (entry.get("name") or entry.get("model")):
                names.append(str(entry.get("name") or entry.get("model")))
        return res, names

    def show(self, model: str) -> HttpResult:
        """``POST /api/show`` for one model (details, parameters, template, capabilities)."""
        return self.t.request("POST", "/api/show", {"model": model})

    def chat(self, model: str, messages: List[Dict[str, Any]], max_tokens: int = 512,
             temperature: float = 0.0, tools: Optional[List[Dict[str, Any]]] = None,
             tool_choice: Any = None, stream: bool = True, timeout: Optional[float] = None) -> ChatResult:
        """``POST /api/chat`` (NDJSON when streaming). ``tool_choice`` does not exist in Ollama."""
        body: Dict[str, Any] = {"model": model, "messages": messages, "stream": bool(stream),
                                "options": {"num_predict": max_tokens, "temperature": temperature}}
        if tools:
            body["tools"] = tools
        result = ChatResult()
        if not stream:
            http = self.t.request("POST", "/api/chat", body, timeout=timeout)
            data = http.json() if http.ok else None
            if not isinstance(data, dict):
                return _fail(result, http)
            self._absorb(result, data, 0.0)
            result.ok, result.status, result.latency_s = True, http.status, http.latency_s
            result.ttft_s = None
        else:
            http, lines = self.t.stream_lines("POST", "/api/chat", body, timeout=timeout)
            if not http.ok:
                return _fail(result, http)
            for at, line in lines:
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except ValueError:
                    continue
                if isinstance(data, dict) and data.get("error"):
                    http.error_kind, http.error = "engine", "engine error mid-stream: %s" % data["error"]
                    break
                if isinstance(data, dict):
                    self._absorb(result, data, at)
            for _unused in lines:
                pass
            result.status, result.latency_s = http.status, http.latency_s
            result.ok = http.error_kind is None
            if http.error_kind:
                result.error_kind, result.error = http.error_kind, http.error
        if result.tokens_per_s is None:
            result.tokens_per_s = throughput(result.completion_tokens, result.latency_s, result.ttft_s)
        return result

    @staticmethod
    def _absorb(result: ChatResult, data: Dict[str, Any], at: float) -> None:
        msg = data.get("message") or {}
        text = msg.get("content") or ""
        if text:
            result.content += text
            if result.ttft_s is None:
                result.ttft_s = round(at, 4)
        for call in msg.get("tool_calls") or []:
            result.tool_calls.append(normalize_tool_call(call))
        result.model = data.get("model") or result.model
        if data.get("done"):
            result.finish_reason = data.get("done_reason") or "stop"
            if data.get("eval_count") is not None:
                result.completion_tokens = int(data["eval_count"])
                result.tokens_source = "ollama_eval"
                dur = data.get("eval_duration")
                if dur:
                    result.tokens_per_s = round(result.completion_tokens / (float(dur) / 1e9), 3)
            if data.get("prompt_eval_count") is not None:
                result.prompt_tokens = int(data["prompt_eval_count"])


#: Argument spec of the options in the ``edgeai.slm_fleet.engine_connection`` doc fragment.
CONNECTION_ARGUMENT_SPEC = dict(
    url=dict(type="str", required=True),
    api=dict(type="str", choices=[OPENAI, OLLAMA], default=OPENAI),
    api_key=dict(type="str", no_log=True),
    api_key_file=dict(type="path"),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    use_proxy=dict(type="bool", default=False),
)


#: Pairs of CONNECTION_ARGUMENT_SPEC options a module must refuse together.
CONNECTION_MUTUALLY_EXCLUSIVE = [("api_key", "api_key_file")]


def api_key_from_params(params: Dict[str, Any]) -> Optional[str]:
    """The API key from ``api_key`` or from the file ``api_key_file`` names (read on the host).

    Raises ValueError with a readable message (never the key) when the file cannot be used.
    """
    path = params.get("api_key_file")
    if not path:
        return params.get("api_key") or None
    try:
        with open(path) as handle:
            key = handle.read().strip()
    except (IOError, OSError) as exc:
        raise ValueError("api_key_file %s cannot be read: %s" % (path, exc.strerror or exc))
    if not key:
        raise ValueError("api_key_file %s is empty" % path)
    return key


def client_from_params(params: Dict[str, Any], timeout: float, **transport_args: Any) -> Any:
    """The client for a module's connection options (see CONNECTION_ARGUMENT_SPEC).

    Raises ValueError when ``api_key_file`` cannot be read.
    """
    return make_client(params["api"], params["url"], api_key=api_key_from_params(params), timeout=timeout,
                       validate_certs=params["validate_certs"], ca_path=params["ca_path"],
                       use_proxy=params["use_proxy"], **transport_args)


def module_client(module: Any, timeout: float, **transport_args: Any) -> Any:
    """:func:`client_from_params` for an AnsibleModule: a key file that cannot be used fails the module."""
    try:
        return client_from_params(module.params, timeout, **transport_args)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
        raise  # not reached: fail_json exits


def make_client(api: str, url: str, **transport_args: Any) -> Any:
    """An :class:`OpenAIClient` or :class:`OllamaClient` for ``url``."""
    if api not in APIS:
        raise ValueError("api must be one of %s, got %r" % (", ".join(APIS), api))
    transport = HttpTransport(url, **transport_args)
    return OpenAIClient(transport) if api == OPENAI else OllamaClient(transport)
