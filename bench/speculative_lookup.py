"""Prompt-lookup (n-gram) speculative decoding in onnxruntime-genai 0.18 on CPU, measured raw.

What 0.18 offers, checked on the installed package (run this file to see it again):

* `og.Engine` (what slm-engine serves with): `Request.set_draft_tokens` exists, but a CPU
  static-batching engine reports `max_draft_tokens_per_proposal() == 0` and refuses drafts with
  "This engine does not support speculative draft verification."; the dynamic-batching engine
  needs the paged-attention (CUDA) export. So the server cannot verify drafts on CPU.
* `og.Generator` (one sequence, batch size 1): `GeneratorParams.set_speculative_options(
  ngram_size=N, max_draft_tokens=K)` turns on its built-in n-gram lookup (drafts copied from
  the prompt and the text so far, verified in one forward pass); `Generator.get_speculative_stats`
  reports proposals and acceptances.

This measures the Generator path, greedy, with and without n-gram drafts, on an extraction-style
prompt (the answer copies spans of the prompt) and a free-generation prompt, alternating, and
checks that the tokens are identical.

    .venv/bin/python bench/speculative_lookup.py [--tokens 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime_genai as og

DRAFTS = 4  # draft tokens per round

PROMPTS = {
    "extraction": (
        "Copy every line about valve V7 from this log, word for word.\n"
        + "\n".join(
            f"Line {i}: valve V{i % 9} at pump {i % 4} reported "
            f"{'two partial closures' if i % 2 else 'a full closure'} at {10 + i}:00."
            for i in range(1, 25)
        )
    ),
    "free": "Write a short story about a lighthouse keeper who finds a message in a bottle.",
}


def load(model_dir: Path, threads: int, max_length: int = 2048) -> Any:
    config = og.Config(str(model_dir))
    config.overlay(
        json.dumps(
            {
                "model": {"decoder": {"session_options": {"intra_op_num_threads": threads}}},
                "search": {"max_length": max_length, "num_beams": 1, "min_length": 0},
            }
        )
    )
    return og.Model(config)


def engine_drafts(model: Any, ids: np.ndarray) -> tuple[int, str]:
    """(max_draft_tokens_per_proposal, what set_draft_tokens answers) on this model's og.Engine."""
    engine = og.Engine(model)
    request = engine.create_request()
    turn = og.TurnOptions(request)
    turn.set_max_generated_tokens(4)
    turn.set_do_sample(False)
    request.begin_turn(ids, turn)
    buffer = engine.create_event_buffer(8)
    engine.run(buffer)  # prefill: the request is now ready to decode
    try:
        request.set_draft_tokens(np.asarray(ids[-3:], dtype=np.int32))
        answer = "accepted"
    except Exception as exc:  # og raises RuntimeError with the reason
        answer = f"refused: {exc}"
    while engine.has_pending_requests():
        engine.run(buffer)
    request.close()
    return int(engine.max_draft_tokens_per_proposal()), answer


def generate(
    model: Any, ids: np.ndarray, tokens: int, ngram: int
) -> tuple[list[int], float, dict[str, Any]]:
    """(new tokens, seconds after prefill, speculative stats) of a greedy og.Generator run."""
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(ids) + tokens, do_sample=False)
    if ngram:
        # Chained: a hit proposes up to max_draft_tokens (unchained, 0.18 proposes one token a
        # round and verifies it with two forward passes, which is slower than plain decoding).
        params.set_speculative_options(
            ngram_size=ngram, max_draft_tokens=DRAFTS, ngram_chained_lookup=True
        )
    generator = og.Generator(model, params)
    generator.append_tokens(ids)
    generator.generate_next_token()  # the first token: prefill, the same with or without drafts
    started = time.perf_counter()
    while not generator.is_done():
        generator.generate_next_token()
    seconds = time.perf_counter() - started
    out = [int(t) for t in generator.get_sequence(0)[len(ids) :]]
    return out, seconds, generator.get_speculative_stats() if ngram else {}


