"""Generation: one thread owns onnxruntime-genai's og.Engine and batches every request through it.

og.Engine must be driven from the thread that created it, and `Engine.run` releases the GIL
while the model computes, so the HTTP event loop stays responsive during a step (the older
og.Generator API holds the GIL for a whole token). The event loop talks to this thread through a
command queue (submit, cancel, shutdown) and receives results per request in an asyncio.Queue.
Results are handed over at once for a request's first token and its end, otherwise at most every
DELIVERY_INTERVAL (20 ms): a slow model (Phi-4-mini on a gateway: 50-200 ms per token) still
streams token by token, while a fast one wakes the event loop for several tokens at a time.

On CPU, onnxruntime-genai 0.18 batches statically: requests that are pending when a batch starts
run together until the last of them finishes; later arrivals cannot join it. This thread forms
the batches itself: arrivals are held until the running batch ends, then start together, after
waiting up to SLM_BATCH_WINDOW_MS for requests already on their way and for as many as were in
flight during the last batch (the clients of a finished batch resubmit a moment later). Without
that, a batch that once split stays split under steady load. A lone client never waits. On an
engine with dynamic batching (paged attention, GPU builds) requests start at once. Stop strings
and per-request seeds need dynamic batching too, so stop sequences are matched here on the
decoded text, and the turn is cancelled as soon as one is found.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import sys
import threading
import time
from typing import Any

import numpy as np
import onnxruntime_genai as og

from .config import ServeConfig
from .generator_pool import GeneratorPool, PooledGeneration
from .jobs import Begun, Delta, Finish, GenerationParams, Job
from .lookup_decoding import LookupGeneration
from .prefix_cache import PrefixCache
from .prompt_tokens import PromptEncoder, read_tokenizer_info
from .tool_calls import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

log = logging.getLogger(__name__)
_TOKEN = int(og.EngineEventFlags.TOKEN)
SWITCH_INTERVAL = 0.0005  # seconds
DELIVERY_INTERVAL = 0.02  # seconds: the most a token waits before the event loop sees it
_FINISH_REASONS = {
    og.FinishReason.EOS: "stop",
    og.FinishReason.STOP_STRING: "stop",
    og.FinishReason.MAX_GENERATED_TOKENS: "length",
    og.FinishReason.MAX_SESSION_TOKENS: "length",
    og.FinishReason.FAILED: "error",
}


class EngineWorker:
    """Loads the model in a background thread, then serves Jobs until `close`."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.state = "loading"  # loading | ready | failed
        self.error: str | None = None
        self.tokenizer: Any = None
        self.prompts: PromptEncoder | None = None  # set once loaded; used from any thread
        self._commands: queue.SimpleQueue[tuple[str, Job | None]] = queue.SimpleQueue()
        self._jobs: dict[Any, Job] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._main, name="og-engine", daemon=True)
        self._model: Any = None
        self._engine: Any = None
        self._markers: dict[int, str] = {}
        self._held: list[Job] = []  # submitted, waiting for the running static batch to end
        self._outbox: list[tuple[Job, Delta | Finish]] = []  # step results not yet delivered
        self._urgent = False
        self._delivered_at = 0.0
        self._demand = 0  # most requests in flight at once since the last batch started
        self.arriving = 0  # requests on their way to `submit`; written by the event loop only
        self.prefix_cache = PrefixCache(config.prefix_cache_sessions)  # engine thread only
        self.batches = 0  # written by the engine thread only (read by /metrics)
        self.batched_requests = 0
        self.lookup_generations = 0  # SLM_PROMPT_LOOKUP_DRAFTS: generations run with drafts
        self.lookup_accepted = 0  # draft tokens accepted in those
        self.generator_pool = GeneratorPool(config.prefix_generators)  # engine thread only
        self.pooled_generations = 0  # SLM_PREFIX_GENERATORS_MIB: generations run on the pool
        self.pooled_reuses = 0  # those that continued an idle Generator's prefix

    # ---- event-loop side -------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Begin loading; results are delivered on `loop`."""
        self._loop = loop
        # After each step the engine thread needs the GIL back from the event loop to hand over
        # tokens; the default 5 ms switch interval would let it wait most of a decode step.
        sys.setswitchinterval(SWITCH_INTERVAL)
        self._thread.start()

    def submit(self, params: GenerationParams) -> Job:
        """Queue a generation; read its Delta/Finish items from `job.events`."""
        job = Job(params)
        self._commands.put(("submit", job))
        return job

    def cancel(self, job: Job) -> None:
        """Stop a job early (client gone); its Finish has reason 'cancelled'."""
        self._commands.put(("cancel", job))

    def close(self, timeout: float = 30.0) -> None:
        """Stop the engine thread, failing unfinished jobs."""
        if self._thread.is_alive():
            self._commands.put(("shutdown", None))
            self._thread.join(timeout)

    # ---- engine thread ---------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._load()
        except Exception as exc:
            self._fail(f"loading the model from {self.config.model_dir} failed: {exc}")
            return
        self.state = "ready"
        log.info("model %s ready", self.config.model_id)
        try:
            self._serve()
        except Exception as exc:
            log.exception("engine loop failed")
            self._fail(f"the engine stopped: {exc}")
        finally:
            self._teardown()

    def _overlay(self) -> dict[str, Any]:
        cfg = self.config
        batching = "dynamic_batching" if cfg.model.dynamic_batching else "static_batching"
        return {
            "model": {"decoder": {"session_options": {"intra_op_num_threads": cfg.threads}}},
            "search": {"max_length": cfg.max_length, "num_beams": 1, "min_length": 0},
            "engine": {batching: {"max_batch_size": cfg.max_concurrency}},
        }

    def _load(self) -> None:
        started = time.monotonic()
        og_config = og.Config(str(self.config.model_dir))
        og_config.overlay(json.dumps(self._overlay()))  # in memory: the model dir stays read-only
        self._model = og.Model(og_config)
        self.tokenizer = og.Tokenizer(self._model)
        self.prompts = PromptEncoder(self.tokenizer, read_tokenizer_info(self.config.model_dir))
        self._engine = og.Engine(self._model)
        for token_id, text in (
            (self.tokenizer.bot_token_id, TOOL_CALL_OPEN),
            (self.tokenizer.eot_token_id, TOOL_CALL_CLOSE),
        ):
            if token_id is not None and token_id >= 0:
                self._markers[int(token_id)] = text  # special tokens decode to '' otherwise
        log.info(
            "loaded %s in %.1fs: %d threads, %d slots, max_length %d, KV cache up to %.0f MiB",
            self.config.model_dir,
            time.monotonic() - started,
            self.config.threads,
            self.config.max_concurrency,
            self.config.max_length,
            self.config.model.kv_cache_bytes(self.config.max_concurrency, self.config.max_length)
            / 2**20,
        )
        if self.config.prefix_cache_sessions:
            log.info(
                "prefix cache: up to %d idle conversations (SLM_PREFIX_CACHE_MIB=%d)",
                self.config.prefix_cache_sessions,
                self.config.prefix_cache_mib,
            )
        if self.config.prefix_generators:
            log.info(
                "shared-prefix reuse: up to %d idle generators (SLM_PREFIX_GENERATORS_MIB=%d)",
                self.config.prefix_generators,
                self.config.prefix_generators_mib,
            )

    def _serve(self) -> None:
        buffer = self._engine.create_event_buffer(max(16, 2 * self.config.max_concurrency))
        while True:
            busy = self._engine.has_pending_requests()
            if not self._apply(self._take_commands(block=not busy and not self._held)):
                return
            if self._held and not busy:
                if not self._gather():
                    return
                self._start_batch()
            if self._engine.has_pending_requests():
                self._engine.run(buffer)
                self._outbox += self._collect(buffer)
                self._flush_outbox()

    def _take_commands(self, block: bool) -> list[tuple[str, Job | None]]:
        """All pending commands; waits for the first one if `block`."""
        commands: list[tuple[str, Job | None]] = [self._commands.get()] if block else []
        while True:
            try:
                commands.append(self._commands.get_nowait())
            except queue.Empty:
                return commands

    def _apply(self, commands: list[tuple[str, Job | None]]) -> bool:
        """Carry out commands; False on shutdown."""
        for kind, job in commands:
            if kind == "shutdown":
                return False
            assert job is not None
            if kind == "submit":
                self._held.append(job)
                self._demand = max(self._demand, len(self._jobs) + len(self._held))
                if self.config.model.dynamic_batching:
                    self._start_batch()  # continuous batching: join the running batch now
            elif job in self._held:
                self._held.remove(job)
                self._post([(job, Finish("cancelled", len(job.params.prompt_ids), 0))])
            elif job.request is not None and job.request in self._jobs:
                job.request.cancel_turn(job.turn_id)
        return True

    def _gather(self) -> bool:
        """Before a static batch starts, wait up to the batch window for requests that are on
        their way (being parsed or queued for a slot) and for as many as were in flight together
        last time (clients of a finished batch resubmit a moment later)."""
        slots = self.config.max_concurrency
        deadline = time.monotonic() + self.config.batch_window_ms / 1000.0
        while len(self._held) < min(slots, max(self._demand, len(self._held) + self.arriving)):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                command = self._commands.get(timeout=left)
            except queue.Empty:
                break
            if not self._apply([command]):
                return False
        return True

    def _start_batch(self) -> None:
        batch = self._held[: self.config.max_concurrency]
        self._held = self._held[self.config.max_concurrency :]
        static = not self.config.model.dynamic_batching
        alone = self._alone_path(batch[0]) if static and len(batch) == 1 else None
        if alone is not None:
            self._run_alone(batch[0], alone)  # not an engine batch: resident state stays resident
            self._demand = len(self._jobs) + len(self._held)
            return
        if static:  # only the last batch's state is still resident (see prefix_cache.py)
            self.prefix_cache.keep_only_batch(self.batches)
        for job in batch:  # static: the cache holds one request at most, so one continues
            job.batch, job.alone = self.batches + 1, len(batch) == 1 or not static
            self._begin(job)
        self.batches += 1
        self.batched_requests += len(batch)
        self._demand = len(self._jobs) + len(self._held)
        log.debug(
            "batch of %d started, %d in flight, %d held",
            len(batch),
            len(self._jobs),
            len(self._held),
        )

    def _begin(self, job: Job) -> None:
        p = job.params
        request = None
        new_ids = np.asarray(p.prompt_ids, dtype=np.int32)
        try:
            cache = self.prefix_cache
            held = cache.take(new_ids) if cache.max_sessions and job.may_reuse else None
            if held is not None:  # continue that conversation: only the new tokens are computed
                request, job.reused = held.request, len(held.tokens)
                new_ids = new_ids[job.reused :]
            else:
                options = og.RequestOptions()
                # A request that may be held for the next turn needs room to grow.
                session = len(p.prompt_ids) + p.max_new_tokens
                cached = self.prefix_cache.max_sessions > 0
                options.set_max_session_tokens(self.config.max_length if cached else session)
                request = self._engine.create_request(options=options)
            turn = og.TurnOptions(request)
            turn.set_max_generated_tokens(p.max_new_tokens)
            if p.temperature == 0:
                turn.set_do_sample(False)
            else:
                turn.set_do_sample(True)
                turn.set_temperature(p.temperature)
                turn.set_top_p(p.top_p)
                turn.set_top_k(0)
                if p.seed is not None and self.config.model.dynamic_batching:
                    turn.set_seed(p.seed)
            if p.guidance is not None:
                turn.set_guidance(*p.guidance)
            try:
                job.turn_id = request.begin_turn(new_ids, turn)
            except Exception as exc:
                if not job.reused:
                    raise
                log.info("held state not continued (%s): computing the prompt in full", exc)
                request.close()
                request, job.reused, job.may_reuse = None, 0, False
                self._begin(job)
                return
        except Exception as exc:
            refused = p.guidance is not None and "grammar" in str(exc)
            if not refused:
                log.warning("could not start a generation: %s", exc)
            if request is not None:
                request.close()
            reason = "invalid" if refused else "error"
            self._post([(job, Finish(reason, len(p.prompt_ids), 0, str(exc)))])
            return
        if p.guidance is not None:
            self._post([(job, Begun())])
        job.request = request
        job.stream = self.tokenizer.create_stream()
        self._jobs[request] = job

    def _flush_outbox(self) -> None:
        """Hand step results to the event loop: at once when a request starts or ends or the
        engine goes idle, otherwise at most every DELIVERY_INTERVAL. When tokens come faster
        than that, the event loop wakes and writes once for several of them."""
        now = time.monotonic()
        if self._outbox and (
            self._urgent
            or now - self._delivered_at >= DELIVERY_INTERVAL
            or not self._engine.has_pending_requests()
        ):
            self._post(self._outbox)
            self._outbox, self._urgent, self._delivered_at = [], False, now

    def _collect(self, buffer: Any) -> list[tuple[Job, Delta | Finish]]:
        """Decode one step's events; marks the outbox urgent for first tokens and ends."""
        out: list[tuple[Job, Delta | Finish]] = []
        for i in range(len(buffer)):
            event = buffer[i]
            job = self._jobs.get(event.request)
            if job is None:
                continue
            if int(event.flags) & _TOKEN and event.token is not None and not job.stopped:
                self._feed(job, int(event.token), out)
                if job.stopped:
                    job.request.cancel_turn(job.turn_id)
            if event.finish_reason != og.FinishReason.NONE:
                out.extend(self._finish(job, event))
                self._urgent = True
        return out

    def _feed(self, job: Job, token: int, out: list[tuple[Job, Delta | Finish]]) -> None:
        """Account one generated token: its text (minus stop strings) goes to `out`."""
        job.generated += 1
        job.token_ids.append(token)
        piece = self._markers.get(token) or job.stream.decode(token)
        text = job.stop.feed(piece) if piece else ""
        if text:
            out.append((job, Delta(text)))
            self._urgent |= not job.delivered
            job.delivered = True
        if job.stop.matched:
            job.stopped = True

    def _alone_path(self, job: Job) -> str | None:
        """How a request a static batch would run alone goes on an og.Generator: "pool"
        (shared-prefix reuse, generator_pool.py), "lookup" (drafts, lookup_decoding.py) or
        None (og.Engine). Both need greedy decoding without a grammar."""
        p = job.params
        pool_on = self.generator_pool.max_generators > 0
        drafts_on = self.config.prompt_lookup_drafts > 0
        if not (pool_on or drafts_on) or p.temperature != 0 or p.guidance is not None:
            return None  # both off (the default): nothing else is looked at
        ids = np.asarray(p.prompt_ids, dtype=np.int32)
        cache = self.prefix_cache  # a held conversation may hold more of the prompt
        held = cache.longest(ids) if cache.max_sessions and job.may_reuse else 0
        if pool_on and self.generator_pool.longest(ids) >= held:
            return "pool"
        if drafts_on and not held:
            return "lookup"
        return None

    def _run_alone(self, job: Job, path: str) -> None:
        """Generate `job` alone on an og.Generator (see `_alone_path`), taking commands (cancel,
        new submissions, shutdown) between its steps."""
        p = job.params
        run: PooledGeneration | LookupGeneration
        try:
            if path == "pool":
                run = PooledGeneration(
                    self._model,
                    self.generator_pool,
                    p.prompt_ids,
                    p.max_new_tokens,
                    self.config.max_length,
                )
            else:
                run = LookupGeneration(
                    self._model, p.prompt_ids, p.max_new_tokens, self.config.prompt_lookup_drafts
                )
        except Exception as exc:
            log.warning("og.Generator unavailable (%s): generating on the engine", exc)
            self._begin(job)
            return
        if isinstance(run, PooledGeneration):
            self.pooled_generations += 1
            self.pooled_reuses += run.reused > 0
            job.reused = run.reused
        else:
            self.lookup_generations += 1
        job.stream = self.tokenizer.create_stream()
        reason, out, error = "", [], None
        while not reason:
            for kind, other in self._take_commands(block=False):
                if other is job and kind == "cancel":
                    reason = "cancelled"
                elif kind == "shutdown":
                    self._commands.put((kind, other))  # for _serve, once this job is answered
                    reason = "cancelled"
                else:
                    self._apply([(kind, other)])
            if reason:
                break
            try:
                tokens = run.step()
            except Exception as exc:  # this generation fails; the server goes on
                log.warning("generation on og.Generator failed: %s", exc)
                error, reason = f"generation failed ({exc})", "error"
                break
            for token in tokens:
                self._feed(job, token, out)
                if job.stopped:
                    break
            if job.stopped:
                reason = "stop"
            elif run.done:
                reason = "length" if run.generated >= p.max_new_tokens else "stop"
            now = time.monotonic()
            if out and (reason or self._urgent or now - self._delivered_at >= DELIVERY_INTERVAL):
                self._post(out)
                out, self._urgent, self._delivered_at = [], False, now
        tail = "" if job.stopped or reason in ("cancelled", "error") else job.stop.flush()
        if tail:
            out.append((job, Delta(tail)))
        out.append((job, Finish(reason, len(p.prompt_ids), job.generated, error, job.reused)))
        self._post(out)
        if isinstance(run, LookupGeneration):
            self.lookup_accepted += run.accepted()
            run.close()
        elif reason != "error":
            run.release()  # its state matches its tokens whatever the reason it ended
        else:
            run.close()

    def _finish(self, job: Job, event: Any) -> list[tuple[Job, Delta | Finish]]:
        reason = "stop" if job.stopped else _FINISH_REASONS.get(event.finish_reason, "cancelled")
        error = f"generation failed ({event.error_code})" if reason == "error" else None
        items: list[tuple[Job, Delta | Finish]] = []
        tail = "" if job.stopped else job.stop.flush()
        if tail:
            items.append((job, Delta(tail)))
        prompt = job.params.prompt_ids
        items.append((job, Finish(reason, len(prompt), job.generated, error, job.reused)))
        del self._jobs[job.request]
        keep = reason in ("stop", "length") and not job.stopped and job.alone
        if keep and self.prefix_cache.max_sessions:
            tokens = np.concatenate([np.asarray(prompt, dtype=np.int32), job.token_ids])
            self.prefix_cache.put(tokens.astype(np.int32), job.request, job.batch)
            if not self.config.model.dynamic_batching:  # earlier batches' state is gone
                self.prefix_cache.keep_only_batch(job.batch)
        else:  # cancelled turns (stop strings too) leave no state worth continuing
            job.request.close()
        return items

    def _post(self, items: list[tuple[Job, Delta | Finish | Begun]]) -> None:
        if items and self._loop is not None:
            # RuntimeError: the event loop is closed, nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(_deliver, items)

    def _fail(self, message: str) -> None:
        """Mark the worker failed and answer every job, now and later, with an error."""
        log.error("%s", message)
        self.error, self.state = message, "failed"
        self._fail_unfinished(message)
        while True:
            kind, job = self._commands.get()
            if kind == "shutdown":
                return
            if kind == "submit" and job is not None:
                self._post([(job, Finish("error", len(job.params.prompt_ids), 0, message))])

    def _fail_unfinished(self, message: str) -> None:
        """Answer running and held jobs with an error and forget them."""
        self._post(self._outbox)
        self._outbox = []
        unfinished = [*self._jobs.values(), *self._held]
        self._post(
            [
                (j, Finish("error", len(j.params.prompt_ids), j.generated, message))
                for j in unfinished
            ]
        )
        for request in list(self._jobs):
            request.close()
        self._jobs.clear()
        self.prefix_cache.clear()
        self.generator_pool.clear()
        self._held.clear()

    def _teardown(self) -> None:
        """Fail what is still running and release og objects in their owner thread."""
        self._fail_unfinished("the server is shutting down")
        self._engine = None
        self._model = None


def _deliver(items: list[tuple[Job, Delta | Finish | Begun]]) -> None:
    for job, item in items:
        job.events.put_nowait(item)
