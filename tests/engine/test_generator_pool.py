"""Shared-prefix reuse on pooled og.Generators (SLM_PREFIX_GENERATORS_MIB, generator_pool.py):
greedy output equals output without reuse, requests never share a Generator, the budget evicts
the least recently used, and /metrics counts reused vs computed prompt tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import (
    MODEL_ID,
    RunningServer,
    servers_with_and_without,
    start_server,
    stop_server,
)
from slm_engine.generator_pool import MIN_SHARED, GeneratorPool
from test_concurrency import AUTH, metric

# The tiny model: 4096 tokens x 1 KiB of KV per token = 4 MiB per idle Generator.
SYSTEM = "You answer questions about pumps and valves on a water network. " * 12
QUESTIONS = ("What does valve V2 do?", "Write a short story about a pump.", "Hello", "Why?")
REUSED = "slm_engine_prompt_tokens_reused_total"
COMPUTED = "slm_engine_prompt_tokens_computed_total"


def body(system: str, question: str, max_tokens: int = 24, **fields: object) -> dict[str, object]:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    return {
        "model": MODEL_ID,
        "messages": messages,
        "temperature": 0,
        "max_tokens": max_tokens,
        **fields,
    }


def ask(client: httpx.Client, system: str, question: str, **fields: object) -> tuple[str, int]:
    """(reply, prompt tokens)"""
    out = client.post("/v1/chat/completions", json=body(system, question, **fields))
    assert out.status_code == 200, out.text
    data = out.json()
    return str(data["choices"][0]["message"]["content"]), int(data["usage"]["prompt_tokens"])


@pytest.fixture(scope="module")
def servers(
    tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, RunningServer]]:
    """(server with 2 pooled Generators, server without), the same model otherwise."""
    yield from servers_with_and_without(tiny_model, tmp_path_factory.mktemp("pool"), SLM_PREFIX_GENERATORS_MIB="8")


def test_shared_system_prompt_and_same_prompt_are_exact_and_counted(servers) -> None:
    pooled, plain = servers
    with pooled.client() as r, plain.client() as p:
        expected = [ask(p, SYSTEM, q)[0] for q in QUESTIONS]
        assert any(expected), "the plain server generated nothing to compare"
        first, _reused = ask(r, SYSTEM, QUESTIONS[0])
        assert first == expected[0]
        for question, reply in zip(QUESTIONS[1:], expected[1:], strict=True):
            before = metric(pooled, REUSED), metric(pooled, COMPUTED)
            got, prompt = ask(r, SYSTEM, question)
            assert got == reply, question  # same system prompt, another question
            reused = metric(pooled, REUSED) - before[0]
            assert reused >= len(SYSTEM) // 8, (question, reused)  # the system prompt at least
            assert metric(pooled, COMPUTED) - before[1] == prompt - reused
        before = metric(pooled, REUSED), metric(pooled, COMPUTED)
        reuses = metric(pooled, "slm_engine_prefix_generator_reuses_total")
        again, prompt = ask(r, SYSTEM, QUESTIONS[-1])  # the same prompt again
        assert again == expected[-1]
        assert metric(pooled, REUSED) - before[0] == prompt - 1  # only its last token computed
        assert metric(pooled, COMPUTED) - before[1] == 1
        assert metric(pooled, "slm_engine_prefix_generator_reuses_total") == reuses + 1
        one_token = ask(p, SYSTEM, QUESTIONS[1], max_tokens=1)[0]
        assert ask(r, SYSTEM, QUESTIONS[1], max_tokens=1)[0] == one_token
        for i in range(3):  # unrelated prompts get new Generators, up to the budget
            ask(r, f"{i} {SYSTEM}", QUESTIONS[0])
    assert metric(pooled, "slm_engine_prefix_generators") == 2  # the budget: 8 MiB / 4 MiB
    assert metric(plain, "slm_engine_prefix_generator_generations_total") == 0
    assert metric(plain, REUSED) == 0


def test_sampling_and_structured_outputs_stay_on_the_engine(servers) -> None:
    pooled, _plain = servers
    before = metric(pooled, "slm_engine_prefix_generator_generations_total")
    with pooled.client() as r:
        sampled = r.post("/v1/chat/completions", json=body(SYSTEM, "Hi", 8, temperature=0.8))
        assert sampled.status_code == 200, sampled.text
        schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
        fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
        guided = r.post("/v1/chat/completions", json=body(SYSTEM, "A?", 16, response_format=fmt))
        assert guided.status_code == 200, guided.text
    assert metric(pooled, "slm_engine_prefix_generator_generations_total") == before


def test_concurrent_requests_never_share_a_generator(servers) -> None:
    pooled, plain = servers
    prompts = [f"{QUESTIONS[i % 4]} ({i})" for i in range(8)]
    with plain.client() as p:
        expected = [ask(p, SYSTEM, prompt)[0] for prompt in prompts]
        long_reply = ask(p, SYSTEM, prompts[0], max_tokens=400)[0]

    async def run() -> list[str]:
        async with httpx.AsyncClient(base_url=pooled.url, headers=AUTH, timeout=120) as http:

            async def one(prompt: str, max_tokens: int = 24) -> str:
                payload = body(SYSTEM, prompt, max_tokens)
                out = await http.post("/v1/chat/completions", json=payload)
                assert out.status_code == 200, out.text
                return str(out.json()["choices"][0]["message"]["content"])

            # a long one alone on a pooled Generator; the others arrive while it generates
            first = asyncio.create_task(one(prompts[0], 400))
            await asyncio.sleep(0.05)  # past the batch window
            rest = await asyncio.gather(*(one(prompt) for prompt in prompts))
            return [await first, *rest]

    pooled_runs = metric(pooled, "slm_engine_prefix_generator_generations_total")
    assert asyncio.run(run()) == [long_reply, *expected]
    assert asyncio.run(run()) == [long_reply, *expected]
    assert metric(pooled, "slm_engine_prefix_generator_generations_total") > pooled_runs
    reuses = metric(pooled, "slm_engine_prefix_generator_reuses_total")
    with pooled.client() as r:  # and alone again afterwards: every one continues SYSTEM
        assert [ask(r, SYSTEM, prompt)[0] for prompt in prompts] == expected
    assert metric(pooled, "slm_engine_prefix_generator_reuses_total") - reuses == len(prompts)


def test_a_tiny_budget_evicts_the_least_recently_used(
    tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    log = tmp_path_factory.mktemp("pool-lru") / "server.log"
    server = start_server(tiny_model, log, SLM_PREFIX_GENERATORS_MIB="4")  # one Generator
    try:
        other = "You are a terse assistant for a greenhouse controller. " * 12
        with server.client() as client:
            ask(client, SYSTEM, QUESTIONS[0])
            ask(client, other, QUESTIONS[0])  # displaces SYSTEM's Generator
            assert metric(server, "slm_engine_prefix_generators") == 1
            before = metric(server, REUSED)
            ask(client, SYSTEM, QUESTIONS[1])  # shares only the chat template's first tokens
            assert metric(server, REUSED) == before
            ask(client, SYSTEM, QUESTIONS[2])
            assert metric(server, REUSED) - before >= len(SYSTEM) // 8
            assert metric(server, "slm_engine_prefix_generators") == 1
    finally:
        stop_server(server)


class FakeGenerator:
    """Stands in for an og.Generator in the pool's bookkeeping."""