def report(
    model_dir: Path,
    threads: int,
    tokens: int,
    count: Callable[[str], int] | None = None,
    rounds: int = 3,
    ngram: int = 3,
) -> None:
    model = load(model_dir, threads)
    tokenizer = og.Tokenizer(model)
    print(
        f"\nprompt-lookup drafts (n-gram {ngram}, chained, up to {DRAFTS} drafts), "
        f"raw og.Generator, {tokens} tokens"
    )
    encoded = {k: tokenizer.encode(f"<|user|>{p}<|end|><|assistant|>") for k, p in PROMPTS.items()}
    limit, answer = engine_drafts(model, encoded["free"])
    print(
        f"og.Engine (the server's path): max_draft_tokens_per_proposal={limit}, "
        f"set_draft_tokens {answer}"
    )
    print(
        f"{'prompt':12} {'tokens':>6} {'plain tok/s':>12} {'n-gram tok/s':>13} {'ratio':>6} "
        f"{'accepted':>9} exact"
    )
    for name, ids in encoded.items():
        plain, spec, accepted, exact = [], [], [], True
        for rnd in range(rounds):
            order = (0, ngram) if rnd % 2 == 0 else (ngram, 0)
            runs = {n: generate(model, ids, tokens, n) for n in order}
            (p_out, p_s, _plain_stats), (s_out, s_s, stats) = runs[0], runs[ngram]
            exact &= p_out == s_out
            plain.append((len(p_out) - 1) / p_s)
            spec.append((len(s_out) - 1) / s_s)
            proposed = stats.get("draft_tokens_proposed", 0)
            accepted.append(stats.get("draft_tokens_accepted", 0) / proposed if proposed else 0.0)
        med = statistics.median
        r = med(s / p for s, p in zip(spec, plain, strict=True))
        print(
            f"{name:12} {len(ids):>6} {med(plain):>12.0f} {med(spec):>13.0f} {r:>6.2f} "
            f"{med(accepted):>9.0%} {'yes' if exact else 'NO'}"
        )


def server_report(model_dir: Path, threads: int, tokens: int, rounds: int = 3) -> None:
    """The same through the server: SLM_PROMPT_LOOKUP_DRAFTS=DRAFTS against 0, alternating."""
    import engine_vs_llamacpp as evl  # the bench's server launcher and client

    env = {"SLM_MODEL_DIR": str(model_dir), "SLM_MODEL_ID": evl.MODEL, "SLM_HOST": "127.0.0.1",
           "SLM_THREADS": str(threads), "SLM_LOG_LEVEL": "warning"}  # fmt: skip
    argv = [sys.executable, "-m", "slm_engine", "serve"]
    servers = []
    try:
        for name, drafts in (("slm-drafts", DRAFTS), ("slm-plain", 0)):
            port = evl._free_port()
            servers.append(evl.Server(name, argv, {**env, "SLM_PORT": str(port),
                                      "SLM_PROMPT_LOOKUP_DRAFTS": str(drafts)}, port))  # fmt: skip
        print(f"\nserver, SLM_PROMPT_LOOKUP_DRAFTS={DRAFTS} / 0, {tokens} tokens, greedy")
        print(f"{'prompt':12} {'TTFT ratio':>10} {'decode ratio':>13} same text  (streamed)")
        for name, prompt in PROMPTS.items():
            messages = [{"role": "user", "content": prompt}]
            ttft: dict[str, list[float]] = {s.name: [] for s in servers}
            rate: dict[str, list[float]] = {s.name: [] for s in servers}
            texts: dict[str, set[str]] = {s.name: set() for s in servers}
            for rnd in range(rounds):
                for s in servers if rnd % 2 == 0 else servers[::-1]:
                    time.sleep(0.5)
                    first, last, n = s.streamed(messages, tokens)
                    ttft[s.name].append(first)
                    rate[s.name].append((n - 1) / (last - first))
                    _ttft, body = s.chat(messages, tokens)
                    texts[s.name].add(body["choices"][0]["message"]["content"])
            a, b = (s.name for s in servers)
            same = texts[a] == texts[b] and len(texts[a]) == 1
            t_ratio = evl.paired_median(ttft[a], ttft[b])
            d_ratio = evl.paired_median(rate[a], rate[b])
            print(f"{name:12} {t_ratio:>10.2f} {d_ratio:>13.2f} {'yes' if same else 'NO'}")
    finally:
        for s in servers:
            s.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ngram", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fixtures"))
    import model_cache

    model_dir, _built = model_cache.built_model("bench", variant="compact")
    report(model_dir, args.threads, args.tokens, rounds=args.rounds, ngram=args.ngram)
    server_report(model_dir, args.threads, args.tokens, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
