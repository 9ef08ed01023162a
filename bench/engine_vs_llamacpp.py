"""slm-engine against llama.cpp, side by side on one machine, on the same checkpoint (issue 15).

The >= 50 M-parameter bench Phi-3 fixture (tests/fixtures/, cached under .cache/) is served twice:
by `slm-engine serve` on its int4 compact export, and by llama-cpp-python's server on the same
checkpoint converted to GGUF Q4_0 (bench/llamacpp_setup.py builds llama-cpp-python into its own
venv under .cache/llamacpp/ on first use, about 6 minutes). Both get the same threads and
context. Both servers run at once and every measurement alternates between them within a round
(which goes first alternates too), so the machine's load, which changes from minute to minute on
a shared machine, hits both alike; ratios are medians of per-round ratios.

Measured, all greedy, non-streaming (the same client code for both servers):

* decode tok/s, single stream: (n - 1) / (t(n tokens) - t(1 token)) on one short prompt;
* TTFT = latency of a 1-token request: on unique ~1k-token prompts; on the next turn of a
  conversation whose first turn had a ~1k-token system prompt (slm-engine's prefix KV reuse);
  on the same system prompt with another question; and on the same prompt sent again;
* aggregate completion tok/s with 1/4/8 clients sending requests back to back;
* resident memory (VmRSS now, VmHWM peak) of each server process.

    nice -n 10 .venv/bin/python bench/engine_vs_llamacpp.py [--rounds 3] [--tokens 64]
        [--prefix-tokens 1024] [--threads 2] [--speculative] [--prefix-generators-mib 256]

`--prefix-generators-mib` turns on slm-engine's shared-prefix reuse (SLM_PREFIX_GENERATORS_MIB,
engine/src/slm_engine/generator_pool.py), which serves the shared-system-prompt and same-prompt
rows; the report then says how many prompt tokens it reused there.

On a machine whose load average is well over its core count (a shared CI or development box),
llama.cpp's multi-threaded decode collapses: its threads meet at spin barriers many times per
token, and one descheduled thread stalls the other (measured here at load 12-16 on 2 cores:
6-15 tok/s single stream with 2 threads, 60-85 tok/s with 1, and fast again whenever other
requests were queued). onnxruntime's thread pool degrades far less. Read the load average
printed with the table; on a busy machine, compare at `--threads 1` as well.

`--speculative` adds onnxruntime-genai's prompt-lookup (n-gram) drafts, raw, in this process:
bench/speculative_lookup.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests" / "fixtures"))
sys.path.insert(0, str(BENCH))
import llamacpp_setup  # noqa: E402
import model_cache  # noqa: E402
from ports import free_port  # noqa: E402

MODEL = "bench-phi3"
QUESTIONS = (
    "Which valve needs attention first, and why?",
    "Summarise the pump readings in one sentence.",
    "List the alarms that were raised twice.",
    "What should the night shift check before midnight?",
)
# (row, kind, target text, predicate on the slm-engine / llama.cpp ratio)
TARGETS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "ttft": ("<= 1.0", lambda r: r <= 1.0),
    "ttft_reuse": ("<= 2.0", lambda r: r <= 2.0),
    "decode": (">= 1.0", lambda r: r >= 1.0),
    "memory": ("<= 1.1", lambda r: r <= 1.1),
    "scale": (">= 2.0", lambda r: r >= 2.0),
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians)")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens for decode/aggregate")
    parser.add_argument("--prefix-tokens", type=int, default=1024, help="long prompt size")
    parser.add_argument("--threads", type=int, default=2, help="threads of each server")
    parser.add_argument("--context", type=int, default=2048, help="context of each server")
    parser.add_argument("--levels", default="1,4,8", help="client counts for aggregate")
    parser.add_argument(
        "--cache", type=Path, default=REPO / ".cache" / "llamacpp", help="llama.cpp venv, GGUF"
    )
    parser.add_argument("--speculative", action="store_true", help="also n-gram drafts, raw")
    parser.add_argument(
        "--prefix-generators-mib",
        type=int,
        default=0,
        help="slm-engine's SLM_PREFIX_GENERATORS_MIB (shared-prefix reuse; 0: off)",
    )
    args = parser.parse_args(argv)
    try:
        args.levels = [int(x) for x in args.levels.split(",")]
    except ValueError:
        parser.error(f"--levels: got {args.levels!r}, allowed comma-separated integers like 1,4,8")
    if args.prefix_generators_mib < 0:
        parser.error(f"--prefix-generators-mib: got {args.prefix_generators_mib}, allowed >= 0")
    for name in ("rounds", "tokens", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name}: got {getattr(args, name)}, allowed an integer >= 1")
    if args.tokens < 2:
        parser.error("--tokens: at least 2 (decode is measured between token 1 and the last)")
    if min(args.levels) < 1:
        parser.error(f"--levels: got {args.levels}, every client count must be >= 1")
    if args.prefix_tokens + args.tokens + 64 > args.context:
        parser.error(
            f"--prefix-tokens {args.prefix_tokens} + --tokens {args.tokens} + 64 for the questions "
            f"must fit in --context {args.context}"
        )
    return args


def ratio(a: float, b: float) -> float:
    """a / b, inf when b is 0 (a server that produced nothing)."""
    return a / b if b else float("inf")


def paired_median(a: Sequence[float], b: Sequence[float]) -> float:
    """Median over rounds of a[i] / b[i]: each pair shares its round's machine load."""
    if len(a) != len(b) or not a:
        raise ValueError(f"need equally many measurements on both sides, got {len(a)} and {len(b)}")
    return statistics.median(ratio(x, y) for x, y in zip(a, b, strict=True))


