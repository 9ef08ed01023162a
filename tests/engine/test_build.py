"""`slm-engine build`: manifest, idempotence, bad input, interruption, variants, Hub source."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import model_cache
import onnx
import pytest
from slm_engine import build, golden, manifest, sources
from slm_engine.errors import BadInput

pytestmark = pytest.mark.slow  # real tiny model (built once, cached), real processes


def run_build(
    source: Path | str,
    output: Path,
    *extra: str,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        model_cache.build_command(Path(source), output, *extra),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_manifest_describes_the_build(tiny_model: Path, tiny_checkpoint: Path) -> None:
    data = json.loads((tiny_model / "manifest.json").read_text())
    assert data["schema"] == 1 and data["model_id"] == "tiny-phi3"
    assert data["source"] == {
        "kind": "local",
        "location": str(tiny_checkpoint.resolve()),
        "revision": None,
        "fingerprint": manifest.fingerprint(manifest.file_entries(tiny_checkpoint)),
    }
    assert data["options"] == {
        "precision": "int4",
        "execution_provider": "cpu",
        "block_size": 32,
        "accuracy_level": 4,
        "variant": "default",
        "golden": golden.build_marker(),
    }
    assert data["builder"]["onnxruntime_genai"] == "0.18.0"
    assert data["build_key"] == manifest.build_key(
        "tiny-phi3", data["source"]["fingerprint"], data["options"], data["builder"]
    )
    listed = {f["path"] for f in data["files"]}
    on_disk = {p.name for p in tiny_model.iterdir()} - {"manifest.json"}
    assert listed == on_disk and {"model.onnx", "genai_config.json", "tokenizer.json"} <= listed
    assert "golden.json" in listed  # recorded before the manifest, so covered by its sha256
    assert data["total_size"] == sum(f["size"] for f in data["files"])
    assert all(f["sha256"] == manifest.sha256_file(tiny_model / f["path"]) for f in data["files"])
    assert all(oct(p.stat().st_mode)[-3:] == "644" for p in tiny_model.iterdir())


def test_same_inputs_rebuild_nothing(tiny_model: Path, tiny_checkpoint: Path) -> None:
    mtime = (tiny_model / "model.onnx").stat().st_mtime_ns
    proc = run_build(tiny_checkpoint, tiny_model, "--model-id", "tiny-phi3")
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()  # exactly one JSON object on stdout
    result = json.loads(line)
    assert result["status"] == "unchanged" and result["output"] == str(tiny_model)
    assert (
        result["build_key"] == json.loads((tiny_model / "manifest.json").read_text())["build_key"]
    )
    assert result["seconds"] < 5
    assert (tiny_model / "model.onnx").stat().st_mtime_ns == mtime


def test_corrupted_output_is_rebuilt_and_the_token_never_leaks(
    tiny_model: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model"
    shutil.copytree(tiny_model, out)
    data = out / "model.onnx.data"
    data.write_bytes(b"\0" + data.read_bytes()[1:])
    verify = subprocess.run(
        [sys.executable, "-m", "slm_engine", "verify", str(out)], capture_output=True, text=True, check=False
    )
    assert verify.returncode == 1
    assert json.loads(verify.stdout)["problems"] == [
        "model.onnx.data: sha256 differs from the manifest"
    ]

    secret = "hf_SECRET_marker_0123456789"
    proc = run_build(
        tiny_checkpoint, out, "--model-id", "tiny-phi3", env={**os.environ, "HF_TOKEN": secret}
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "built"
    assert manifest.verify(out, json.loads((out / "manifest.json").read_text())) == []
    for text in (proc.stdout, proc.stderr, (out / "manifest.json").read_text()):
        assert secret not in text
    assert not list(tmp_path.glob(".model.tmp-*")) and not list(tmp_path.glob(".model.old-*"))


BAD = [
    (["--precision", "int3"], "--precision: got 'int3', allowed one of int4, int8, fp16, fp32"),
    (["--execution-provider", "tpu"], "--execution-provider: got 'tpu', allowed one of cpu, cuda"),
    (["--variant", "tiny"], "--variant: got 'tiny', allowed one of default, compact"),
    (["--precision", "fp16"], "--precision: fp16 needs --execution-provider cuda"),
    (["--block-size", "48"], "--block-size: got 48, allowed one of 16, 32, 64, 128, 256"),
    (["--accuracy-level", "7"], "--accuracy-level: got 7, allowed one of 0, 1, 2, 3, 4"),
    (["--precision", "fp32", "--block-size", "32"], "--block-size: applies only to"),
    (["--precision", "int8", "--variant", "compact"], "--variant: compact quantizes"),
    (["--block-size", "abc"], "argument --block-size: invalid int value: 'abc'"),
    (["--revision", "main"], "--revision applies only to a Hugging Face repo id"),
]


@pytest.mark.parametrize(("extra", "message"), BAD)
def test_bad_options_exit_2(
    tiny_checkpoint: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    proc = run_build(tiny_checkpoint, tmp_path / "out", *extra)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert message in proc.stderr
    assert not (tmp_path / "out").exists()


def test_bad_sources_and_outputs_exit_2(tiny_checkpoint: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = [
        (empty, tmp_path / "o1", "has no config.json"),
        (Path("./no/such/dir"), tmp_path / "o2", "neither an existing directory nor a Hugging"),
        (tiny_checkpoint, a_file, "--output: "),
        (tiny_checkpoint, tmp_path / "missing" / "out", "the parent directory"),
    ]
    for source, output, message in cases:
        proc = run_build(source, output)
        assert proc.returncode == 2 and message in proc.stderr, (source, proc.stderr)


def builder_children(marker: str) -> list[int]:
    """PIDs of processes whose command line mentions marker (the builder child)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes() and "builder" in cmdline.read_text():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue
    return pids


