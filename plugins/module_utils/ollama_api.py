# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ollama's model-management API (stdlib only), on the shared :class:`slm_http.HttpTransport`.

Calls, as Ollama documents them (``docs/api.md`` of ollama/ollama): ``GET /api/version``,
``GET /api/tags``, ``POST /api/show``, ``POST /api/pull`` (NDJSON progress), ``HEAD``/``POST
/api/blobs/sha256:<hex>``, ``POST /api/create`` (``from``/``files``/``system``/``parameters``/
``template``, Ollama >= 0.5.5), ``DELETE /api/delete``. Every failure becomes an
:class:`OllamaError` whose message says what was asked, what came back and what to do.

:class:`PullTracker` reads a pull's progress lines (``pulling manifest``, ``pulling <digest>``
with ``total``/``completed``, ``verifying sha256 digest``, ``writing manifest``, ``success`` or
``{"error"}``), keeps a summary and appends a line to a progress file now and then, so an operator
can ``tail -f`` a long pull: an Ansible module cannot print while it runs.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, Dict, List, Optional

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_http import HttpResult, HttpTransport


class OllamaError(Exception):
    """A call to Ollama failed; ``str()`` is the operator-facing message."""

    def __init__(self, message: str, result: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.result = result or {}


def canonical(name: str) -> str:
    """A name as Ollama lists it (``DisplayShortest``): default registry and namespace dropped,
    default tag added - ``registry.ollama.ai/library/phi4-mini`` -> ``phi4-mini:latest``."""
    name = name.strip()
    for prefix in ("registry.ollama.ai/", "library/"):
        if name.lower().startswith(prefix):
            name = name[len(prefix):]
    return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"


def _error_text(res: HttpResult) -> str:
    data = res.json()
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return "HTTP %s: %s" % (res.status, data["error"])
    return res.describe()


def gigabytes(n: Optional[int]) -> str:
    return "%.2f GB" % ((n or 0) / 1e9)


class PullTracker:
    """Summary of one pull's progress stream, and the progress file an operator can tail."""

    def __init__(self, model: str, progress_file: Optional[str] = None, interval_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.model = model
        self.progress_file = progress_file
        self.interval_s = interval_s
        self.clock = clock
        self.started = clock()
        self.layers: Dict[str, Dict[str, int]] = {}
        self.statuses: List[str] = []
        self.error: Optional[str] = None
        self.success = False
        self._last_write = -1e9
        self._last_status = ""

    def feed(self, line: str) -> None:
        """One NDJSON line of the ``/api/pull`` answer."""
        try:
            data = json.loads(line)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        if data.get("error"):
            self.error = str(data["error"])
            self._write("error: %s" % self.error, force=True)
            return
        status = str(data.get("status") or "")
        digest = data.get("digest")
        if digest:
            layer = self.layers.get(digest)
            completed = int(data.get("completed") or 0)
            new_layer = layer is None
            if layer is None:
                # The first line of a layer says how much a previous, interrupted pull left.
                layer = self.layers[digest] = {"total": int(data.get("total") or 0), "completed": 0,
                                               "resumed_from": completed}
            layer["total"] = int(data.get("total") or layer["total"])
            layer["completed"] = max(layer["completed"], completed)
        generic = "pulling layers" if digest else status
        if status and (not self.statuses or self.statuses[-1] != generic):
            self.statuses.append(generic)
        if status == "success":
            self.success = True
        self._write(self.describe(status), force=(status != self._last_status and not digest) or
                    bool(digest and new_layer))
        self._last_status = status

    @property
    def total(self) -> int:
        return sum(layer["total"] for layer in self.layers.values())

    @property
    def completed(self) -> int:
        return sum(layer["completed"] for layer in self.layers.values())

    @property
    def resumed_from(self) -> int:
        return sum(layer["resumed_from"] for layer in self.layers.values())

    def percent(self) -> float:
        return round(100.0 * self.completed / self.total, 1) if self.total else (100.0 if self.success else 0.0)

    def describe(self, status: str = "") -> str:
        text = "%s %s/%s (%.1f%%)" % (status or "pulling", gigabytes(self.completed),
                                      gigabytes(self.total), self.percent())
        if self.resumed_from:
            text += ", resumed from %s" % gigabytes(self.resumed_from)
        return text

    def _write(self, text: str, force: bool = False) -> None:
        now = self.clock()
        if not self.progress_file or (not force and now - self._last_write < self.interval_s):
            return
        self._last_write = now
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with open(self.progress_file, "a") as handle:
            handle.write("%s %s %s\n" % (stamp, self.model, text))

    def finish(self, outcome: str) -> Dict[str, Any]:
        """The ``pull_progress`` result: ``outcome`` is success, interrupted, failed or timeout."""
        self._write("outcome=%s, %s" % (outcome, self.describe("fetched")), force=True)
        return {"model": self.model, "outcome": outcome, "bytes_total": self.total, "bytes_completed": self.completed,
                "percent": self.percent(), "resumed_from_bytes": self.resumed_from, "statuses": self.statuses,
                "layers": [dict(layer, digest=d) for d, layer in sorted(self.layers.items())],
                "duration_s": round(self.clock() - self.started, 3), "error": self.error,
                "progress_file": self.progress_file}


class OllamaAPI:
    """The model-management calls the ``ollama_model`` module makes."""

    def __init__(self, transport: HttpTransport) -> None:
        self.t = transport
        self.url = transport.base_url

    def _json(self, method: str, path: str, body: Any = None, what: str = "", timeout: Optional[float] = None,
              retry: bool = True) -> Any:
        res = self.t.request(method, path, body, timeout=timeout, retry=retry)
        if not res.ok:
            raise OllamaError("%s: %s %s%s failed: %s" % (what, method, self.url, path, _error_text(res)))
        return res.json()

    def version(self) -> str:
        data = self._json("GET", "/api/version", what="asking Ollama its version")
        if not isinstance(data, dict) or not data.get("version"):
            raise OllamaError("%s/api/version did not answer with a version: is this Ollama?" % self.url)
        return str(data["version"])

    def tags(self) -> Dict[str, Dict[str, Any]]:
        """Local models by canonical name (``GET /api/tags``)."""
        data = self._json("GET", "/api/tags", what="listing local models")
        out = {}
        for entry in (data or {}).get("models") or [] if isinstance(data, dict) else []:
            name = entry.get("model") or entry.get("name") if isinstance(entry, dict) else None
            if name:
                out[canonical(str(name))] = entry
        return out

    def show(self, name: str) -> Optional[Dict[str, Any]]:
        """``POST /api/show``, or None when the model does not exist (404)."""
        res = self.t.request("POST", "/api/show", {"model": name})
        if res.status == 404:
            return None
        if not res.ok or not isinstance(res.json(), dict):
            raise OllamaError("showing model %s: POST %s/api/show failed: %s" % (name, self.url, _error_text(res)))
        return res.json()

    def pull(self, name: str, timeout: float, tracker: PullTracker) -> Dict[str, Any]:
        """``POST /api/pull`` (streamed). Returns the tracker's summary; raises on anything but success."""
        res, lines = self.t.stream_lines("POST", "/api/pull", {"model": name, "stream": True}, timeout=timeout,
                                         retry=False)
        if not res.ok and res.status is not None:
            tracker.error = _error_text(res)
        for _at, line in lines:
            if line.strip():
                tracker.feed(line)
            if tracker.error:
                break
        for _unused in lines:
            pass
        if tracker.success:
            return tracker.finish("success")
        if tracker.error:
            summary = tracker.finish("failed")
            raise OllamaError("Ollama could not pull %s: %s. Check that the name and tag exist in the registry and "
                              "that the host reaches it (or import the model from a GGUF file with from_gguf)."
                              % (name, tracker.error), summary)
        outcome = "timeout" if res.error_kind == "timeout" else "interrupted"
        summary = tracker.finish(outcome)
        why = ("not finished after pull_timeout=%ss" % int(timeout) if outcome == "timeout" else
               "the connection ended before Ollama said 'success' (%s)" % (res.error or "closed"))
        raise OllamaError("pull of %s stopped at %s: %s. Ollama keeps what it downloaded: run the task again to "
                          "resume from there." % (name, tracker.describe(), why), summary)

    def blob_exists(self, digest: str) -> bool:
        res = self.t.request("HEAD", "/api/blobs/" + digest)
        if res.status in (200, 404):
            return res.status == 200
        raise OllamaError("checking blob %s: HEAD %s/api/blobs failed: %s" % (digest, self.url, _error_text(res)))

    def push_blob(self, path: str, digest: str, timeout: float) -> None:
        """``POST /api/blobs/<digest>`` with the file's bytes, streamed from disk."""
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            res = self.t.request("POST", "/api/blobs/" + digest, handle, headers={"Content-Length": str(size)},
                                 timeout=timeout, retry=False)
        if res.status not in (200, 201):
            raise OllamaError("uploading %s to Ollama as %s failed: %s" % (path, digest, _error_text(res)))

    def create(self, body: Dict[str, Any], timeout: float) -> None:
        """``POST /api/create`` with ``"stream": false`` (one answer: success or the error)."""
        self._json("POST", "/api/create", dict(body, stream=False), what="creating model %s" % body.get("model"),
                   timeout=timeout, retry=False)

    def delete(self, name: str) -> None:
        res = self.t.request("DELETE", "/api/delete", {"model": name}, retry=False)
        if not res.ok and res.status != 404:
            raise OllamaError("deleting %s: DELETE %s/api/delete failed: %s" % (name, self.url, _error_text(res)))