def verdict(kind: str, value: float) -> str:
    target, ok = TARGETS[kind]
    return f"{target:>7}  {'met' if ok(value) else 'MISSED'}"


def table(rows: Sequence[tuple[str, str, str, str, str]]) -> str:
    """Fixed-width text: metric, slm-engine, llama.cpp, ratio, target and verdict."""
    head = ("", "slm-engine", "llama.cpp", "ratio", "target")
    lines = [f"{head[0]:46} {head[1]:>11} {head[2]:>11} {head[3]:>7}  {head[4]}"]
    lines += [f"{m:46} {s:>11} {c:>11} {r:>7}  {t}" for m, s, c, r, t in rows]
    return "\n".join(lines)


def long_prompt(count: Callable[[str], int], tokens: int, nonce: str = "") -> str:
    """A maintenance log of about `tokens` tokens (by `count`), optionally starting with a nonce
    so that no server can reuse another prompt's prefix."""
    lines = [f"Log {nonce}." if nonce else "Maintenance log of gateway 7."]
    i = 0
    while count("\n".join(lines)) < tokens:
        i += 1
        lines.append(
            f"Entry {i}: pump {i % 5} pressure {3 + (i * 7) % 20 / 10:.1f} bar, valve V{i % 9} "
            f"{'closed' if i % 3 else 'open'}, temperature {40 + i % 17} C, alarm {i % 4}."
        )
    return "\n".join(lines)


def resident_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _sep, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


