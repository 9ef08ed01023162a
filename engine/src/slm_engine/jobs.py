"""What flows between the HTTP side and the engine thread: a Job per generation, its parameters,
and the items it delivers (Begun, Delta, Finish) on its asyncio queue."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .stop import StopMatcher

__all__ = ["Begun", "Delta", "Finish", "GenerationParams", "Job"]


class Delta(NamedTuple):
    """Newly generated text (stop sequences already removed)."""

    text: str


class Begun(NamedTuple):
    """A guided generation started: its grammar was accepted (sent before any Delta)."""


class Finish(NamedTuple):
    """End of a generation. reason: stop | length | cancelled | error | invalid (the grammar
    was refused; `error` says why)."""

    reason: str
    prompt_tokens: int
    completion_tokens: int
    error: str | None = None
    cached_tokens: int = 0  # prompt tokens whose KV state was reused (see prefix_cache.py)


@dataclass(frozen=True)
class GenerationParams:
    """What to generate. temperature 0 means greedy decoding."""

    prompt_ids: np.ndarray
    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    guidance: tuple[str, str] | None = None  # (json_schema | regex | lark_grammar, grammar)


@dataclass(eq=False)
class Job:
    """One generation. `events` is read on the event loop; the rest belongs to the engine thread."""

    params: GenerationParams
    events: asyncio.Queue[Delta | Finish | Begun] = field(default_factory=asyncio.Queue)
    request: Any = None
    turn_id: int = 0
    stream: Any = None
    stop: StopMatcher = field(init=False)
    generated: int = 0
    token_ids: list[int] = field(default_factory=list)
    reused: int = 0  # prompt tokens taken from a held request
    batch: int = 0  # the engine batch it runs in
    alone: bool = True  # the only request of its batch
    may_reuse: bool = True  # may continue a held request
    delivered: bool = False  # some text has been sent to the event loop
    stopped: bool = False

    def __post_init__(self) -> None:
        self.stop = StopMatcher(self.params.stop)
