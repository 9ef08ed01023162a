"""How much of the shared-system-prompt TTFT gap could og.Generator.rewind_to close? (issue 15)

slm-engine's prefix reuse continues a held og.Engine request only with tokens that extend its
whole sequence (the next turn): og.Engine rewinds only to the start of a turn, and every turn
generates, so the same system prompt with another question, or the same prompt again, is
computed in full (bench/engine_vs_llamacpp.py measures 12x and 300x llama.cpp's TTFT there).
og.Generator (one sequence) has `rewind_to(length)`: a generator that computed a prompt can be
cut back to the shared prefix and given the new tokens. This measures, raw and single-stream on
the bench model, the time to the first token of a new question after a ~1k-token system prompt:
full prefill vs rewind-and-append, and checks that the first tokens are the same.

    .venv/bin/python bench/generator_rewind.py [--rounds 3] [--prefix-tokens 1024]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime_genai as og

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "tests" / "fixtures")]
import engine_vs_llamacpp as evl  # noqa: E402
import model_cache  # noqa: E402
import speculative_lookup  # noqa: E402


def first_tokens(generator: og.Generator, ids: np.ndarray, n: int = 8) -> tuple[float, list[int]]:
    """(seconds to the first token, the first n tokens) after appending `ids`."""
    started = time.perf_counter()
    generator.append_tokens(ids)
    generator.generate_next_token()
    seconds = time.perf_counter() - started
    for _step in range(n - 1):
        generator.generate_next_token()
    return seconds, [int(t) for t in generator.get_sequence(0)[-n:]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prefix-tokens", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    model_dir, _built = model_cache.built_model("bench", variant="compact")
    model = speculative_lookup.load(model_dir, args.threads)
    tokenizer = og.Tokenizer(model)

    def count(text: str) -> int:
        return len(tokenizer.encode(text))

    system = evl.long_prompt(count, args.prefix_tokens)
    prefix = tokenizer.encode(f"<|system|>{system}<|end|>")
    full, cut, same = [], [], True
    for rnd in range(args.rounds):
        old, new = evl.QUESTIONS[rnd % 4], evl.QUESTIONS[(rnd + 1) % 4]
        question = tokenizer.encode(f"<|user|>{new}<|end|><|assistant|>")
        params = og.GeneratorParams(model)
        params.set_search_options(max_length=len(prefix) + 256, do_sample=False)
        fresh = og.Generator(model, params)
        t_full, expected = first_tokens(fresh, np.concatenate([prefix, question]))
        held = og.Generator(model, params)  # answered `old` after the same system prompt
        held.append_tokens(np.concatenate([prefix, tokenizer.encode(f"<|user|>{old}<|end|>")]))
        held.generate_next_token()
        held.rewind_to(len(prefix))
        t_cut, got = first_tokens(held, question)
        full.append(t_full)
        cut.append(t_cut)
        same &= got == expected
        print(f"  round {rnd + 1}: full {t_full * 1000:.0f} ms, rewind {t_cut * 1000:.0f} ms")
    ratio = statistics.median(c / f for c, f in zip(cut, full, strict=True))
    print(
        f"{len(prefix)}-token system prompt, new question: rewind+append / full prefill = "
        f"{ratio:.3f} (median of {args.rounds}); same first 8 tokens: {'yes' if same else 'NO'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