class Server:
    """An OpenAI-compatible server subprocess and a client for it."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int) -> None:
        self.name, self.url = name, f"http://127.0.0.1:{port}"
        self.log = open(REPO / ".cache" / f"bench-{name}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.client = httpx.Client(base_url=self.url, timeout=600)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited ({self.process.returncode}); see {self.log.name}"
                )
            try:
                if self.client.get("/v1/models").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{name} did not answer within 180 s; see {self.log.name}")

    def chat(self, messages: list[dict[str, str]], tokens: int) -> tuple[float, dict[str, Any]]:
        """(seconds, response JSON) of a greedy non-streaming request."""
        body = {"model": MODEL, "messages": messages, "max_tokens": tokens, "temperature": 0}
        started = time.perf_counter()
        response = self.client.post("/v1/chat/completions", json=body)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{self.name}: {response.status_code} {response.text[:300]}")
        return elapsed, response.json()

    def streamed(self, messages: list[dict[str, str]], tokens: int) -> tuple[float, float, int]:
        """(first content event, last content event, completion tokens) of a streamed request,
        times in seconds from sending it; slm-engine only (its usage chunk gives the count)."""
        body = {"model": MODEL, "messages": messages, "max_tokens": tokens, "temperature": 0,
                "stream": True, "stream_options": {"include_usage": True}}  # fmt: skip
        first = last = 0.0
        count = 0
        started = time.perf_counter()
        with self.client.stream("POST", "/v1/chat/completions", json=body) as response:
            for line in response.iter_lines():
                now = time.perf_counter() - started
                if line.startswith('data: {"id"'):
                    event = json.loads(line[6:])
                    if event["choices"] and event["choices"][0]["delta"].get("content"):
                        first, last = first or now, now
                    if event.get("usage"):
                        count = int(event["usage"]["completion_tokens"])
        return first, last, count

    def aggregate(self, clients: int, tokens: int, per_client: int = 2) -> float:
        """Completion tokens/s with `clients` clients sending requests back to back."""

        async def client(http: httpx.AsyncClient, k: int) -> int:
            done = 0
            for j in range(per_client):
                body = {
                    "model": MODEL,
                    "max_tokens": tokens,
                    "temperature": 0,
                    "messages": [{"role": "user", "content": f"{QUESTIONS[(k + j) % 4]} {k}"}],
                }
                r = await http.post("/v1/chat/completions", json=body)
                r.raise_for_status()
                done += int(r.json()["usage"]["completion_tokens"])
            return done

        async def run() -> float:
            async with httpx.AsyncClient(base_url=self.url, timeout=600) as http:
                started = time.perf_counter()
                total = sum(await asyncio.gather(*(client(http, k) for k in range(clients))))
                return total / (time.perf_counter() - started)

        return asyncio.run(run())

    def metric(self, name: str) -> float:
        """A Prometheus counter from /metrics (slm-engine only), 0 when absent."""
        for line in self.client.get("/metrics").text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def close(self) -> None:
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@dataclass
class Results:
    """Per-round measurements of one server."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, value: float) -> None:
        self.values.setdefault(key, []).append(value)


def measure_round(
    s: Server, r: Results, args: argparse.Namespace, count: Callable[[str], int], rnd: int
) -> None:
    """One round of every single-stream measurement on one server."""
    tag = f"{s.name}-{rnd}"
    short = [{"role": "user", "content": QUESTIONS[0]}]
    s.chat(short, 1)  # llama.cpp now holds this prompt: both sides then pay only its decode
    t1, _body = s.chat(short, 1)
    tn, body = s.chat(short, args.tokens)
    r.add("decode", (body["usage"]["completion_tokens"] - 1) / (tn - t1))

    unique = long_prompt(count, args.prefix_tokens, nonce=f"{tag}-unique")
    t, body = s.chat([{"role": "user", "content": unique}], 1)
    r.add("ttft_unique", t)
    r.add("prompt_tokens", body["usage"]["prompt_tokens"])

    system = long_prompt(count, args.prefix_tokens, nonce=f"{tag}-conversation")
    first = [{"role": "system", "content": system}, {"role": "user", "content": QUESTIONS[1]}]
    _ttft, body = s.chat(first, 16)
    reply = body["choices"][0]["message"]["content"] or ""
    reused_before = s.metric("slm_engine_prompt_tokens_reused_total")
    nxt = [
        *first,
        {"role": "assistant", "content": reply},
        {"role": "user", "content": QUESTIONS[2]},
    ]
    t, _body = s.chat(nxt, 1)
    r.add("ttft_next_turn", t)
    r.add("reused_tokens", s.metric("slm_engine_prompt_tokens_reused_total") - reused_before)

    reused_before = s.metric("slm_engine_prompt_tokens_reused_total")
    t, _body = s.chat(
        [{"role": "system", "content": system}, {"role": "user", "content": QUESTIONS[3]}], 1
    )
    r.add("ttft_shared_system", t)
    r.add("reused_shared", s.metric("slm_engine_prompt_tokens_reused_total") - reused_before)

    again = [{"role": "user", "content": long_prompt(count, args.prefix_tokens, f"{tag}-again")}]
    s.chat(again, 1)
    reused_before = s.metric("slm_engine_prompt_tokens_reused_total")
    t, _body = s.chat(again, 1)
    r.add("ttft_same_again", t)
    r.add("reused_again", s.metric("slm_engine_prompt_tokens_reused_total") - reused_before)