def start_and_wait_for_builder(cmd: list[str], parent: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while not builder_children(str(parent)):
        assert proc.poll() is None, "the build ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)  # let the builder write part of its output
    return proc


def test_killed_build_keeps_the_previous_model(
    tiny_model: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model"
    shutil.copytree(tiny_model, out)
    old_key = json.loads((out / "manifest.json").read_text())["build_key"]
    cmd = model_cache.build_command(
        tiny_checkpoint, out, "--model-id", "tiny-phi3", "--block-size", "64"
    )
    proc = start_and_wait_for_builder(cmd, tmp_path)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group, builder included
    proc.wait()
    assert list(tmp_path.glob(".model.tmp-*")), "expected the killed build's staging directory"
    assert json.loads((out / "manifest.json").read_text())["build_key"] == old_key
    assert manifest.verify(out, json.loads((out / "manifest.json").read_text())) == []

    rebuilt = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert rebuilt.returncode == 0, rebuilt.stderr
    result = json.loads(rebuilt.stdout)
    assert result["status"] == "built" and result["build_key"] != old_key
    assert json.loads((out / "manifest.json").read_text())["options"]["block_size"] == 64
    assert not list(tmp_path.glob(".model.tmp-*"))  # the stale staging directory was removed


def test_terminated_build_cleans_up(tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "fresh"
    proc = start_and_wait_for_builder(model_cache.build_command(tiny_checkpoint, out), tmp_path)
    proc.send_signal(signal.SIGTERM)  # slm-engine only: it must stop its builder child itself
    assert proc.wait(30) == 128 + signal.SIGTERM
    assert proc.stdout is not None and proc.stdout.read() == b""
    assert not out.exists()
    assert not list(tmp_path.glob(".fresh.tmp-*"))
    time.sleep(0.5)
    assert builder_children(str(tmp_path)) == []


def test_compact_variant_quantizes_the_embedding() -> None:
    default_dir, default = model_cache.built_model("tiny", variant="default")
    compact_dir, compact = model_cache.built_model("tiny", variant="compact")
    assert compact["total_size"] < default["total_size"]

    def embedding_ops(model_dir: Path) -> set[str]:
        graph = onnx.load(str(model_dir / "model.onnx"), load_external_data=False).graph
        return {n.op_type for n in graph.node if n.name.startswith("/model/embed_tokens/")}

    assert "Gather" in embedding_ops(default_dir)  # float embedding table
    assert "GatherBlockQuantized" not in embedding_ops(default_dir)
    assert "GatherBlockQuantized" in embedding_ops(compact_dir)  # int4, shared with lm_head


def test_builder_options_per_variant() -> None:
    req = build.validate(source="x", output="/tmp/o")
    assert build.builder_extra_options(req, tied_embeddings=True) == [
        "block_size=32",
        "accuracy_level=4",
        "shared_embeddings=false",
        "op_types_to_quantize=MatMul",
    ]
    compact = build.validate(source="x", output="/tmp/o", variant="compact", block_size=128)
    assert build.builder_extra_options(compact, tied_embeddings=True)[-1] == (
        "shared_embeddings=true"
    )
    assert build.builder_extra_options(compact, tied_embeddings=False)[-1] == (
        "op_types_to_quantize=MatMul/Gather"
    )
    fp32 = build.validate(source="x", output="/tmp/o", precision="fp32")
    assert build.builder_extra_options(fp32, tied_embeddings=True) == []


def test_hub_source_takes_the_token_from_hf_token_only(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    calls: list[dict[str, object]] = []
    snapshot = tmp_path / "snapshots" / ("ab" * 20)

    def fake_snapshot_download(repo_id: str, **kwargs: object) -> str:
        calls.append({"repo_id": repo_id, **kwargs})
        shutil.copytree(tiny_checkpoint, snapshot, dirs_exist_ok=True)
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    source = sources.resolve("microsoft/Phi-4-mini-instruct", "main", tmp_path / "cache")
    assert (source.kind, source.location, source.revision) == (
        "hub",
        "microsoft/Phi-4-mini-instruct",
        "ab" * 20,
    )
    assert calls[0]["token"] == "hf_from_env" and calls[0]["revision"] == "main"
    assert calls[0]["cache_dir"] == str(tmp_path / "cache" / "hub")

    monkeypatch.delenv("HF_TOKEN")
    sources.resolve("microsoft/Phi-4-mini-instruct", None, tmp_path / "cache")
    assert calls[1]["token"] is False  # no fallback to a stored login

    with pytest.raises(BadInput, match="--revision: got 'bad revision'"):
        sources.resolve("microsoft/Phi-4-mini-instruct", "bad revision", tmp_path)


def test_builder_child_gets_no_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, str] = {}

    class FakeBuilder:
        def __init__(self, cmd: list[str], env: dict[str, str], **_: object) -> None:
            seen.update(env)

        def wait(self) -> int:
            return 0

        def poll(self) -> int:
            return 0

    monkeypatch.setenv("HF_TOKEN", "hf_x")
    monkeypatch.setattr(build.subprocess, "Popen", FakeBuilder)
    (tmp_path / "config.json").write_text("{}")
    req = build.validate(source=str(tmp_path), output=str(tmp_path / "o"))
    with pytest.raises(build.BuildFailed, match=r"without writing genai_config\.json"):
        build._run_builder(tmp_path, tmp_path / "o", tmp_path / "c", req)
    assert "HF_TOKEN" not in seen and seen["HF_HUB_OFFLINE"] == "1"


def test_hub_token_from_a_file_keeps_it_out_of_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("hf_from_file\n")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_TOKEN_PATH", str(token_file))
    assert sources.hub_token() == "hf_from_file"
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")  # the variable wins, as in huggingface_hub
    assert sources.hub_token() == "hf_from_env"
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "missing"))
    with pytest.raises(BadInput, match="HF_TOKEN_PATH=.*/missing cannot be read"):
        sources.hub_token()
    monkeypatch.delenv("HF_TOKEN_PATH")
    assert sources.hub_token() is False  # no stored login
