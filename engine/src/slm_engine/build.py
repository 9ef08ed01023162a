"""`slm-engine build`: Hugging Face checkpoint -> onnxruntime-genai model directory + manifest.json.

The export is done by ``python -m onnxruntime_genai.models.builder`` in a child process (its
output goes to stderr, so stdout carries only the JSON result). Everything is written into a
temporary directory beside OUT_DIR and renamed into place once complete and hashed: an interrupted
build never leaves a directory named OUT_DIR that looks whole. A build whose inputs match the
existing OUT_DIR's manifest (and whose files still match their checksums) does nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__, golden, manifest, sources
from .errors import BadInput, BuildFailed

PRECISIONS = ("int4", "int8", "fp16", "fp32")
PROVIDERS = ("cpu", "cuda")
VARIANTS = ("default", "compact")
BLOCK_SIZES = (16, 32, 64, 128, 256)
ACCURACY_LEVELS = (0, 1, 2, 3, 4)
BUILDER_MODULES = ("torch", "transformers", "onnx", "onnx_ir", "onnxscript")


@dataclass(frozen=True)
class BuildRequest:
    """Validated `slm-engine build` arguments."""

    source: str
    revision: str | None
    output: Path
    model_id: str | None
    precision: str
    execution_provider: str
    block_size: int | None
    accuracy_level: int | None
    variant: str
    cache_dir: Path


def _choice(option: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value not in allowed:
        raise BadInput(
            f"{option}: got {value!r}, allowed one of {', '.join(str(a) for a in allowed)}"
        )


def validate(
    *,
    source: str,
    output: str,
    revision: str | None = None,
    model_id: str | None = None,
    precision: str = "int4",
    execution_provider: str = "cpu",
    block_size: int | None = None,
    accuracy_level: int | None = None,
    variant: str = "default",
    cache_dir: str | None = None,
) -> BuildRequest:
    """Check option values and combinations; raises BadInput naming the option."""
    _choice("--precision", precision, PRECISIONS)
    _choice("--execution-provider", execution_provider, PROVIDERS)
    _choice("--variant", variant, VARIANTS)
    quantized = precision in ("int4", "int8")
    if precision == "fp16" and execution_provider == "cpu":
        raise BadInput(
            "--precision: fp16 needs --execution-provider cuda; for cpu use int4, int8 or fp32"
        )
    for option, value, allowed in (
        ("--block-size", block_size, BLOCK_SIZES),
        ("--accuracy-level", accuracy_level, ACCURACY_LEVELS),
    ):
        if value is None:
            continue
        if not quantized:
            raise BadInput(f"{option}: applies only to --precision int4 or int8, not {precision}")
        _choice(option, value, allowed)
    if variant == "compact" and precision != "int4":
        raise BadInput(
            f"--variant: compact quantizes the embedding to int4 and needs --precision int4, "
            f"not {precision}"
        )
    if not source:
        raise BadInput("--source: empty; give a checkpoint directory or a Hub repo id")
    out = Path(output).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise BadInput(f"--output: {output!r} exists and is not a directory")
    if not out.parent.is_dir():
        raise BadInput(f"--output: the parent directory {str(out.parent)!r} does not exist")
    if model_id is not None and not model_id.strip():
        raise BadInput("--model-id: empty")
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    if accuracy_level is None:
        accuracy_level = _default_accuracy(execution_provider)
    return BuildRequest(
        source=source,
        revision=revision,
        output=out,
        model_id=model_id,
        precision=precision,
        execution_provider=execution_provider,
        block_size=(block_size or 32) if quantized else None,
        accuracy_level=accuracy_level if quantized else None,
        variant=variant,
        cache_dir=cache,
    )


def _default_accuracy(execution_provider: str) -> int:
    """The builder's own default: 4 (int8 compute) on CPU, 0 (unset) elsewhere."""
    return 4 if execution_provider == "cpu" else 0


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/slm-engine, else ~/.cache/slm-engine."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "slm-engine"


def builder_extra_options(req: BuildRequest, tied_embeddings: bool) -> list[str]:
    """KEY=VALUE options for onnxruntime_genai.models.builder, all explicit.

    `default` keeps the token embedding out of quantization (the layout of Microsoft's published
    CPU int4 export); `compact` quantizes it to int4 too, as one matrix shared with lm_head when
    the checkpoint ties them. onnxruntime-genai 0.18 picks the compact layout by itself for tied
    checkpoints; pinning both keeps the export a function of --variant, not of builder defaults.
    """
    if req.precision not in ("int4", "int8"):
        return []
    options = [f"block_size={req.block_size}", f"accuracy_level={req.accuracy_level}"]
    if req.variant == "compact":
        if tied_embeddings:
            options.append("shared_embeddings=true")
        else:
            options.append("op_types_to_quantize=MatMul/Gather")
    else:
        options += ["shared_embeddings=false", "op_types_to_quantize=MatMul"]
    return options


def records_golden(req: BuildRequest) -> bool:
    """Golden answers are recorded for CPU exports: the build host runs them as gateways do (a
    CUDA export would need a GPU on the build host and GPU kernels are not bit-stable anyway)."""
    return req.execution_provider == "cpu"


def _options_record(req: BuildRequest) -> dict[str, Any]:
    # `golden` is part of the build key: a new prompt set rebuilds the model directory (and so
    # gives it a new version name on hosts, which then receive the new golden.json).
    return {
        "precision": req.precision,
        "execution_provider": req.execution_provider,
        "block_size": req.block_size,
        "accuracy_level": req.accuracy_level,
        "variant": req.variant,
        "golden": golden.build_marker() if records_golden(req) else None,
    }


