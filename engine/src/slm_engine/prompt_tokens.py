"""Prompt tokenization that keeps request text from turning into control tokens.

A rendered prompt is a list of segments: the chat template's own markup (``<|user|>``,
``<|end|>``...) is trusted and tokenized with special tokens recognised; everything that came
from the request (message content, tool definitions, arguments, the /reasoning prompt) is not.
In untrusted text every occurrence of a special or added token's text is split before its first
character, so the tokenizer sees only ordinary text: a user who types ``<|end|><|system|>`` gets
the characters, never the control tokens. Text without such occurrences is tokenized exactly as
before (the tokenizer isolates added tokens before it splits words, so tokenizing the pieces
between them one by one is what it does for the whole string).

The tokenizer holds the GIL for the whole call (about 50 ms per MiB), so the caller runs this in
a worker thread and a cheap bound refuses text that cannot fit before any of it is tokenized:
no token covers more bytes than the longest entry of the vocabulary.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

log = logging.getLogger(__name__)


class Segment(NamedTuple):
    """A piece of a rendered prompt; `trusted` pieces may contain control tokens."""

    text: str
    trusted: bool


class TokenizerInfo(NamedTuple):
    """What tokenizer.json / tokenizer_config.json say about special tokens and token sizes."""

    special_tokens: frozenset[str]
    max_token_bytes: int | None  # None: unknown (or a normalizer may shrink the text)


def read_tokenizer_info(model_dir: Path) -> TokenizerInfo:
    """Added/special token texts and the longest vocabulary entry in UTF-8 bytes."""
    special: set[str] = set()
    longest: int | None = None
    try:
        data = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
        special.update(t["content"] for t in data.get("added_tokens") or [] if t.get("content"))
        vocab: Any = (data.get("model") or {}).get("vocab")
        pieces = vocab.keys() if isinstance(vocab, dict) else [v[0] for v in vocab or []]
        if pieces and data.get("normalizer") is None:
            longest = max(len(str(p).encode("utf-8")) for p in pieces)
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        log.warning("cannot read %s/tokenizer.json (%s): no prompt size bound", model_dir, exc)
    try:
        config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
        decoder = config.get("added_tokens_decoder") or {}
        special.update(t["content"] for t in decoder.values() if t.get("content"))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass
    return TokenizerInfo(frozenset(special), longest)


class PromptTooLong(Exception):
    """The untrusted text alone needs more tokens than allowed (raised before tokenizing)."""

    def __init__(self, min_tokens: int) -> None:
        super().__init__(min_tokens)
        self.min_tokens = min_tokens


class PromptEncoder:
    """Turns prompt segments into token ids; thread-safe as far as the tokenizer is."""

    def __init__(self, tokenizer: Any, info: TokenizerInfo) -> None:
        self._tokenizer = tokenizer
        self.special_tokens = info.special_tokens
        self.max_token_bytes = info.max_token_bytes
        texts = sorted((t for t in info.special_tokens if len(t) > 1), key=len, reverse=True)
        self._special = re.compile("|".join(map(re.escape, texts))) if texts else None
        # Ids a tokenizer adds to every call (a BOS token): kept once, at the start.
        self._per_call = [int(i) for i in tokenizer.encode("")]

    def _encode(self, text: str) -> list[int]:
        ids = [int(i) for i in self._tokenizer.encode(text)]
        n = len(self._per_call)
        return ids[n:] if n and ids[:n] == self._per_call else ids

    def plain(self, text: str) -> list[int]:
        """Ids of `text` as ordinary text: special-token texts in it become ordinary tokens."""
        if self._special is None:
            return self._encode(text) if text else []
        ids: list[int] = []
        pos = 0
        for match in self._special.finditer(text):
            if match.start() > pos:
                ids += self._encode(text[pos : match.start()])
            token = match.group()
            ids += self._encode(token[0]) + self.plain(token[1:])
            pos = match.end()
        if pos < len(text):
            ids += self._encode(text[pos:])
        return ids

    def min_tokens(self, segments: Iterable[Segment]) -> int:
        """A lower bound of the prompt's length in tokens, from byte counts alone (0: unknown)."""
        if not self.max_token_bytes:
            return 0
        untrusted = sum(len(s.text.encode("utf-8")) for s in segments if not s.trusted)
        return math.ceil(untrusted / self.max_token_bytes)

    def encode(self, segments: Sequence[Segment], max_tokens: int) -> np.ndarray:
        """Token ids of the prompt; PromptTooLong, before any tokenizing, when the bound says
        that it cannot fit in `max_tokens`."""
        bound = self.min_tokens(segments)
        if bound > max_tokens:
            raise PromptTooLong(bound)
        ids = list(self._per_call)
        for segment in segments:
            if segment.text:
                ids += self._encode(segment.text) if segment.trusted else self.plain(segment.text)
        return np.asarray(ids, dtype=np.int32)
