"""Prompt-lookup speculative decoding (SLM_PROMPT_LOOKUP_DRAFTS) for greedy requests that run alone.

Drafts are copied from the text seen so far: when the last NGRAM tokens occurred earlier in the
prompt or the reply, the tokens that followed them there are proposed, and one forward pass over
them keeps the longest run the model itself would have chosen, plus its own next token. Output
is exactly the greedy output without drafts; replies that copy spans of the prompt (summaries,
extraction, code edits) take fewer forward passes.

onnxruntime-genai 0.18 verifies drafts only in `og.Generator` (one sequence:
`GeneratorParams.set_speculative_options(ngram_size, max_draft_tokens, ngram_chained_lookup)`).
Its `og.Engine`, which the server batches through, has `Request.set_draft_tokens`, but a CPU
(static batching) engine reports `max_draft_tokens_per_proposal() == 0` and refuses drafts
("This engine does not support speculative draft verification"); bench/speculative_lookup.py
shows both. So a lookup generation runs on its own og.Generator, in the engine thread, when a
static batch would hold just that request: greedy, no grammar, no held conversation to continue.
Requests that arrive meanwhile wait for it, as they wait for any running static batch.

Costs when on: og.Generator's steps hold the GIL (og.Engine's release it), so the event loop
answers other requests between steps only; its prompt is computed in one call (also holding the
GIL); its KV state is not kept for the next turn. Off (0, the default), it costs one comparison
per batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime_genai as og

from .generator_steps import GeneratorSteps

NGRAM = 3  # tokens matched against the text so far to find a draft


class LookupGeneration(GeneratorSteps):
    """One greedy generation on an og.Generator with n-gram (prompt-lookup) drafts."""

    def __init__(
        self, model: Any, prompt_ids: np.ndarray, max_new_tokens: int, drafts: int
    ) -> None:
        params = og.GeneratorParams(model)
        params.set_search_options(
            max_length=len(prompt_ids) + max_new_tokens, do_sample=False, num_beams=1
        )
        # Chained: a hit proposes up to `drafts` tokens. Unchained, 0.18 proposes one token a
        # round and verifies it with two forward passes: slower than no drafts (measured).
        params.set_speculative_options(
            ngram_size=NGRAM, max_draft_tokens=drafts, ngram_chained_lookup=True
        )
        self.max_new_tokens = max_new_tokens
        self._generator = og.Generator(model, params)
        self._generator.append_tokens(np.asarray(prompt_ids, dtype=np.int32))
        self._seen = len(prompt_ids)
        self.generated = 0

    def accepted(self) -> int:
        """Draft tokens accepted so far."""
        return int(self._generator.get_speculative_stats().get("draft_tokens_accepted", 0))

    def close(self) -> None:
        self._generator = None
