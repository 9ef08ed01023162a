# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTP transport shared by the engine API clients (stdlib only).

Runs on the controller or on target hosts (Python 3.8+), so it uses ``urllib`` only.

What it adds over a bare ``urllib.request`` call:

* one result type, :class:`HttpResult`, for answers *and* failures (never raises for network
  or HTTP errors), with an ``error_kind`` that tells "connection refused" (the engine is still
  loading, or not started) apart from timeouts, TLS, DNS and HTTP errors;
* retries with exponential backoff and jitter for connection errors and 502/503/504, honouring a
  ``Retry-After`` header (seconds or HTTP date);
* an optional bearer API key that never appears in results, reasons or ``repr``;
* TLS verification on/off and a CA bundle; environment proxies ignored unless asked for (edge
  engines sit on the site network; a corporate proxy in between is a classic false "unhealthy");
* streaming: :meth:`HttpTransport.stream_lines` yields ``(seconds_since_start, line)`` so callers
  can measure time to first token on SSE or NDJSON bodies.
"""

from __future__ import annotations

import email.utils
import errno
import http.client
import json
import random
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

RETRY_STATUSES = (502, 503, 504)
# error_kind values
REFUSED = "refused"
RESET = "reset"
TIMEOUT = "timeout"
TLS = "tls"
DNS = "dns"
HTTP = "http"
OTHER = "other"
RETRYABLE_KINDS = (REFUSED, RESET)


@dataclass
class HttpResult:
    """Outcome of one logical request (after retries)."""

    url: str
    status: Optional[int] = None
    body: bytes = b""
    headers: Dict[str, str] = field(default_factory=dict)
    latency_s: Optional[float] = None
    error: Optional[str] = None
    error_kind: Optional[str] = None
    attempts: int = 0
    retry_waits_s: List[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        """True when nothing listens on the port (an engine that is still starting)."""
        return self.error_kind == REFUSED

    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON, or None if it is not JSON."""
        try:
            return json.loads(self.text())
        except ValueError:
            return None

    def describe(self) -> str:
        """One line for an operator: what was asked and what came back."""
        if self.status is not None:
            snippet = self.text().strip().replace("\n", " ")
            if len(snippet) > 160:
                snippet = snippet[:157] + "..."
            return "HTTP %s from %s%s" % (self.status, self.url, (": " + snippet) if snippet else "")
        return "%s (%s) for %s" % (self.error or "no answer", self.error_kind or OTHER, self.url)


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def classify_error(exc: BaseException) -> Tuple[str, str]:
    """Map a transport exception to ``(error_kind, readable text)``."""
    reason: Any = exc
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        reason = exc.reason
    if isinstance(reason, ConnectionRefusedError) or (
        isinstance(reason, OSError) and reason.errno == errno.ECONNREFUSED
    ):
        return REFUSED, "connection refused (nothing listening yet: engine not started or still loading)"
    if isinstance(reason, (ssl.SSLError, ssl.CertificateError)):
        return TLS, "TLS error: %s" % reason
    if isinstance(reason, socket.gaierror):
        return DNS, "name resolution failed: %s" % reason
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return TIMEOUT, "timed out"
    if isinstance(reason, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
                           http.client.RemoteDisconnected, http.client.IncompleteRead)):
        return RESET, "connection reset by the server (%s)" % type(reason).__name__
    if isinstance(reason, str) and "timed out" in reason:
        return TIMEOUT, "timed out"
    return OTHER, "%s: %s" % (type(reason).__name__, reason)


class _Response:
    """An open HTTP response (either a normal answer or an HTTPError, both are file-like)."""

    def __init__(self, raw: Any, status: int, headers: Dict[str, str]) -> None:
        self.raw = raw
        self.status = status
        self.headers = headers

    def close(self) -> None:
        try:
            self.raw.close()
        except Exception:  # pragma: no cover - closing is best effort
            pass


