"""The tiny/bench Phi-3 generator: speed, determinism, geometry, loadability."""

from __future__ import annotations

import filecmp
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tiny_phi3
from safetensors.numpy import load_file

FILES = [
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
]


def test_tiny_is_fast_and_deterministic(tmp_path: Path) -> None:
    started = time.perf_counter()
    tiny_phi3.generate("tiny", tmp_path / "a", seed=7)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"tiny took {elapsed:.2f} s"
    tiny_phi3.generate("tiny", tmp_path / "b", seed=7)
    tiny_phi3.generate("tiny", tmp_path / "c", seed=8)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == FILES
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", FILES, shallow=False)
    assert (mismatch, errors) == ([], [])
    _, mismatch, _ = filecmp.cmpfiles(tmp_path / "a", tmp_path / "c", FILES, shallow=False)
    assert mismatch == ["model.safetensors"]  # the seed changes the weights only


def test_cli(tmp_path: Path) -> None:
    script = Path(tiny_phi3.__file__)
    proc = subprocess.run(
        [
            sys.executable,
            str(script),
            "--size",
            "tiny",
            "--out",
            str(tmp_path / "m"),
            "--seed",
            "3",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "m" / "model.safetensors").is_file()
    bad = subprocess.run(
        [sys.executable, str(script), "--size", "huge", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "invalid choice: 'huge'" in bad.stderr


@pytest.mark.parametrize("size", ["tiny", "bench"])
def test_geometry_meets_the_builder_constraints(size: str) -> None:
    geo = tiny_phi3.SIZES[size]
    assert geo.rotary_half % 8 == 0  # onnxruntime-genai needs rotary dim / 2 multiple of 8
    assert geo.partial_rotary_factor < 1.0  # partial rotary, as in Phi-4-mini
    assert geo.num_key_value_heads < geo.num_attention_heads  # grouped-query attention
    assert geo.max_position_embeddings > geo.original_max_position_embeddings  # LongRoPE


def test_parameter_counts(tmp_path: Path) -> None:
    assert tiny_phi3.parameter_count("bench") >= 50_000_000
    tiny_phi3.generate("tiny", tmp_path, seed=0)
    weights = load_file(str(tmp_path / "model.safetensors"))
    assert sum(w.size for w in weights.values()) == tiny_phi3.parameter_count("tiny")
    assert "lm_head.weight" not in weights  # tied to the embedding, as in Phi-4-mini


def test_silent_tokens_have_zero_embeddings(tiny_checkpoint: Path) -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tiny_checkpoint / "tokenizer.json"))
    embed = load_file(str(tiny_checkpoint / "model.safetensors"))["model.embed_tokens.weight"]
    silent = tiny_phi3.silent_token_ids(tok)
    assert tok.token_to_id("<|end|>") in silent and tok.token_to_id("<|tool_call|>") in silent
    assert not embed[silent].any()
    assert (abs(embed).sum(axis=1) > 0).sum() == embed.shape[0] - len(silent)


@pytest.mark.slow
def test_loads_in_transformers_as_phi3_with_longrope(tiny_checkpoint: Path) -> None:
    """vLLM and the builder read the checkpoint through transformers: it must load there."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    model = transformers.AutoModelForCausalLM.from_pretrained(str(tiny_checkpoint))
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tiny_checkpoint))
    assert type(model).__name__ == "Phi3ForCausalLM"
    assert model.config.rope_parameters["rope_type"] == "longrope"
    assert model.config.partial_rotary_factor == 0.75
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt == "<|user|>Hi<|end|><|assistant|>"
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    pieces = tokenizer.convert_ids_to_tokens(ids[0].tolist())
    assert pieces[0] == "<|user|>" and pieces[-2:] == ["<|end|>", "<|assistant|>"]  # one id each
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, ids.shape[1], tiny_phi3.SIZES["tiny"].vocab_size)
    assert torch.isfinite(logits).all()
