"""HTTP plumbing: OpenAI-style errors, bounded body reading, disconnect watching, SSE responses."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import anyio
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from .schema import error_body


class APIError(Exception):
    """An error answered with an OpenAI error body."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(message, type_, param, code)
        self.headers = headers or {}


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response without FastAPI's validation/serialization layer."""
    return Response(
        json.dumps(body, ensure_ascii=False).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def too_large(limit: int) -> APIError:
    """413 for a body over `limit` bytes; the connection is closed rather than drained."""
    return APIError(
        413,
        f"The request body is larger than {limit} bytes (SLM_MAX_BODY_BYTES)",
        code="payload_too_large",
        headers={"Connection": "close"},
    )


class ClientGone(Exception):
    """The client disconnected before its request could start."""


class BodyReader:
    """Reads a request body of at most `limit` bytes (once the request has been admitted).

    A declared Content-Length over the limit is refused at construction, before anything is
    read; a chunked body is refused as soon as it passes the limit.
    """

    def __init__(self, receive: Receive, limit: int, content_length: str | None) -> None:
        if content_length and content_length.strip().isdigit() and int(content_length) > limit:
            raise too_large(limit)
        self.receive = receive
        self.limit = limit
        self.chunks: list[bytes] = []
        self.size = 0
        self.complete = False
        self.disconnected = False
        self.error: APIError | None = None

    async def _next(self) -> None:
        if self.error is not None:
            raise self.error
        message = await self.receive()
        if message["type"] == "http.disconnect":
            self.disconnected = True
            return
        chunk = message.get("body", b"")
        self.size += len(chunk)
        if self.size > self.limit:
            self.error = too_large(self.limit)
            raise self.error
        self.chunks.append(chunk)
        self.complete = not message.get("more_body", False)

    async def read(self) -> bytes:
        """The whole body; ClientGone if the client left, 413 beyond the limit."""
        while not self.complete:
            if self.disconnected:
                raise ClientGone
            await self._next()
        return b"".join(self.chunks)


async def wait_for_disconnect(receive: Receive) -> None:
    """Return when the client closes the connection (call after the body has been read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def sse(data: Any) -> bytes:
    """One server-sent event carrying JSON (or the literal [DONE])."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode()


class EventStreamResponse(StreamingResponse):
    """text/event-stream that notices a client going away even while no event is being sent.

    The body iterator runs while the connection is watched; when the client disconnects the
    stream is cancelled, and `on_close` always runs (it cancels the generation and frees the
    slot). Starlette's StreamingResponse only notices a disconnect when a send fails.
    """

    def __init__(self, events: AsyncIterator[bytes], on_close: Callable[[], None]) -> None:
        super().__init__(
            events,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self.events = events
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as tasks:

                async def watch() -> None:
                    await wait_for_disconnect(receive)
                    tasks.cancel_scope.cancel()

                tasks.start_soon(watch)
                await send(
                    {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
                )
                async for event in self.events:
                    await send({"type": "http.response.body", "body": event, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                tasks.cancel_scope.cancel()
        except* OSError:
            pass  # the client went away while we were sending
        finally:
            self.on_close()
            await self.events.aclose()  # type: ignore[attr-defined]
