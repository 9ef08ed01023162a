"""Ollama API EMULATOR for tests and the lab — not Ollama.

No Ollama binary or image can be obtained in this project's environment, so tests (and the lab,
through the image ``slm-fleet/ollama-api-emulator``) use this emulator of Ollama's HTTP API. It
answers chat from a script (see ``seed_replies``), never runs a model, and is deterministic (fixed
timestamps, digests derived from names, ``eval_duration`` = 50 ms per token).

Checked against ollama/ollama (commit fb30760, August 2026): docs/api.md, server/routes.go
(routes, ``PullHandler``, ``ShowHandler``/``GetModelInfo``, ``DeleteHandler``, ``HeadBlobHandler``,
``CreateBlobHandler``, ``streamResponse``/``waitForStream``), server/create.go (``CreateHandler``, ``createModel``,
``setParameters``, ``ggufLayers``), server/images.go (``PullModel``), server/download.go
(partial downloads resumed, progress every 60 ms), api/types.go (``CreateRequest``,
``ProgressResponse``, ``Options``), manifest/paths.go (digest format), openai/openai.go and
middleware/openai.go (the ``/v1`` layer, see ``ollama_emulator_openai``).

Emulated:

* ``GET``/``HEAD /`` -> ``Ollama is running``; ``/api/version``; ``/api/tags``; ``/api/ps``;
  **no** ``/health`` (404, as in Ollama);
* ``POST /api/show`` -> ``parameters`` (``%-30s %#v`` lines), ``system``, ``template``,
  ``modelfile``, ``details`` (``parent_model``), ``model_info``, ``capabilities``;
* ``POST /api/chat`` / ``/api/generate`` (NDJSON or ``"stream": false``), tool calls;
* ``POST /api/pull``: ``pulling manifest``, then per layer ``pulling <12 hex>`` lines with
  ``digest``/``total``/``completed``, ``verifying sha256 digest``, ``writing manifest``,
  ``success``. Downloads are **resumable**: bytes already fetched stay as partial state, and the
  next pull starts from them (Ollama keeps ``<blob>-partial-N`` files). A pull stops, partial state
  kept, when the client goes away or when a test asks: ``interrupt_pull_after_steps`` (or
  ``POST /_emulator/interrupt-pull {"after_steps": n}``) drops the connection mid-download;
* ``HEAD``/``POST /api/blobs/sha256:<hex>`` (200 / 404; 201 created, 400 digest mismatch);
* ``POST /api/create`` with ``from`` (base pulled first if missing, parameters merged over the
  base's) or ``files`` (GGUF blobs: ``parsing GGUF``; a blob that is not GGUF is refused), plus
  ``system``/``parameters``/``template``; the pre-0.5.5 ``modelfile``-only body gets
  ``neither 'from' or 'files' was specified``;
* ``DELETE /api/delete``; ``/v1/models``, ``/v1/models/<m>``, ``/v1/chat/completions``.

Emulator-only (not in Ollama): ``GET /_emulator/calls`` (every API call: method, path, model),
``DELETE /_emulator/calls`` (forget them), ``POST /_emulator/interrupt-pull``.

Run standalone: ``python tests/servers/ollama_api_emulator.py --port 11434 --registry phi4-mini:3.8b``.
"""

from __future__ import annotations

__version__ = "0.1.0"

import argparse
import json
import time
from typing import Any, Dict, Iterator, List, Optional

import ollama_emulator_openai as v1
from ollama_emulator_manage import Gone, ModelRoutes
from ollama_emulator_store import CREATED_AT, Store, canonical
from seed_replies import SCRIPTS
from server_base import BackgroundServer, JSONHandler, match_entry, split_tokens


