"""Find marker strings in text that arrives in pieces, without emitting a marker's first half.

Used for OpenAI `stop` sequences (the CPU engine has no native stop strings) and for spotting the
start of a tool call while streaming.
"""

from __future__ import annotations

from collections.abc import Iterable


class NeedleScanner:
    """Incremental search for the earliest occurrence of any of several needles.

    `feed` returns the text that can be released now: everything before a found needle, or,
    while none is found, everything except a tail that could still become the start of a needle.
    """

    def __init__(self, needles: Iterable[str]) -> None:
        self.needles = tuple(n for n in dict.fromkeys(needles) if n)
        self._pending = ""
        self.found: str | None = None
        self.after = ""  # text that followed the needle, in the piece where it was found

    def feed(self, piece: str) -> str:
        """Add text; returns what is safe to release. After a match, returns ''."""
        if self.found is not None:
            self.after += piece
            return ""
        text = self._pending + piece
        hit, where = None, len(text)
        for needle in self.needles:
            i = text.find(needle)
            if i != -1 and i < where:
                hit, where = needle, i
        if hit is not None:
            self.found, self.after, self._pending = hit, text[where + len(hit) :], ""
            return text[:where]
        keep = self._partial_tail(text)
        self._pending = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        """Release the held-back tail (call when the text ends)."""
        out, self._pending = self._pending, ""
        return out

    def _partial_tail(self, text: str) -> int:
        """Length of the longest suffix of text that is a proper prefix of some needle."""
        best = 0
        for needle in self.needles:
            for k in range(min(len(needle) - 1, len(text)), best, -1):
                if text.endswith(needle[:k]):
                    best = k
                    break
        return best


class StopMatcher(NeedleScanner):
    """OpenAI `stop` handling: text up to (excluding) the first stop sequence."""

    @property
    def matched(self) -> bool:
        """True once a stop sequence has been seen."""
        return self.found is not None
