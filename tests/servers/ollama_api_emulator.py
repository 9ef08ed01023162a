"""Ollama API EMULATOR for tests — not Ollama.

No Ollama binary can be obtained in this project's environment, so tests that need an Ollama
server use this emulator of its HTTP API instead. It answers from a script (see
``seed_replies``), never runs a model, and is deterministic (fixed timestamps, digests derived
from names, ``eval_duration`` = 50 ms per token, i.e. 20 tokens/s).

Emulated (shapes follow Ollama's API docs and server source, ``server/routes.go`` and
``server/create.go``):

* ``GET /`` and ``HEAD /`` -> ``Ollama is running``; ``GET /api/version``; ``GET /api/tags``;
  ``GET /api/ps``; there is **no** ``/health`` (404, as in Ollama);
* ``POST /api/show`` (``model`` or the older ``name``) -> details, parameters, system, template,
  capabilities; 404 ``model 'x' not found``;
* ``POST /api/chat`` and ``POST /api/generate``, streaming NDJSON (default) or one JSON object
  with ``"stream": false``; tool calls arrive in ``message.tool_calls`` with arguments as an
  object; unknown model -> 404 ``model 'x' not found``;
* ``POST /api/pull``: models listed in ``registry`` download (progress lines, then
  ``success``); others fail with ``pull model manifest: file does not exist`` (an NDJSON error
  line after ``pulling manifest`` when streaming, HTTP 500 with ``"stream": false``);
* ``POST /api/create`` with the 0.5.5+ body ``{"model", "from", "system", "parameters",
  "template", "license", "messages", "stream"}``. A body with only the old ``modelfile`` string
  gets what current Ollama answers: HTTP 400 ``neither 'from' or 'files' was specified`` (the
  unknown ``modelfile`` field is ignored by its JSON binding, then neither ``from`` nor ``files``
  is set). ``from`` must be a local model or one in ``registry`` (pulled first, as Ollama does);
  ``files`` (GGUF blobs) is not emulated and answers 400 saying so;
* ``DELETE /api/delete``.

Not emulated: blobs, push, embeddings, copy, the OpenAI-compatible ``/v1`` layer.

Run standalone: ``python tests/servers/ollama_api_emulator.py --port 11434 --script correct``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import threading
import time
from typing import Any, Dict, List, Optional

from server_base import BackgroundServer, JSONHandler, match_entry, split_tokens
from seed_replies import SCRIPTS

CREATED_AT = "2025-01-01T00:00:00.000000Z"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*(?::[A-Za-z0-9._-]+)?$")


def canonical(name: str) -> str:
    """``phi4-mini`` -> ``phi4-mini:latest``."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else name + ":latest"


def digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


