"""Prefix KV reuse: finished conversations keep their KV state for the next turn.

onnxruntime-genai's `og.Engine` requests are multi-turn: a request whose turn has finished
keeps the KV state of every token it has seen (prompt and generated), and `begin_turn` on it
computes only the new tokens. When a generation ends normally, its request is kept here with
its token sequence; a later prompt that extends that sequence exactly (the next turn of the
same conversation: the previous prompt, the reply as generated, then the new messages) continues
that request with only the tokens after it. Greedy output is the same as without reuse (the
model sees the same tokens; tests/engine/test_prefix_cache.py checks it).

What it cannot do: the engine rewinds only to the start of a turn, and a turn must generate, so
a prefix that ends inside a held sequence (a shared system prompt followed by another question)
cannot be reused exactly here; generator_pool.py (SLM_PREFIX_GENERATORS_MIB) reuses those for
greedy requests that run alone, through og.Generator.rewind_to. On CPU, onnxruntime-genai 0.18's
static batching keeps a finished request's state resident only until the next batch has run,
and continues only one resident request per batch ("Continuous decoding requires exactly one
resident request in a static engine batch"): there, only a generation that ran alone can be
continued, by the very next batch (a single client's conversation on a gateway). The engine
thread enforces that, and falls back to computing the prompt in full if the engine refuses.

Bounded: at most `max_sessions` requests are held; the least recently used is closed first.
Isolated: a held request is taken out while a generation continues it, so no two generations
ever share one, and it comes back only when that generation has ended. Engine thread only.
"""

from __future__ import annotations

import collections
from typing import Any, NamedTuple

import numpy as np


class Held(NamedTuple):
    """An idle request, the tokens its KV state holds, and the engine batch it ran in."""

    tokens: np.ndarray
    request: Any
    batch: int = 0


class PrefixCache:
    """Idle og.Engine requests by token sequence, least recently used first."""

    def __init__(self, max_sessions: int) -> None:
        self.max_sessions = max_sessions
        self._held: collections.OrderedDict[int, Held] = collections.OrderedDict()
        self._next_key = 0

    def __len__(self) -> int:
        return len(self._held)

    def _best(self, prompt_ids: np.ndarray) -> tuple[int | None, int]:
        """(key, length) of the held sequence that is the longest proper prefix of `prompt_ids`."""
        best_key, best_len = None, 0
        for key, held in self._held.items():
            n = len(held.tokens)
            if best_len < n < len(prompt_ids) and np.array_equal(prompt_ids[:n], held.tokens):
                best_key, best_len = key, n
        return best_key, best_len

    def take(self, prompt_ids: np.ndarray) -> Held | None:
        """The held request whose sequence is the longest proper prefix of `prompt_ids`,
        removed from the cache (the caller owns it now), or None."""
        key, _length = self._best(prompt_ids)
        return None if key is None else self._held.pop(key)

    def longest(self, prompt_ids: np.ndarray) -> int:
        """Tokens of the longest held proper prefix of `prompt_ids` (0: none); nothing is taken."""
        return self._best(prompt_ids)[1]

    def put(self, tokens: np.ndarray, request: Any, batch: int = 0) -> None:
        """Hold an idle request (most recently used); closes the oldest beyond the budget."""
        if self.max_sessions <= 0:
            request.close()
            return
        self._held[self._next_key] = Held(tokens, request, batch)
        self._next_key += 1
        while len(self._held) > self.max_sessions:
            _, oldest = self._held.popitem(last=False)
            oldest.request.close()

    def keep_only_batch(self, batch: int) -> None:
        """Close every held request that did not run in engine batch `batch`."""
        for key in [k for k, held in self._held.items() if held.batch != batch]:
            self._held.pop(key).request.close()

    def clear(self) -> None:
        """Close every held request."""
        while self._held:
            _, held = self._held.popitem(last=False)
            held.request.close()