def settled(run: Callable[..., Any], *a: Any) -> Any:
    time.sleep(0.5)  # let the other server's idle threads stop spinning
    return run(*a)


def start_servers(
    args: argparse.Namespace, model_dir: Path, gguf: Path, llama_python: Path
) -> tuple[Server, Server]:
    slots = max(args.levels)
    slm = Server(
        "slm-engine",
        [sys.executable, "-m", "slm_engine", "serve"],
        {
            "SLM_MODEL_DIR": str(model_dir),
            "SLM_MODEL_ID": MODEL,
            "SLM_HOST": "127.0.0.1",
            "SLM_PORT": str(port := free_port()),
            "SLM_THREADS": str(args.threads),
            "SLM_MAX_CONCURRENCY": str(slots),
            "SLM_QUEUE_SIZE": "64",
            "SLM_MAX_LENGTH": str(args.context),
            "SLM_PREFIX_CACHE_MIB": "256",
            "SLM_PREFIX_GENERATORS_MIB": str(args.prefix_generators_mib),
            "SLM_LOG_LEVEL": "warning",
        },
        port,
    )
    llama = Server(
        "llama.cpp",
        [
            str(llama_python),
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf),
            "--model_alias",
            MODEL,
            "--host",
            "127.0.0.1",
            "--port",
            str(port := free_port()),
            "--n_threads",
            str(args.threads),
            "--n_threads_batch",
            str(args.threads),
            "--n_ctx",
            str(args.context),
        ],
        {},
        port,
    )
    return slm, llama


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from tokenizers import Tokenizer  # the fixture's own tokenizer, to size the long prompts

    model_dir, _built = model_cache.built_model("bench", variant="compact")
    checkpoint = model_cache.checkpoint("bench")
    tokenizer = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
    count: Callable[[str], int] = lambda text: len(tokenizer.encode(text).ids)  # noqa: E731
    try:
        llama_python = llamacpp_setup.ensure_llamacpp(args.cache)
        gguf = llamacpp_setup.gguf_q4_0(args.cache, checkpoint, llama_python)
    except (llamacpp_setup.SetupError, OSError, subprocess.CalledProcessError) as exc:
        print(f"error: preparing llama.cpp: {exc}", file=sys.stderr)
        return 1
    print(
        f"slm-engine: {model_dir} (int4 compact); llama.cpp {llamacpp_setup.LLAMACPP_VERSION}: "
        f"{gguf} ({gguf.stat().st_size / 2**20:.1f} MiB); {args.threads} threads each, context "
        f"{args.context}; load average {os.getloadavg()[0]:.1f}"
    )
    slm, llama = start_servers(args, model_dir, gguf, llama_python)
    res = {slm.name: Results(), llama.name: Results()}
    loads = [os.getloadavg()[0]]
    try:
        for s in (slm, llama):  # warm-up
            s.chat([{"role": "user", "content": "Hi"}], 4)
        for rnd in range(args.rounds):
            order = (slm, llama) if rnd % 2 == 0 else (llama, slm)
            for s in order:
                settled(measure_round, s, res[s.name], args, count, rnd)
            for c in args.levels:
                for s in order:
                    res[s.name].add(f"agg{c}", settled(s.aggregate, c, args.tokens))
            loads.append(os.getloadavg()[0])
            print(f"  round {rnd + 1}/{args.rounds} done, load average {loads[-1]:.1f}", flush=True)
        for s in (slm, llama):
            rss, hwm = resident_kib(s.process.pid)
            res[s.name].add("rss", rss)
            res[s.name].add("hwm", hwm)
    finally:
        slm.close()
        llama.close()
    print(report(res[slm.name].values, res[llama.name].values, args, loads))
    if args.speculative:
        import speculative_lookup

        speculative_lookup.report(model_dir, args.threads, args.tokens, count)
        speculative_lookup.server_report(model_dir, args.threads, args.tokens, args.rounds)
    return 0


