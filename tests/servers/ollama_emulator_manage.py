"""Model management routes of the Ollama API EMULATOR (tests and lab only — not Ollama).

``/api/pull`` (resumable, see ``server/download.go``: a download cut short keeps its bytes and the
next pull starts from them), ``HEAD``/``POST /api/blobs/<digest>`` (``HeadBlobHandler``,
``CreateBlobHandler`` in ``server/routes.go``) and ``/api/create`` with ``from`` or ``files``
(``CreateHandler``, ``createModel``, ``ggufLayers`` in ``server/create.go``), all of ollama/ollama.
Mixed into the emulator's request handler (``ollama_api_emulator``).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import socket
import time
from typing import Any, Dict, List

from ollama_emulator_store import DIGEST_RE, GGUF_MAGIC, canonical, sha

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,79})?$")


class Gone(Exception):
    """The client went away (or a test cut the connection) in the middle of a stream."""


class ModelRoutes:
    """Pull, blobs and create; expects the JSONHandler helpers and ``_line``/``_progress``/``_read_chunks``."""

    # ------------------------------------------------------------------ blobs
    def _head_blob(self, digest: str) -> None:
        """HEAD: the status and headers of Ollama's answer, no body."""
        if not DIGEST_RE.match(digest):
            status = 400
        else:
            status = 200 if digest.replace("-", ":", 1) in self.owner.store.blobs else 404
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _post_blob(self, digest: str) -> None:
        """Hash the body as it arrives (a GGUF is gigabytes); keep only its size and first bytes."""
        hasher, size, head = hashlib.sha256(), 0, b""
        for block in self._read_chunks():
            hasher.update(block)
            head = head or block[:4]
            size += len(block)
        store = self.owner.store
        if not DIGEST_RE.match(digest):
            self.send_json(400, {"error": "invalid digest format"})
            return
        key = digest.replace("-", ":", 1)
        if key in store.blobs:
            self.send_text(200, "")
            return
        got = "sha256:" + hasher.hexdigest()
        if got != key:
            self.send_json(400, {"error": 'digest mismatch, expected "%s", got "%s"' % (digest, got)})
            return
        with store.lock:
            store.blobs[key] = {"size": size, "head": head}
        self.send_text(201, "")

    # ------------------------------------------------------------------ pull and create
    def _pull(self, body: Dict[str, Any]) -> None:
        given = str(body.get("model") or body.get("name") or "")
        if not NAME_RE.match(given):
            self.send_json(400, {"error": "invalid model name"})
            return
        name = canonical(given)
        store = self.owner.store
        if name not in store.registry:
            self._progress(body, [{"status": "pulling manifest"}], "pull model manifest: file does not exist")
            return
        stream = body.get("stream") is not False
        if stream:
            self.start_stream("application/x-ndjson")
            self._line({"status": "pulling manifest"})
        if not self._download(name, stream):
            return
        with store.lock:
            store.add_pulled(name)
        if stream:
            for status in ("verifying sha256 digest", "writing manifest", "success"):
                self._line({"status": status})
        else:
            self.send_json(200, {"status": "success"})

    def _download(self, name: str, stream: bool) -> bool:
        """Fetch every layer of ``name`` from where its partial state stopped (server/download.go).

        Returns False when the connection was cut (by a test, or the client went away)."""
        owner = self.owner
        store = owner.store
        steps = 0
        for layer in store.registry[name]:
            status = {"status": "pulling %s" % layer.digest[7:19], "digest": layer.digest, "total": layer.size}
            if layer.digest in store.blobs:
                if stream:
                    self._line(dict(status, completed=layer.size))
                continue
            done = store.partial.get(layer.digest, 0)
            increment = max(1, -(-layer.size // owner.pull_steps))  # pull_steps steps per layer
            while True:
                if stream:
                    self._line(dict(status, completed=done) if done else status)  # Go omitempty: no 0
                if done >= layer.size:
                    break
                steps += 1
                if owner.interrupt_pull_after_steps and steps > owner.interrupt_pull_after_steps:
                    owner.interrupt_pull_after_steps = None
                    self._cut()
                    return False
                time.sleep(owner.pull_step_s)
                done = min(layer.size, done + increment)
                with store.lock:
                    store.partial[layer.digest] = done
            with store.lock:
                store.blobs[layer.digest] = {"size": layer.size, "head": b""}
                store.partial.pop(layer.digest, None)
        return True

    def _cut(self) -> None:
        """Drop the connection the way a network failure or an Ollama restart would."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _create(self, body: Dict[str, Any]) -> None:
        store = self.owner.store
        name = str(body.get("model") or body.get("name") or "")
        if not name or not NAME_RE.match(name):
            self.send_json(400, {"error": "invalid model name"})
            return
        files = body.get("files")
        if files:
            self._create_from_files(canonical(name), body, files)
            return
        base = body.get("from")
        if not base:
            # Ollama >= 0.5.5: 'modelfile' is not a field any more; the request has neither source.
            self.send_json(400, {"error": "neither 'from' or 'files' was specified"})
            return
        template = body.get("template") or ""
        if template.count("{{") != template.count("}}"):
            self._progress(body, [], "template error: unclosed action", 400)
            return
        base_c = canonical(str(base))
        lines: List[Dict[str, Any]] = []
        if base_c not in store.models:
            if base_c not in store.registry:
                self._progress(body, [{"status": "pulling manifest"}], "pull model manifest: file does not exist")
                return
            with store.lock:
                store.add_pulled(base_c)
            lines.append({"status": "pulling manifest"})
        lines.append({"status": "using existing layer %s" % store.models[base_c]["model_digest"]})
        for part in ("template", "system", "parameters"):
            if body.get(part):
                lines.append({"status": "creating new layer sha256:%s" % sha(name + json.dumps(body[part]))})
        lines += [{"status": "writing manifest"}, {"status": "success"}]
        with store.lock:
            store.create_from_model(canonical(name), base_c, body)
        self._progress(body, lines)

    def _create_from_files(self, name: str, body: Dict[str, Any], files: Any) -> None:
        store = self.owner.store
        if not isinstance(files, dict):
            self.send_json(400, {"error": "json: cannot unmarshal into Go struct field CreateRequest.files"})
            return
        for path, digest in files.items():
            if path.startswith("/") or posixpath.normpath(path) != path or path.startswith(".."):
                self.send_json(400, {"error": "file path must be relative"})
                return
            if not digest:
                self.send_json(400, {"error": "invalid digest format"})
                return
        if any(p.endswith(".safetensors") for p in files):
            self.send_json(400, {"error": "the Ollama API emulator does not emulate safetensors imports"})
            return
        filename, digest = sorted(files.items())[0]
        lines: List[Dict[str, Any]] = [{"status": "parsing GGUF"}]
        blob = store.blobs.get(str(digest))
        if not DIGEST_RE.match(str(digest)):
            self._progress(body, lines, "invalid digest format")
        elif blob is None:
            self._progress(body, lines, "open /root/.ollama/models/blobs/%s: no such file or directory"
                           % str(digest).replace(":", "-"))
        elif blob["head"] != GGUF_MAGIC:
            self._progress(body, lines, "supplied file was not in GGUF format", 400)
        else:
            lines += [{"status": "using existing layer %s" % digest}, {"status": "writing manifest"},
                      {"status": "success"}]
            with store.lock:
                store.create_from_gguf(name, filename, str(digest), body)
            self._progress(body, lines)