def test_pool_takes_the_longest_shared_prefix_exclusively_and_evicts_lru() -> None:
    pool = GeneratorPool(max_generators=2)
    a, b, c = FakeGenerator(), FakeGenerator(), FakeGenerator()
    base = np.arange(100, 100 + 2 * MIN_SHARED, dtype=np.int32)
    pool.put(a, base[:MIN_SHARED])
    pool.put(b, np.concatenate([base, [7, 7]]).astype(np.int32))
    prompt = np.concatenate([base, [8]]).astype(np.int32)
    assert pool.longest(prompt) == len(base)
    assert pool.take(prompt) == (b, len(base))  # longest shared prefix, taken out
    assert len(pool) == 1 and pool.take(prompt) == (a, MIN_SHARED)
    assert pool.take(prompt) is None  # nothing left: exclusive
    pool.put(a, base)
    assert pool.take(base) == (a, len(base) - 1)  # the same prompt: its last token is computed
    pool.put(a, base)
    assert pool.take(np.concatenate([base[: MIN_SHARED - 1], [1] * 40]).astype(np.int32)) is None
    pool.put(b, base)
    pool.put(c, base)  # over budget: a (least recently used) goes
    assert len(pool) == 2 and pool.take(base)[0] is b and pool.take(base)[0] is c


def test_shared_prefix_reuse_is_off_by_default_and_bounded(tiny_model: Path) -> None:
    from slm_engine.config import ConfigError, load_config

    env = {"SLM_MODEL_DIR": str(tiny_model)}
    assert load_config(env).prefix_generators == 0
    assert load_config({**env, "SLM_PREFIX_GENERATORS_MIB": "9"}).prefix_generators == 2
    with pytest.raises(ConfigError) as info:
        load_config({**env, "SLM_PREFIX_GENERATORS_MIB": "-1"})
    assert info.value.problems == [
        (
            "SLM_PREFIX_GENERATORS_MIB: got '-1', allowed an integer from 0 to 1048576 "
            "(0 turns shared-prefix reuse off)"
        )
    ]