def report(
    a: dict[str, list[float]],
    b: dict[str, list[float]],
    args: argparse.Namespace,
    loads: list[float],
) -> str:
    """The ratio table (slm-engine / llama.cpp) with the issue's targets."""
    med = statistics.median

    def row(label: str, key: str, kind: str, unit: Callable[[float], str]) -> tuple[str, ...]:
        value = paired_median(a[key], b[key])
        return (label, unit(med(a[key])), unit(med(b[key])), f"{value:.2f}", verdict(kind, value))

    ms: Callable[[float], str] = lambda v: f"{v * 1000:.0f} ms"  # noqa: E731
    tps: Callable[[float], str] = lambda v: f"{v:.0f} tok/s"  # noqa: E731
    mib: Callable[[float], str] = lambda v: f"{v / 1024:.0f} MiB"  # noqa: E731
    n = int(med(a["prompt_tokens"]))
    rows = [
        row("decode, single stream", "decode", "decode", tps),
        row(f"TTFT, unique {n}-token prompts", "ttft_unique", "ttft", ms),
        row("TTFT, next turn after a 1k system prompt", "ttft_next_turn", "ttft_reuse", ms),
        row("TTFT, same 1k system prompt, new question", "ttft_shared_system", "ttft_reuse", ms),
        row("TTFT, the same 1k prompt again", "ttft_same_again", "ttft_reuse", ms),
    ]
    for c in args.levels:
        rows.append(
            (
                f"aggregate, {c} client(s)",
                tps(med(a[f"agg{c}"])),
                tps(med(b[f"agg{c}"])),
                f"{paired_median(a[f'agg{c}'], b[f'agg{c}']):.2f}",
                "",
            )
        )
    rows.append(row("resident memory now (VmRSS)", "rss", "memory", mib))
    rows.append(row("resident memory peak (VmHWM)", "hwm", "memory", mib))
    lines = [
        f"\nslm-engine / llama.cpp, medians of per-round ratios over {args.rounds} rounds",
        table(rows),
    ]
    if 4 in args.levels and 1 in args.levels:
        for name, side in (("slm-engine", a), ("llama.cpp", b)):
            scale = paired_median(side["agg4"], side["agg1"])
            lines.append(
                f"{name} aggregate 4 clients / 1 client: {scale:.2f}  {verdict('scale', scale)}"
            )
    reused = med(a["reused_tokens"])
    lines.append(
        f"slm-engine prompt tokens reused on the next turn (/metrics): {reused:.0f} of ~{n}"
    )
    lines.append(
        f"slm-engine SLM_PREFIX_GENERATORS_MIB={args.prefix_generators_mib}: prompt tokens reused "
        f"on the shared system prompt {med(a['reused_shared']):.0f}, on the same prompt again "
        f"{med(a['reused_again']):.0f} (/metrics)"
    )
    lines.append(
        "load average (1 min) at start and after each round: " + " ".join(f"{x:.1f}" for x in loads)
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