class _Handler(JSONHandler):
    def do_HEAD(self) -> None:  # noqa: N802
        self.owner.log_request_(self, b"")
        if self.path == "/":
            self.send_text(200, "Ollama is running")
        else:
            self.send_text(404, "404 page not found")

    def do_GET(self) -> None:  # noqa: N802
        owner: OllamaAPIEmulator = self.owner
        owner.log_request_(self, b"")
        if self.path == "/":
            self.send_text(200, "Ollama is running")
        elif self.path == "/api/version":
            self.send_json(200, {"version": owner.version})
        elif self.path == "/api/tags":
            self.send_json(200, {"models": [owner.tag_entry(n) for n in sorted(owner.models)]})
        elif self.path == "/api/ps":
            self.send_json(200, {"models": []})
        else:
            self.send_text(404, "404 page not found")

    def do_DELETE(self) -> None:  # noqa: N802
        body = self.read_json()
        name = canonical(str((body or {}).get("model") or (body or {}).get("name") or ""))
        with self.owner.lock:
            found = self.owner.models.pop(name, None)
        if found is None:
            self.send_json(404, {"error": "model '%s' not found" % name.split(":", maxsplit=1)[0]})
        else:
            self.send_text(200, "")

    def do_POST(self) -> None:  # noqa: N802
        body = self.read_json()
        route = {"/api/show": self._show, "/api/chat": self._chat, "/api/generate": self._generate,
                 "/api/pull": self._pull, "/api/create": self._create}.get(self.path)
        if route is None:
            self.send_text(404, "404 page not found")
        elif body is None:
            self.send_json(400, {"error": "missing request body"})
        elif not isinstance(body, dict):
            self.send_json(400, {"error": "invalid character in JSON body"})
        else:
            route(body)

    # ------------------------------------------------------------------ helpers
    def _model(self, body: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        name = str(body.get("model") or body.get("name") or "")
        if not name:
            self.send_json(400, {"error": "model is required"})
            return None
        info = self.owner.models.get(canonical(name))
        if info is None:
            self.send_json(404, {"error": "model '%s' not found" % name})
        return info

    def _progress(self, body: Dict[str, Any], lines: List[Dict[str, Any]], error: Optional[str] = None,
                  error_status: int = 500) -> None:
        """Answer like Ollama's streamResponse / waitForStream."""
        if body.get("stream") is False:
            if error:
                self.send_json(error_status, {"error": error})
            else:
                self.send_json(200, {"status": "success"})
            return
        self.start_stream("application/x-ndjson")
        for line in lines:
            self.write_chunk((json.dumps(line) + "\n").encode())
        if error:
            self.write_chunk((json.dumps({"error": error}) + "\n").encode())

    # ------------------------------------------------------------------ routes
    def _show(self, body: Dict[str, Any]) -> None:
        info = self._model(body)
        if info is None:
            return
        params = "\n".join("%-30s %s" % (k, v) for k, v in sorted((info.get("parameters") or {}).items()))
        self.send_json(200, {
            "modelfile": "FROM %s\n%s" % (info.get("from") or info["name"],
                                          ("SYSTEM \"\"\"%s\"\"\"" % info["system"]) if info.get("system") else ""),
            "parameters": params, "template": "{{ .Prompt }}", "system": info.get("system", ""),
            "details": info["details"], "model_info": {"general.architecture": "phi3"},
            "capabilities": ["completion", "tools"], "modified_at": CREATED_AT})

    def _reply(self, body: Dict[str, Any], messages: List[Dict[str, Any]], chat: bool) -> None:
        owner: OllamaAPIEmulator = self.owner
        info = self._model(body)
        if info is None:
            return
        entry = match_entry(owner.script, messages)
        calls = entry.get("tool_calls") if chat and body.get("tools") else None
        text = "" if calls else entry.get("reply", "")
        tokens = split_tokens(text) or [""]
        name = body.get("model") or body.get("name")

        def chunk(piece: str, done: bool) -> Dict[str, Any]:
            data: Dict[str, Any] = {"model": name, "created_at": CREATED_AT, "done": done}
            if chat:
                msg: Dict[str, Any] = {"role": "assistant", "content": piece}
                if calls and not done:
                    msg["tool_calls"] = [{"function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls]
                data["message"] = msg
            else:
                data["response"] = piece
            if done:
                n = len(tokens) if text else 10
                data.update(done_reason="stop", total_duration=(n * 50 + 120) * 1000000, load_duration=100000000,
                            prompt_eval_count=20, prompt_eval_duration=20000000, eval_count=n,
                            eval_duration=n * 50000000)
            return data

        time.sleep(float(entry.get("delay_s", 0)))
        if body.get("stream") is False:
            final = chunk(text, True)
            if calls and chat:
                final["message"]["tool_calls"] = [{"function": {"name": c["name"], "arguments": c["arguments"]}}
                                                  for c in calls]
            self.send_json(200, final)
            return
        self.start_stream("application/x-ndjson")
        for piece in (tokens if not calls else [""]):
            self.write_chunk((json.dumps(chunk(piece, False)) + "\n").encode())
            time.sleep(float(entry.get("chunk_delay_s", 0)))
        self.write_chunk((json.dumps(chunk("", True)) + "\n").encode())

    def _chat(self, body: Dict[str, Any]) -> None:
        self._reply(body, body.get("messages") or [], chat=True)

    def _generate(self, body: Dict[str, Any]) -> None:
        self._reply(body, [{"role": "user", "content": body.get("prompt", "")}], chat=False)

    def _pull(self, body: Dict[str, Any]) -> None:
        owner: OllamaAPIEmulator = self.owner
        name = canonical(str(body.get("model") or body.get("name") or ""))
        if name not in owner.registry:
            self._progress(body, [{"status": "pulling manifest"}], "pull model manifest: file does not exist")
            return
        d = digest(name)
        lines = [{"status": "pulling manifest"},
                 {"status": "pulling %s" % d[:12], "digest": "sha256:" + d, "total": 2491876774, "completed": 0},
                 {"status": "pulling %s" % d[:12], "digest": "sha256:" + d, "total": 2491876774,
                  "completed": 2491876774},
                 {"status": "verifying sha256 digest"}, {"status": "writing manifest"}, {"status": "success"}]
        owner.add_model(name)
        self._progress(body, lines)

    def _create(self, body: Dict[str, Any]) -> None:
        owner: OllamaAPIEmulator = self.owner
        name = str(body.get("model") or body.get("name") or "")
        if not name or not NAME_RE.match(name):
            self.send_json(400, {"error": "invalid model name"})
            return
        if body.get("files"):
            self.send_json(400, {"error": "the Ollama API emulator does not emulate 'files' (GGUF blobs)"})
            return
        base = body.get("from")
        if not base:
            # Ollama >= 0.5.5: 'modelfile' is not a field any more; the request has neither source.
            self.send_json(400, {"error": "neither 'from' or 'files' was specified"})
            return
        base_c = canonical(str(base))
        lines: List[Dict[str, Any]] = []
        if base_c not in owner.models:
            if base_c not in owner.registry:
                self._progress(body, [{"status": "pulling manifest"}], "pull model manifest: file does not exist")
                return
            owner.add_model(base_c)
            lines.append({"status": "pulling manifest"})
        lines.append({"status": "using existing layer sha256:%s" % digest(base_c)})
        for part in ("system", "parameters", "template", "license", "messages"):
            if body.get(part):
                lines.append({"status": "creating new layer sha256:%s" % digest(name + part)})
        lines += [{"status": "writing manifest"}, {"status": "success"}]
        owner.add_model(canonical(name), base=base_c, system=body.get("system"), parameters=body.get("parameters"))
        self._progress(body, lines)


class OllamaAPIEmulator(BackgroundServer):
    """The Ollama API emulator (see the module docstring)."""

    handler = _Handler

    def __init__(self, script: List[Dict[str, Any]], models: Optional[List[str]] = None,
                 registry: Optional[List[str]] = None, version: str = "0.6.8", start_delay_s: float = 0.0,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port, start_delay_s)
        self.script = script
        self.version = version
        self.lock = threading.Lock()
        self.registry = {canonical(m) for m in (registry if registry is not None else ["phi4-mini:latest"])}
        self.models: Dict[str, Dict[str, Any]] = {}
        for m in (models if models is not None else ["phi4-mini:latest"]):
            self.add_model(canonical(m))

    def add_model(self, name: str, base: Optional[str] = None, system: Optional[str] = None,
                  parameters: Optional[Dict[str, Any]] = None) -> None:
        with self.lock:
            self.models[name] = {"name": name, "from": base, "system": system, "parameters": parameters or {},
                                 "details": {"parent_model": base or "", "format": "gguf", "family": "phi3",
                                             "families": ["phi3"], "parameter_size": "3.8B",
                                             "quantization_level": "Q4_K_M"}}

    def tag_entry(self, name: str) -> Dict[str, Any]:
        info = self.models[name]
        return {"name": name, "model": name, "modified_at": CREATED_AT, "size": 2491876774,
                "digest": digest(name), "details": info["details"]}


def main() -> None:
    parser = argparse.ArgumentParser(description="Ollama API emulator for tests (not Ollama).")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--script", choices=sorted(SCRIPTS), default="correct")
    parser.add_argument("--model", action="append", help="local model (repeatable; default phi4-mini:latest)")
    parser.add_argument("--version", default="0.6.8")
    args = parser.parse_args()
    OllamaAPIEmulator(SCRIPTS[args.script], models=args.model, version=args.version, host=args.host,
                      port=args.port).serve_until_interrupted()


if __name__ == "__main__":
    main()
