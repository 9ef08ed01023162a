"""Shared plumbing for the test servers: a threaded HTTP server that can start late.

``BackgroundServer`` runs a ``http.server`` handler class in a thread on 127.0.0.1. With
``start_delay_s`` it reserves a port, then binds it only after the delay, so clients see
"connection refused" first — the way vLLM behaves while it loads a model. Every request is
logged (method, path, headers, JSON body) for assertions.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Type


def free_port() -> int:
    """A port that was free a moment ago (for servers that bind late)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "BackgroundServer"


class JSONHandler(BaseHTTPRequestHandler):
    """Request handler with JSON helpers; ``self.server.owner`` is the BackgroundServer."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, fmt: str, *args: Any) -> None:  # keep test output clean
        pass

    @property
    def owner(self) -> Any:
        return self.server.owner

    def read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.owner.log_request_(self, raw)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return ValueError("invalid JSON")

    def send_json(self, status: int, data: Any, headers: Optional[Dict[str, str]] = None) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def send_text(self, status: int, text: str, ctype: str = "text/plain; charset=utf-8") -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def start_stream(self, ctype: str) -> None:
        """Begin a body of unknown length (closed with the connection)."""
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()


class BackgroundServer:
    """Owns a handler class, a port and a thread; usable as a context manager."""

    handler: Type[JSONHandler] = JSONHandler

    def __init__(self, host: str = "127.0.0.1", port: int = 0, start_delay_s: float = 0.0) -> None:
        self.host = host
        self.port = port or (free_port() if start_delay_s else 0)
        self.start_delay_s = start_delay_s
        self.requests: List[Dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._ready = threading.Event()
        self._stopped = False
        self.started_at = 0.0

    @property
    def url(self) -> str:
        return "http://%s:%d" % (self.host, self.port)

    def log_request_(self, handler: JSONHandler, raw: bytes) -> None:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self._lock:
            self.requests.append({"method": handler.command, "path": handler.path,
                                  "headers": {k.lower(): v for k, v in handler.headers.items()},
                                  "body": body, "at": time.monotonic() - self.started_at})

    def paths(self) -> List[str]:
        with self._lock:
            return [r["path"] for r in self.requests]

    def _bind_and_serve(self) -> None:
        if self.start_delay_s:
            time.sleep(self.start_delay_s)
        if self._stopped:
            return
        self._httpd = _Server((self.host, self.port), self.handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self._ready.set()
        self._httpd.serve_forever(poll_interval=0.05)

    def start(self) -> "BackgroundServer":
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._bind_and_serve, daemon=True)
        self._thread.start()
        if not self.start_delay_s:
            self._ready.wait(5)
        return self

    def stop(self) -> None:
        self._stopped = True
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> "BackgroundServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def serve_until_interrupted(self) -> None:
        """For the command-line entry points."""
        self.start()
        self._ready.wait()
        print("serving on %s (Ctrl-C to stop)" % self.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            self.stop()


def split_tokens(text: str) -> List[str]:
    """Word-ish chunks (with their leading spaces), the way engines stream tokens."""
    out: List[str] = []
    cur = ""
    for ch in text:
        if ch in " \n" and cur.strip():
            out.append(cur)
            cur = ""
        cur += ch
    if cur:
        out.append(cur)
    return out


def match_entry(script: List[Dict[str, Any]], messages: Any) -> Dict[str, Any]:
    """The first script entry whose ``match`` (case-insensitive substring) is in the last user message."""
    last = ""
    for msg in messages or []:
        if isinstance(msg, dict) and msg.get("role") == "user":
            last = str(msg.get("content") or "")
    for entry in script:
        if entry.get("match", "").lower() in last.lower():
            return entry
    return {"reply": "I am not sure how to answer that."}