class HttpTransport:
    """A base URL plus the connection policy (auth, TLS, timeouts, retries)."""

    def __init__(
        self,
        base_url: str,
        api_key: Optional[str] = None,
        timeout: float = 30.0,
        validate_certs: bool = True,
        ca_path: Optional[str] = None,
        retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 10.0,
        retry_after_max: float = 120.0,
        use_proxy: bool = False,
        user_agent: str = "edgeai.slm_fleet",
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key or None
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.retry_after_max = float(retry_after_max)
        self.user_agent = user_agent
        self._sleep = sleep
        self._rng = rng
        handlers: List[Any] = []
        if not use_proxy:
            handlers.append(urllib.request.ProxyHandler({}))
        if self.base_url.startswith("https://"):
            ctx = ssl.create_default_context(cafile=ca_path) if ca_path else ssl.create_default_context()
            if not validate_certs:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            handlers.append(urllib.request.HTTPSHandler(context=ctx))
        self._opener = urllib.request.build_opener(*handlers)

    def __repr__(self) -> str:
        return "HttpTransport(%r, api_key=%s)" % (self.base_url, "<set>" if self._api_key else None)

    @property
    def has_api_key(self) -> bool:
        """Whether an API key is configured (the key itself is never exposed)."""
        return self._api_key is not None

    def backoff_delay(self, attempt: int) -> float:
        """Wait before retry number ``attempt`` (1-based): exponential, capped, equal jitter."""
        cap = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return cap / 2.0 + self._rng() * cap / 2.0

    def _build(self, method: str, path: str, body: Any, headers: Optional[Dict[str, str]]) -> urllib.request.Request:
        url = self.base_url + path
        data = None
        hdrs = {"User-Agent": self.user_agent, "Accept": "application/json"}
        if hasattr(body, "read"):
            # An open file, streamed as it is (blob uploads): the caller sets Content-Length and
            # must not ask for retries (a replay would send a half-read file).
            data = body
            hdrs["Content-Type"] = "application/octet-stream"
        elif body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        if self._api_key:
            hdrs["Authorization"] = "Bearer " + self._api_key
        hdrs.update(headers or {})
        return urllib.request.Request(url, data=data, headers=hdrs, method=method)

    def _open_once(self, req: urllib.request.Request, timeout: float) -> Tuple[Optional[_Response], Optional[Tuple[str, str]]]:
        try:
            raw = self._opener.open(req, timeout=timeout)
            return _Response(raw, raw.status, {k.lower(): v for k, v in raw.headers.items()}), None
        except urllib.error.HTTPError as exc:
            return _Response(exc, exc.code, {k.lower(): v for k, v in (exc.headers or {}).items()}), None
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            return None, classify_error(exc)

    def _open(self, method: str, path: str, body: Any, headers: Optional[Dict[str, str]],
              timeout: Optional[float], retry: bool, result: HttpResult) -> Optional[_Response]:
        """Open the request, retrying per policy. Fills ``result`` on final failure."""
        timeout = self.timeout if timeout is None else float(timeout)
        max_attempts = 1 + (self.retries if retry else 0)
        attempt = 0
        while True:
            attempt += 1
            result.attempts = attempt
            resp, err = self._open_once(self._build(method, path, body, headers), timeout)
            wait: Optional[float] = None
            if resp is not None:
                if resp.status in RETRY_STATUSES and attempt < max_attempts:
                    ra = parse_retry_after(resp.headers.get("retry-after"))
                    wait = min(ra, self.retry_after_max) if ra is not None else self.backoff_delay(attempt)
                    resp.raw.read()
                    resp.close()
                else:
                    return resp
            else:
                kind, text = err  # type: ignore[misc]
                result.error_kind, result.error, result.status = kind, text, None
                # A timeout on a POST may have reached the engine: never replay it.
                retryable = kind in RETRYABLE_KINDS or (kind == TIMEOUT and method == "GET")
                if not retryable or attempt >= max_attempts:
                    return None
                wait = self.backoff_delay(attempt)
            result.retry_waits_s.append(round(wait, 3))
            self._sleep(wait)

    def request(self, method: str, path: str, body: Any = None, headers: Optional[Dict[str, str]] = None,
                timeout: Optional[float] = None, retry: bool = True) -> HttpResult:
        """Send a request and read the whole body."""
        result = HttpResult(url=self.base_url + path)
        start = time.monotonic()
        resp = self._open(method, path, body, headers, timeout, retry, result)
        if resp is not None:
            result.status, result.headers = resp.status, resp.headers
            result.error = result.error_kind = None
            try:
                result.body = resp.raw.read()
            except (OSError, http.client.HTTPException) as exc:
                result.error_kind, result.error = classify_error(exc)
            finally:
                resp.close()
            if result.status is not None and result.status >= 400 and result.error is None:
                result.error_kind, result.error = HTTP, "HTTP %s" % result.status
        result.latency_s = round(time.monotonic() - start, 4)
        return result

    def stream_lines(self, method: str, path: str, body: Any = None, headers: Optional[Dict[str, str]] = None,
                     timeout: Optional[float] = None, retry: bool = True) -> Tuple[HttpResult, Iterator[Tuple[float, str]]]:
        """Open a streaming request.

        Returns the result (status/headers filled in, body empty for a 2xx answer) and an
        iterator of ``(seconds since the request started, decoded line)``. For a non-2xx answer
        the body is read into the result and the iterator is empty. ``timeout`` is both the
        socket inactivity timeout and the total deadline for reading the stream; on a timeout
        the iterator stops and ``result.error_kind`` becomes ``timeout``.
        """
        result = HttpResult(url=self.base_url + path)
        start = time.monotonic()
        limit = self.timeout if timeout is None else float(timeout)
        resp = self._open(method, path, body, headers, timeout, retry, result)
        if resp is None:
            result.latency_s = round(time.monotonic() - start, 4)
            return result, iter(())
        result.status, result.headers = resp.status, resp.headers
        result.error = result.error_kind = None
        if not result.ok:
            try:
                result.body = resp.raw.read()
            except (OSError, http.client.HTTPException):
                pass
            resp.close()
            result.error_kind, result.error = HTTP, "HTTP %s" % result.status
            result.latency_s = round(time.monotonic() - start, 4)
            return result, iter(())

        def lines() -> Iterator[Tuple[float, str]]:
            try:
                while True:
                    try:
                        raw = resp.raw.readline()
                    except (OSError, http.client.HTTPException) as exc:
                        result.error_kind, result.error = classify_error(exc)
                        return
                    now = time.monotonic() - start
                    if not raw:
                        return
                    yield now, raw.decode("utf-8", "replace").rstrip("\r\n")
                    if now > limit:
                        result.error_kind, result.error = TIMEOUT, "stream exceeded the %.0f s deadline" % limit
                        return
            finally:
                result.latency_s = round(time.monotonic() - start, 4)
                resp.close()

        return result, lines()


def join_url(base: str, path: str) -> str:
    """Join a base URL and an absolute path without doubling slashes."""
    return base.rstrip("/") + "/" + path.lstrip("/")


def redact_url(url: str) -> str:
    """Drop any user:password@ part of a URL before it goes into a result or a message."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
