"""The server's shared state and the per-request generation lifecycle (slot, metrics, cancel)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
from starlette.requests import Request
from starlette.types import Receive

from .admission import Admission, QueueFull
from .config import ServeConfig
from .engine import EngineWorker
from .http_util import APIError, BodyReader, ClientGone, wait_for_disconnect
from .jobs import Delta, Finish, GenerationParams, Job
from .metrics import Metrics
from .prompt_tokens import PromptTooLong, Segment

__all__ = ["ClientGone", "Generation", "Server"]
_T = TypeVar("_T")


class Server:
    """Everything a request handler needs: config, engine, admission and metrics."""

    def __init__(self, config: ServeConfig, worker: EngineWorker | None = None) -> None:
        self.config = config
        self.worker = worker or EngineWorker(config)
        self.admission = Admission(config.max_concurrency, config.queue_size)
        self.started = int(time.time())
        self.background: set[asyncio.Task[None]] = set()
        # Parsing, rendering and tokenizing run here, one request at a time, off the event loop.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare")
        self.open_connections: Callable[[], int] = lambda: 0  # set by the HTTP server
        worker, admission = self.worker, self.admission
        self.metrics = Metrics(
            config.model_id,
            {
                "ready": ("gauge", "1 once the model is loaded.", lambda: worker.state == "ready"),
                "slots": ("gauge", "Requests that may generate at once.", lambda: admission.slots),
                "active_requests": ("gauge", "Requests holding a slot.", lambda: admission.active),
                "queue_depth": ("gauge", "Requests waiting for a slot.", lambda: admission.waiting),
                "preparing_requests": (
                    "gauge",
                    "Admitted requests being read, parsed and tokenized (no slot yet).",
                    lambda: admission.preparing,
                ),
                "prefix_cache_sessions": (
                    "gauge",
                    "Idle conversations whose KV state is held for their next turn.",
                    lambda: len(worker.prefix_cache),
                ),
                "prefix_generators": (
                    "gauge",
                    "Idle og.Generators held for shared-prefix reuse (SLM_PREFIX_GENERATORS_MIB).",
                    lambda: len(worker.generator_pool),
                ),
                "prefix_generator_generations_total": (
                    "counter",
                    "Greedy generations run alone on a pooled og.Generator.",
                    lambda: worker.pooled_generations,
                ),
                "prefix_generator_reuses_total": (
                    "counter",
                    "Those that continued an idle og.Generator's prefix.",
                    lambda: worker.pooled_reuses,
                ),
                "batches_total": ("counter", "Engine batches started.", lambda: worker.batches),
                "batched_requests_total": (
                    "counter",
                    "Requests started in engine batches (divide by batches_total: batch size).",
                    lambda: worker.batched_requests,
                ),
                "prompt_lookup_generations_total": (
                    "counter",
                    "Generations run alone with prompt-lookup drafts (SLM_PROMPT_LOOKUP_DRAFTS).",
                    lambda: worker.lookup_generations,
                ),
                "prompt_lookup_accepted_tokens_total": (
                    "counter",
                    "Draft tokens accepted in those (each saved a forward pass).",
                    lambda: worker.lookup_accepted,
                ),
            },
        )

    @contextlib.contextmanager
    def arriving(self) -> Iterator[None]:
        """Count a request as on its way to the engine (parsing, tokenizing, queued for a slot):
        the engine waits briefly for such requests before it starts a static batch."""
        self.worker.arriving += 1
        try:
            yield
        finally:
            self.worker.arriving -= 1

    def check_model(self, model: str) -> None:
        """404 unless `model` is the served model id."""
        if model != self.config.model_id:
            raise APIError(
                404,
                f"The model {model!r} does not exist; this server serves {self.config.model_id!r}",
                param="model",
                code="model_not_found",
            )

    def check_ready(self) -> None:
        """503 while the model loads or after the engine failed."""
        if self.worker.state != "ready":
            message = (
                "The model is still loading"
                if self.worker.state == "loading"
                else f"The engine is not available: {self.worker.error}"
            )
            raise APIError(
                503, message, "server_error", code="model_not_ready", headers={"Retry-After": "5"}
            )

    def plan_tokens(self, prompt_tokens: int, requested: int | None, param: str) -> int:
        """New-token budget for a prompt, or 400 when it does not fit in SLM_MAX_LENGTH."""
        room = self.config.max_length - prompt_tokens
        if requested is None and room >= 1:
            return min(self.config.default_max_tokens, room)
        if requested is not None and requested <= room:
            return requested
        raise self.context_error(prompt_tokens, requested, param)

    def context_error(
        self, prompt_tokens: int, requested: int | None, param: str, at_least: bool = False
    ) -> APIError:
        """400 context_length_exceeded (`at_least`: the prompt length is a lower bound)."""
        limit = self.config.max_length
        asked = f", {requested} in the completion" if requested is not None else ""
        return APIError(
            400,
            f"This model's maximum context length is {limit} tokens. However, you requested "
            f"{'at least ' if at_least else ''}{prompt_tokens + (requested or 1)} tokens "
            f"({prompt_tokens} in the messages{asked}). "
            "Please reduce the length of the messages or completion.",
            param=param,
            code="context_length_exceeded",
        )

    def encode(
        self, segments: list[Segment], requested: int | None, param: str
    ) -> tuple[np.ndarray, int]:
        """(prompt ids, new-token budget) of a rendered prompt; 400 when it cannot fit, decided
        from its size before tokenizing when the size alone shows it. Runs in the executor."""
        prompts = self.worker.prompts
        assert prompts is not None, "the model is loaded before requests are admitted"
        try:
            ids = prompts.encode(segments, self.config.max_length - 1)
        except PromptTooLong as exc:
            raise self.context_error(exc.min_tokens, requested, param, at_least=True) from None
        return ids, self.plan_tokens(len(ids), requested, param)

    async def prepare(self, work: Callable[[], _T]) -> _T:
        """Run CPU work of a request (parse, render, tokenize) in the executor."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, work)

    def reserve(self, request: Request) -> BodyReader:
        """Admission, decided before a byte of the body is read: 503 while the model is not
        ready, 413 for a declared body over SLM_MAX_BODY_BYTES, 503 with Retry-After when
        slots, queue and requests being prepared are all taken. Returns the body reader; the
        caller then either `admit`s the request or calls `admission.unreserve()`."""
        self.check_ready()
        body = BodyReader(
            request.receive, self.config.max_body_bytes, request.headers.get("content-length")
        )
        try:
            self.admission.reserve()
        except QueueFull:
            chunked = "chunked" in request.headers.get("transfer-encoding", "").lower()
            raise self._overloaded(close=chunked) from None
        return body

    def _overloaded(self, close: bool = False) -> APIError:
        """503 with Retry-After. The refused body is never parsed: the HTTP server discards it
        (at most SLM_MAX_BODY_BYTES, as declared), which costs less than closing a connection
        with unread data and lets the client read the answer; a chunked body, whose length is
        unknown, gets the connection closed (`close`)."""
        admission = self.admission
        headers = {"Retry-After": str(admission.retry_after())}
        if close:
            headers["Connection"] = "close"
        return APIError(
            503,
            f"The server is busy: {admission.slots} requests are generating and "
            f"{admission.waiting + admission.preparing} are waiting. Retry later.",
            "server_error",
            code="server_overloaded",
            headers=headers,
        )

    async def admit(self, receive: Receive) -> None:
        """Turn a reservation into a slot, waiting in line if needed (the body has been read);
        ClientGone if the client leaves while waiting."""
        admission = self.admission
        try:
            waiter = admission.take(reserved=True)
        except QueueFull:  # cannot happen while reservations are counted; refuse anyway
            raise self._overloaded() from None
        if waiter is None:
            return
        gone = asyncio.ensure_future(wait_for_disconnect(receive))
        try:
            await asyncio.wait({waiter, gone}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            admission.leave(waiter)
            raise
        finally:
            gone.cancel()
        if waiter.done():
            return
        admission.leave(waiter)
        raise ClientGone


class Generation:
    """A submitted generation that holds a slot until the engine reports its end."""

    def __init__(self, server: Server, params: GenerationParams, arrived: float) -> None:
        self.server = server
        self.arrived = arrived
        self.job: Job = server.worker.submit(params)
        self.finish: Finish | None = None
        self._abandoned = False
        self._cancelled = False
        self._first_token = False

    async def next_text(self) -> tuple[str, Finish | None]:
        """(all text generated since the last call, the Finish if the generation ended).

        Waits for at least one result, then takes whatever else has arrived, so that a
        streaming response writes once for several tokens when they come in quickly."""
        items = [await self.job.events.get()]
        while not self.job.events.empty():
            items.append(self.job.events.get_nowait())
        text = "".join(i.text for i in items if isinstance(i, Delta))
        finish = next((i for i in items if isinstance(i, Finish)), None)
        if text and not self._first_token:
            self._first_token = True
            self.server.metrics.ttft.observe(time.monotonic() - self.arrived)
        if finish is not None:
            self._complete(finish)
        return text, finish

    async def begun(self) -> Finish | None:
        """For a guided generation: None once the engine has accepted its grammar, or the
        Finish that refused it (the slot is then free)."""
        item = await self.job.events.get()
        if isinstance(item, Finish):
            self._complete(item)
            return item
        return None

    def cancel(self) -> None:
        """Ask the engine to stop this generation; its Finish still arrives via `next_text`."""
        if self.finish is None and not self._cancelled:
            self._cancelled = True
            self.server.worker.cancel(self.job)

    def abandon(self) -> None:
        """Cancel and stop reading (client gone): the slot is freed when the engine confirms."""
        if self.finish is not None or self._abandoned:
            return
        self._abandoned = True
        self.cancel()
        task = asyncio.get_running_loop().create_task(self._drain())
        self.server.background.add(task)
        task.add_done_callback(self.server.background.discard)

    async def _drain(self) -> None:
        while self.finish is None:
            await self.next_text()

    def _complete(self, finish: Finish) -> None:
        self.finish = finish
        metrics = self.server.metrics
        metrics.prompt_tokens += finish.prompt_tokens
        metrics.reused_prompt_tokens += finish.cached_tokens
        metrics.generated_tokens += finish.completion_tokens
        self.server.admission.release(time.monotonic() - self.arrived)

    def _on_disconnect(self, watcher: asyncio.Future[None]) -> None:
        if not watcher.cancelled():
            self.cancel()

    async def run_to_end(self, receive: Receive) -> tuple[str, Finish]:
        """Collect all text; a client disconnect cancels the generation."""
        watcher = asyncio.ensure_future(wait_for_disconnect(receive))
        watcher.add_done_callback(self._on_disconnect)
        parts: list[str] = []
        try:
            while True:
                text, finish = await self.next_text()
                parts.append(text)
                if finish is not None:
                    return "".join(parts), finish
        finally:
            watcher.cancel()
            self.abandon()
