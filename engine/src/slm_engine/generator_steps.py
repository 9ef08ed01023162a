"""Greedy decoding on one og.Generator, a forward pass at a time: what the two paths that run a
request alone on its own og.Generator (generator_pool.py, lookup_decoding.py) share."""

from __future__ import annotations

from typing import Any


class GeneratorSteps:
    """Steps of one greedy generation; subclasses create `_generator` and append the prompt.

    `_seen` is the length of the sequence already handed out (the prompt at first), `generated`
    the tokens produced so far, capped at `max_new_tokens`.
    """

    _generator: Any
    _seen: int
    generated: int
    max_new_tokens: int

    @property
    def done(self) -> bool:
        return bool(self._generator.is_done()) or self.generated >= self.max_new_tokens

    def step(self) -> list[int]:
        """One forward pass: the tokens it produced (one, or several when drafts were accepted)."""
        self._generator.generate_next_token()
        sequence = self._generator.get_sequence(0)
        new = [int(t) for t in sequence[self._seen :]][: self.max_new_tokens - self.generated]
        self._seen = len(sequence)
        self.generated += len(new)
        return new
