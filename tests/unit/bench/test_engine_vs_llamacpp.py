"""bench/engine_vs_llamacpp.py: ratios, targets, the table, prompts and arguments (no servers)."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))
import engine_vs_llamacpp as bench  # noqa: E402  # pylint: disable=wrong-import-position,import-error
import llamacpp_setup  # noqa: E402  # pylint: disable=wrong-import-position,import-error


def test_ratio_is_slm_over_llama_and_infinite_without_a_denominator():
    assert bench.ratio(3.0, 4.0) == 0.75
    assert math.isinf(bench.ratio(1.0, 0.0))


def test_ratios_are_paired_within_rounds_not_taken_from_medians():
    slm, llama = [1.0, 10.0, 3.0], [1.0, 5.0, 6.0]
    assert bench.paired_median(slm, llama) == 1.0  # per round: 1, 2, 0.5
    assert bench.ratio(3.0, 5.0) != bench.paired_median(slm, llama)  # medians would say 0.6


def test_unpaired_measurements_are_refused():
    with pytest.raises(ValueError, match="equally many"):
        bench.paired_median([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        bench.paired_median([], [])


@pytest.mark.parametrize(
    ("kind", "value", "met"),
    [
        ("ttft", 1.0, True),
        ("ttft", 1.01, False),
        ("ttft_reuse", 2.0, True),
        ("ttft_reuse", 60.0, False),
        ("decode", 0.99, False),
        ("decode", 1.2, True),
        ("memory", 1.1, True),
        ("memory", 1.5, False),
        ("scale", 1.9, False),
        ("scale", 2.4, True),
    ],
)
def test_verdicts_follow_the_issue_targets(kind, value, met):
    text = bench.verdict(kind, value)
    assert text.endswith("met") is met
    assert text.endswith("MISSED") is not met
    assert bench.TARGETS[kind][0] in text


def test_table_aligns_columns():
    text = bench.table(
        [
            ("decode", "400 tok/s", "300 tok/s", "1.33", ">= 1.0  met"),
            ("TTFT", "1300 ms", "21 ms", "61.90", "<= 2.0  MISSED"),
        ]
    )
    lines = text.splitlines()
    assert len(lines) == 3 and "slm-engine" in lines[0] and "llama.cpp" in lines[0]
    assert (
        len({line.index(" 1.33") if " 1.33" in line else line.index("61.90") for line in lines[1:]})
        == 1
    )
    assert lines[2].endswith("MISSED")


def words(text: str) -> int:
    return len(text.split())


def test_long_prompt_reaches_the_size_and_the_nonce_leads():
    a = bench.long_prompt(words, 300, nonce="round-1")
    b = bench.long_prompt(words, 300, nonce="round-2")
    assert words(a) >= 300 and words(a) < 300 + 30  # one entry past the size at most
    assert a.startswith("Log round-1.") and b.startswith("Log round-2.")
    assert a.split("\n", 1)[1] == b.split("\n", 1)[1]  # only the first line differs
    assert bench.long_prompt(words, 50).startswith("Maintenance log")


def test_arguments_have_sane_defaults():
    args = bench.parse_args([])
    assert (args.rounds, args.tokens, args.prefix_tokens, args.threads) == (3, 64, 1024, 2)
    assert args.levels == [1, 4, 8]
    assert bench.parse_args(["--levels", "1,2"]).levels == [1, 2]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--levels", "1,four"], "--levels: got '1,four'"),
        (["--levels", "0,4"], "every client count must be >= 1"),
        (["--rounds", "0"], "--rounds: got 0"),
        (["--tokens", "1"], "--tokens: at least 2"),
        (["--prefix-tokens", "2000"], "must fit in --context 2048"),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        bench.parse_args(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_resident_memory_is_read_from_proc():
    rss, peak = bench.resident_kib(os.getpid())
    assert 0 < rss <= peak


def series(value: float, rounds: int = 3) -> list[float]:
    return [value] * rounds


def test_report_prints_every_ratio_with_its_target():
    args = bench.parse_args(["--levels", "1,4"])
    slm = {
        "decode": series(420),
        "ttft_unique": series(1.3),
        "prompt_tokens": series(1030),
        "ttft_next_turn": series(0.05),
        "ttft_shared_system": series(1.3),
        "ttft_same_again": series(1.3),
        "reused_tokens": series(1046),
        "reused_shared": series(1028),
        "reused_again": series(1072),
        "agg1": series(400),
        "agg4": series(1000),
        "rss": series(400 * 1024),
        "hwm": series(500 * 1024),
    }
    llama = {
        **slm,
        "decode": series(320),
        "ttft_unique": series(1.75),
        "ttft_next_turn": series(0.04),
        "ttft_shared_system": series(0.05),
        "ttft_same_again": series(0.021),
        "agg4": series(400),
        "rss": series(300 * 1024),
    }
    text = bench.report(slm, llama, args, [1.0, 2.0])
    assert "unique 1030-token prompts" in text
    decode = next(line for line in text.splitlines() if line.startswith("decode"))
    assert "1.31" in decode and decode.endswith("met")
    again = next(line for line in text.splitlines() if "same 1k prompt again" in line)
    assert "61.90" in again and again.endswith("MISSED")
    assert "slm-engine aggregate 4 clients / 1 client: 2.50" in text
    assert "llama.cpp aggregate 4 clients / 1 client: 1.00" in text
    assert "VmRSS" in text and "1.33" in text
    assert "reused on the next turn (/metrics): 1046" in text
    assert "on the shared system prompt 1028, on the same prompt again 1072" in text
    assert "load average (1 min) at start and after each round: 1.0 2.0" in text


def test_llamacpp_version_is_none_without_the_package(tmp_path):
    assert llamacpp_setup.installed_version(tmp_path / "missing" / "python") is None
    assert llamacpp_setup.installed_version(Path(sys.executable)) is None  # the shared venv


def test_llamacpp_build_turns_native_and_amx_off():
    flags = dict(f.removeprefix("-D").split("=") for f in llamacpp_setup.CMAKE_ARGS.split())
    assert flags["GGML_NATIVE"] == "OFF"
    assert {flags[k] for k in ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")} == {"OFF"}
    assert flags["GGML_AVX512"] == "ON"