class _Handler(ModelRoutes, JSONHandler):
    # ------------------------------------------------------------------ plumbing
    def _line(self, data: Dict[str, Any]) -> None:
        try:
            self.write_chunk((json.dumps(data) + "\n").encode())
        except OSError as exc:
            raise Gone() from exc

    def _read_chunks(self, block: int = 1 << 20) -> Iterator[bytes]:
        """The request body in blocks (Content-Length or chunked), never all in memory."""
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if not size:
                    self.rfile.readline()
                    return
                while size:
                    data = self.rfile.read(min(size, block))
                    if not data:
                        return
                    size -= len(data)
                    yield data
                self.rfile.readline()
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            data = self.rfile.read(min(left, block))
            if not data:
                return
            left -= len(data)
            yield data

    def _read_raw(self) -> bytes:
        return b"".join(self._read_chunks())

    def do_HEAD(self) -> None:  # noqa: N802
        self.owner.log_request_(self, b"")
        if self.path.startswith("/api/blobs/"):
            self._head_blob(self.path[len("/api/blobs/"):])
        elif self.path in ("/", "/api/version", "/api/tags"):
            self.send_text(200, "Ollama is running" if self.path == "/" else "")
        else:
            self.send_text(404, "404 page not found")

    def do_GET(self) -> None:  # noqa: N802
        owner: OllamaAPIEmulator = self.owner
        if self.path != "/_emulator/calls":
            owner.log_request_(self, b"")
        store = owner.store
        if self.path == "/":
            self.send_text(200, "Ollama is running")
        elif self.path == "/api/version":
            self.send_json(200, {"version": owner.version})
        elif self.path == "/api/tags":
            with store.lock:
                self.send_json(200, {"models": [store.tag_entry(n) for n in sorted(store.models)]})
        elif self.path == "/api/ps":
            self.send_json(200, {"models": []})
        elif self.path == "/v1/models":
            v1.list_models(self)
        elif self.path.startswith("/v1/models/"):
            v1.get_model(self, self.path[len("/v1/models/"):])
        elif self.path == "/_emulator/calls":
            self.send_json(200, {"calls": owner.calls()})
        else:
            self.send_text(404, "404 page not found")

    def do_DELETE(self) -> None:  # noqa: N802
        if self.path == "/_emulator/calls":
            self._read_raw()
            self.owner.clear_calls()
            self.send_json(200, {"calls": []})
            return
        body = self.read_json()
        if self.path != "/api/delete":
            self.send_text(404, "404 page not found")
            return
        given = str((body if isinstance(body, dict) else {}).get("model") or
                    (body if isinstance(body, dict) else {}).get("name") or "")
        if not given:
            self.send_json(400, {"error": "missing request body" if body is None else 'name "" is invalid'})
            return
        store = self.owner.store
        with store.lock:
            found = store.models.pop(canonical(given), None)
        if found is None:
            self.send_json(404, {"error": "model '%s' not found" % given})
        else:
            self.send_text(200, "")

    def do_POST(self) -> None:  # noqa: N802
        if self.path.startswith("/api/blobs/"):
            self.owner.log_request_(self, b"")
            self._post_blob(self.path[len("/api/blobs/"):])
            return
        body = self.read_json()
        route = {"/api/show": self._show, "/api/chat": self._chat, "/api/generate": self._generate,
                 "/api/pull": self._pull, "/api/create": self._create,
                 "/v1/chat/completions": lambda b: v1.chat_completions(self, b),
                 "/_emulator/interrupt-pull": self._interrupt}.get(self.path)
        if route is None:
            self.send_text(404, "404 page not found")
        elif body is None:
            self.send_json(400, {"error": "missing request body"})
        elif not isinstance(body, dict):
            self.send_json(400, {"error": "invalid character in JSON body"})
        else:
            try:
                route(body)
            except Gone:
                self.close_connection = True

    # ------------------------------------------------------------------ helpers
    def _model(self, body: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        name = str(body.get("model") or body.get("name") or "")
        if not name:
            self.send_json(400, {"error": "model is required"})
            return None
        info = self.owner.store.models.get(canonical(name))
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
        if error and not lines:
            self.send_json(error_status, {"error": error})
            return
        self.start_stream("application/x-ndjson")
        for line in lines:
            self._line(line)
        if error:
            self._line({"error": error})

    def _interrupt(self, body: Dict[str, Any]) -> None:
        self.owner.interrupt_pull_after_steps = int(body.get("after_steps") or 0) or None
        self.send_json(200, {"interrupt_pull_after_steps": self.owner.interrupt_pull_after_steps})

    # ------------------------------------------------------------------ routes
    def _show(self, body: Dict[str, Any]) -> None:
        if self._model(body) is not None:
            name = canonical(str(body.get("model") or body.get("name")))
            with self.owner.store.lock:
                self.send_json(200, self.owner.store.show(name))

    def _reply(self, body: Dict[str, Any], messages: List[Dict[str, Any]], chat: bool) -> None:
        owner: OllamaAPIEmulator = self.owner
        if self._model(body) is None:
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
            self._line(chunk(piece, False))
            time.sleep(float(entry.get("chunk_delay_s", 0)))
        self._line(chunk("", True))

    def _chat(self, body: Dict[str, Any]) -> None:
        self._reply(body, body.get("messages") or [], chat=True)

    def _generate(self, body: Dict[str, Any]) -> None:
        self._reply(body, [{"role": "user", "content": body.get("prompt", "")}], chat=False)


class OllamaAPIEmulator(BackgroundServer):
    """The Ollama API emulator (see the module docstring).

    ``models`` are present from the start (as if pulled); ``registry`` lists what ``/api/pull``
    can fetch. ``pull_steps`` progress lines per layer, ``pull_step_s`` seconds apart.
    """

    handler = _Handler

    def __init__(self, script: List[Dict[str, Any]], models: Optional[List[str]] = None,
                 registry: Optional[List[str]] = None, version: str = "0.6.8", start_delay_s: float = 0.0,
                 host: str = "127.0.0.1", port: int = 0, pull_steps: int = 10, pull_step_s: float = 0.0) -> None:
        super().__init__(host, port, start_delay_s)
        self.script = script
        self.version = version
        reg = list(registry) if registry is not None else ["phi4-mini:latest"]
        self.store = Store(reg, [canonical(m) for m in (models if models is not None else ["phi4-mini:latest"])])
        self.pull_steps = max(1, int(pull_steps))
        self.pull_step_s = float(pull_step_s)
        self.interrupt_pull_after_steps: Optional[int] = None

    @property
    def models(self) -> Dict[str, Dict[str, Any]]:
        """The local models (name -> emulator record)."""
        return self.store.models

    def calls(self) -> List[Dict[str, Any]]:
        """Every API call so far: ``{"method", "path", "model"}`` (emulator-only endpoints left out)."""
        out = []
        with self._lock:
            for req in self.requests:
                body = req["body"] if isinstance(req["body"], dict) else {}
                out.append({"method": req["method"], "path": req["path"],
                            "model": body.get("model") or body.get("name")})
        return [c for c in out if not c["path"].startswith("/_emulator/")]

    def clear_calls(self) -> None:
        with self._lock:
            self.requests.clear()

    def writes(self) -> List[Dict[str, Any]]:
        """The calls that change state: pull, create, delete, blob upload, copy, push."""
        return [c for c in self.calls() if (c["method"], c["path"]) in WRITE_CALLS or
                (c["method"] == "POST" and c["path"].startswith("/api/blobs/"))]


WRITE_CALLS = {("POST", "/api/pull"), ("POST", "/api/create"), ("DELETE", "/api/delete"),
               ("POST", "/api/copy"), ("POST", "/api/push")}


def main() -> None:
    parser = argparse.ArgumentParser(description="Ollama API emulator for tests and the lab (not Ollama).")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--script", choices=sorted(SCRIPTS), default="correct")
    parser.add_argument("--model", action="append", help="local model at start (repeatable; default none)")
    parser.add_argument("--registry", action="append", help="pullable model (repeatable; default phi4-mini:latest)")
    parser.add_argument("--version", default="0.6.8")
    parser.add_argument("--pull-steps", type=int, default=20)
    parser.add_argument("--pull-step-s", type=float, default=0.05)
    args = parser.parse_args()
    OllamaAPIEmulator(SCRIPTS[args.script], models=args.model or [], registry=args.registry, version=args.version,
                      host=args.host, port=args.port, pull_steps=args.pull_steps,
                      pull_step_s=args.pull_step_s).serve_until_interrupted()


if __name__ == "__main__":
    main()
