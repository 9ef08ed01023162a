"""The FastAPI application: routes, bearer-key check, request metrics, OpenAI-style errors."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__, completions
from .http_util import APIError, json_response
from .metrics import CONTENT_TYPE
from .schema import error_body
from .state import Server

log = logging.getLogger(__name__)
OPEN_PATHS = frozenset({"/health", "/metrics"})  # no API key needed (probes, Prometheus)
ENDPOINTS = frozenset({"/health", "/metrics", "/v1/models", "/v1/chat/completions", "/reasoning"})
TIMED = frozenset({"/v1/chat/completions", "/reasoning"})
HEALTH_RESERVE = 16  # connections beyond SLM_MAX_CONNECTIONS that may still reach /health


class BearerAuth:
    """Requires `Authorization: Bearer <key>` on every path except OPEN_PATHS."""

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self.key = api_key.encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.key is None or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, token = header.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.key):
            await self.app(scope, receive, send)
            return
        message = (
            "Incorrect API key provided."
            if header
            else "Missing API key: send it as 'Authorization: Bearer <key>'."
        )
        response = json_response(
            401, error_body(message, code="invalid_api_key"), {"WWW-Authenticate": "Bearer"}
        )
        await response(scope, receive, send)


class ConnectionCap:
    """Answers 503 (Retry-After, connection closed) to every request but /health and /metrics
    while more than `limit` connections are open, before anything else is done with it.

    The HTTP server itself refuses everything, /health included, beyond `limit` plus
    HEALTH_RESERVE connections (uvicorn's limit_concurrency)."""

    def __init__(self, app: ASGIApp, server: Server) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.server.config.max_connections
        if (
            scope["type"] != "http"
            or scope["path"] in OPEN_PATHS
            or self.server.open_connections() <= limit
        ):
            await self.app(scope, receive, send)
            return
        response = json_response(
            503,
            error_body(
                f"Too many connections: more than {limit} are open (SLM_MAX_CONNECTIONS). "
                "Retry later.",
                "server_error",
                code="too_many_connections",
            ),
            {"Retry-After": str(self.server.admission.retry_after()), "Connection": "close"},
        )
        await response(scope, receive, send)


class RequestMetrics:
    """Counts every response by endpoint and status; times the generation endpoints."""

    def __init__(self, app: ASGIApp, server: Server) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        endpoint = path if path in ENDPOINTS else "other"
        started = time.monotonic()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            seconds = time.monotonic() - started if endpoint in TIMED else None
            self.server.metrics.request_done(endpoint, status, seconds)


def create_app(server: Server) -> FastAPI:
    """The ASGI app for `server`; the model starts loading when the app starts."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        server.worker.start(asyncio.get_running_loop())
        yield
        await asyncio.to_thread(server.worker.close)
        server.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="slm-engine",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.exception_handler(APIError)
    async def api_error(_: Request, exc: APIError) -> Response:
        return json_response(exc.status, exc.body, exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        message = {404: "Unknown path", 405: "Method not allowed"}.get(exc.status_code, exc.detail)
        return json_response(exc.status_code, error_body(str(message)), exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> Response:
        log.error("unexpected error", exc_info=exc)
        return json_response(500, error_body("Internal server error", "server_error"))

    @app.get("/health")
    async def health() -> Response:
        worker = server.worker
        body: dict[str, object] = {"status": "ok", "model": server.config.model_id}
        if worker.state == "ready":
            return json_response(200, body)
        if worker.state == "loading":
            return json_response(503, {**body, "status": "loading"}, {"Retry-After": "5"})
        return json_response(503, {**body, "status": "error", "message": worker.error})

    @app.get("/v1/models")
    async def models() -> Response:
        return json_response(
            200,
            {
                "object": "list",
                "data": [
                    {
                        "id": server.config.model_id,
                        "object": "model",
                        "created": server.started,
                        "owned_by": "slm-engine",
                        "max_model_len": server.config.max_length,
                    }
                ],
            },
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(server.metrics.render(), media_type=CONTENT_TYPE)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        return await completions.chat_completions(server, request)

    @app.post("/reasoning")
    async def reasoning(request: Request) -> Response:
        return await completions.reasoning(server, request)

    app.add_middleware(BearerAuth, api_key=server.config.api_key)
    app.add_middleware(ConnectionCap, server=server)  # before the key check: cheapest first
    app.add_middleware(RequestMetrics, server=server)
    return app