def _builder_versions() -> dict[str, str]:
    try:
        genai = importlib.metadata.version("onnxruntime-genai")
    except importlib.metadata.PackageNotFoundError:
        raise BuildFailed("onnxruntime-genai is not installed") from None
    return {"onnxruntime_genai": genai, "slm_engine": __version__}


def _tied_embeddings(checkpoint: Path) -> bool:
    try:
        config = json.loads((checkpoint / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise BadInput(f"--source: cannot read {checkpoint / 'config.json'}: {exc}") from None
    text_config = config.get("text_config", config)
    return bool(text_config.get("tie_word_embeddings", config.get("tie_word_embeddings", False)))


@contextlib.contextmanager
def _locked(output: Path) -> Iterator[None]:
    """Serialize builds into the same OUT_DIR (a lock file beside it)."""
    lock_path = output.parent / f".{output.name}.lock"
    with lock_path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove_stale(output: Path) -> None:
    """Delete temporary directories left by builds that were killed (we hold the lock)."""
    for prefix in (f".{output.name}.tmp-", f".{output.name}.old-"):
        for stale in output.parent.glob(prefix + "*"):
            shutil.rmtree(stale, ignore_errors=True)


def _is_current(output: Path, key: str) -> bool:
    existing = manifest.read_manifest(output)
    return (
        existing is not None
        and existing.get("build_key") == key
        and not manifest.verify(output, existing)
    )


def _run_builder(checkpoint: Path, out: Path, cache: Path, req: BuildRequest) -> None:
    missing = [m for m in BUILDER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise BuildFailed(
            f"the onnxruntime-genai model builder needs {', '.join(missing)}: "
            "pip install 'slm-engine[build]'"
        )
    cmd = [
        sys.executable,
        "-m",
        "onnxruntime_genai.models.builder",
        "-i",
        str(checkpoint),
        "-o",
        str(out),
        "-c",
        str(cache),
        "-p",
        req.precision,
        "-e",
        req.execution_provider,
    ]
    extra = builder_extra_options(req, _tied_embeddings(checkpoint))
    if extra:
        cmd += ["--extra_options", *extra]
    # The child reads local files only: no token, no network.
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_TOKEN_PATH", "HUGGING_FACE_HUB_TOKEN")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.Popen(cmd, stdout=sys.stderr.fileno(), stderr=sys.stderr.fileno(), env=env)
    try:
        status = proc.wait()
    finally:
        if proc.poll() is None:  # we are being interrupted: do not leave the builder running
            proc.kill()
            proc.wait()
    if status != 0:
        raise BuildFailed(f"onnxruntime_genai.models.builder exited with status {status}")
    if not (out / "genai_config.json").is_file():
        raise BuildFailed("the builder finished without writing genai_config.json")


def _record_golden(staged: Path) -> None:
    """golden.json of the staged export (before the manifest, which then covers it). One thread:
    the answers are the same with more (docs/verify_checks.md has the measurements)."""
    print("+ recording golden answers (greedy, the server's code path)", file=sys.stderr, flush=True)
    try:
        golden.write(staged, threads=1)
    except Exception as exc:  # a model that cannot answer must not be shipped as built
        raise BuildFailed(f"recording the golden answers failed: {exc}") from None


def _normalize_modes(root: Path) -> None:
    """World-readable files and directories: the server runs as another user, read-only."""
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    root.chmod(0o755)


def _fsync_tree(root: Path) -> None:
    for path in [*root.rglob("*"), root]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _install(staged: Path, output: Path) -> None:
    """Move a complete model directory to `output`, replacing an old one."""
    old = None
    if output.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{output.name}.old-", dir=output.parent))
        output.rename(old / "model")
    staged.rename(output)
    fd = os.open(output.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _raise_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def build(req: BuildRequest) -> dict[str, Any]:
    """Run the build; returns the JSON result. Raises BadInput or BuildFailed."""
    started = time.monotonic()
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        req.cache_dir.mkdir(parents=True, exist_ok=True)
        with _locked(req.output):
            _remove_stale(req.output)
            src = sources.resolve(req.source, req.revision, req.cache_dir)
            fingerprint = manifest.fingerprint(manifest.file_entries(src.path))
            source = {
                "kind": src.kind,
                "location": src.location,
                "revision": src.revision,
                "fingerprint": fingerprint,
            }
            model_id = req.model_id or (src.location if src.kind == "hub" else src.path.name)
            options, builder = _options_record(req), _builder_versions()
            key = manifest.build_key(model_id, fingerprint, options, builder)
            if _is_current(req.output, key):
                status = "unchanged"
            else:
                status = "built"
                _build_into(req, src.path, req.output, model_id, source, options, builder)
        result = manifest.read_manifest(req.output) or {}
        return {
            "status": status,
            "output": str(req.output),
            "build_key": result.get("build_key"),
            "total_size": result.get("total_size"),
            "seconds": round(time.monotonic() - started, 3),
        }
    finally:
        signal.signal(signal.SIGTERM, previous)


def _build_into(
    req: BuildRequest,
    checkpoint: Path,
    output: Path,
    model_id: str,
    source: dict[str, Any],
    options: dict[str, Any],
    builder: dict[str, str],
) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    try:
        staged = tmp / "model"
        _run_builder(checkpoint, staged, tmp / "cache", req)
        if records_golden(req):
            _record_golden(staged)
        _normalize_modes(staged)
        data = manifest.make_manifest(
            model_id=model_id,
            source=source,
            options=options,
            builder=builder,
            files=manifest.file_entries(staged),
        )
        # The manifest is written last: a directory with a manifest is a complete one.
        (staged / manifest.MANIFEST_NAME).write_text(json.dumps(data, indent=2) + "\n")
        (staged / manifest.MANIFEST_NAME).chmod(0o644)
        _fsync_tree(staged)
        _install(staged, output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
