"""Shared-prefix KV reuse for greedy requests that run alone (SLM_PREFIX_GENERATORS_MIB, issue 15).

prefix_cache.py continues a held og.Engine request only with the next turn of its conversation:
og.Engine rewinds only to the start of a turn. A gateway's usual traffic is different: the same
long system prompt with a new question, or the very same prompt again, one request at a time.
onnxruntime-genai's og.Generator (one sequence) can `rewind_to(length)`: it forgets the KV state
after `length` tokens and computes only what is appended next. So a request that a static batch
would run alone, greedy and unguided (the cases where og.Generator decodes exactly as og.Engine:
tests/engine/test_generator_pool.py), runs on an og.Generator here:

- it takes, exclusively, the idle Generator whose token sequence shares the longest prefix with
  its prompt (at least MIN_SHARED tokens), rewinds it to that prefix (at most the prompt minus
  its last token: a turn needs one token to compute), and appends only the rest of the prompt;
- with no such Generator, it computes the prompt on a new one;
- once it has ended, the Generator goes back to the pool with every token it holds (prompt and
  reply), most recently used; beyond the budget the least recently used one is dropped.

Correct by construction: a Generator is either in the pool or owned by one generation, never
both, and its recorded tokens are exactly those whose state it holds (rewind_to cuts both).
Bounded: SLM_PREFIX_GENERATORS_MIB / (one sequence's KV cache at SLM_MAX_LENGTH) Generators;
0 (the default) turns this off. Sampling and structured outputs keep the og.Engine path (its
seeds and grammars live there). Costs: og.Generator calls hold the GIL, so the event loop runs
only between decode steps and between prompt chunks (APPEND_CHUNK). Engine thread only.
"""

from __future__ import annotations

import collections
from typing import Any

import numpy as np
import onnxruntime_genai as og

from .generator_steps import GeneratorSteps

MIN_SHARED = 16  # tokens: a shorter common prefix is not worth giving up a held Generator
# og.Generator.append_tokens holds the GIL for the whole computation (a 1000-token prompt on the
# bench model: 7 s without a single event-loop turn); appended in chunks of this many tokens, the
# event loop runs between chunks (1.4 s at most there) for about the same total time.
APPEND_CHUNK = 128


def shared_prefix(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the common prefix of two token arrays."""
    n = min(len(a), len(b))
    diff = np.flatnonzero(a[:n] != b[:n])
    return int(diff[0]) if len(diff) else n


class GeneratorPool:
    """Idle og.Generators by the tokens their KV state holds, least recently used first."""

    def __init__(self, max_generators: int) -> None:
        self.max_generators = max_generators
        self._idle: collections.OrderedDict[int, tuple[Any, np.ndarray]] = collections.OrderedDict()
        self._next_key = 0

    def __len__(self) -> int:
        return len(self._idle)

    def _best(self, prompt_ids: np.ndarray) -> tuple[int | None, int]:
        """(key, tokens it would reuse) of the idle Generator sharing the longest prefix with
        `prompt_ids`, at most the prompt minus its last token; (None, 0) below MIN_SHARED."""
        best_key, best = None, 0
        for key, (_gen, tokens) in self._idle.items():
            n = min(shared_prefix(tokens, prompt_ids), len(prompt_ids) - 1)
            if n > best:
                best_key, best = key, n
        return (best_key, best) if best >= MIN_SHARED else (None, 0)

    def longest(self, prompt_ids: np.ndarray) -> int:
        """Prompt tokens the best idle Generator would reuse (0: none); nothing is taken."""
        return self._best(prompt_ids)[1]

    def take(self, prompt_ids: np.ndarray) -> tuple[Any, int] | None:
        """(Generator, tokens of `prompt_ids` it already holds), removed from the pool, or None."""
        key, best = self._best(prompt_ids)
        if key is None:
            return None
        generator, _tokens = self._idle.pop(key)
        return generator, best

    def put(self, generator: Any, tokens: np.ndarray) -> None:
        """Hold an idle Generator (most recently used); drops the oldest beyond the budget."""
        if self.max_generators <= 0:
            return
        self._idle[self._next_key] = (generator, tokens)
        self._next_key += 1
        while len(self._idle) > self.max_generators:
            self._idle.popitem(last=False)

    def clear(self) -> None:
        """Drop every idle Generator."""
        self._idle.clear()


class PooledGeneration(GeneratorSteps):
    """One greedy generation on a pooled (or new) og.Generator; `release` gives it back."""

    def __init__(
        self,
        model: Any,
        pool: GeneratorPool,
        prompt_ids: np.ndarray,
        max_new_tokens: int,
        max_length: int,
    ) -> None:
        prompt = np.asarray(prompt_ids, dtype=np.int32)
        taken = pool.take(prompt)
        if taken is None:
            params = og.GeneratorParams(model)
            params.set_search_options(max_length=max_length, do_sample=False, num_beams=1)
            self._generator, self.reused = og.Generator(model, params), 0
        else:
            self._generator, self.reused = taken
            self._generator.rewind_to(self.reused)
        self._pool = pool
        self.max_new_tokens = max_new_tokens
        for start in range(self.reused, len(prompt), APPEND_CHUNK):
            self._generator.append_tokens(prompt[start : start + APPEND_CHUNK])
        self._seen = len(prompt)
        self.generated = 0

    def release(self) -> None:
        """Give the Generator back to the pool with the tokens it holds."""
        tokens = np.asarray(self._generator.get_sequence(0), dtype=np.int32).copy()
        self._pool.put(self._generator, tokens)
        self._generator = None

    def close(self) -> None:
        """Drop the Generator (its state is not reused)."""
        self._generator = None
