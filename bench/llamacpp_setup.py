"""llama-cpp-python for the side-by-side bench: its own venv, the GGUF conversion, Q4_0.

Everything lives under .cache/llamacpp/ (never the shared .venv, never in `make test`):

* ``venv/``: llama-cpp-python LLAMACPP_VERSION built from its source tarball with `nice -n 10`
  and CMAKE_ARGS for this CPU: GGML_NATIVE=OFF with AVX2/AVX512/VNNI on and AMX off (a
  GGML_NATIVE=ON build crashed on quantized models on the AMX development machine). About 6
  minutes on 2 cores, once.
* ``gguf/<checkpoint key>-f16.gguf``: the bench checkpoint converted with the
  convert_hf_to_gguf.py carried in that tarball (gguf-py beside it), run by the shared .venv's
  Python (torch, transformers). The converter does not know the fixture tokenizer's
  pre-tokenizer hash (a byte-level BPE trained by tests/fixtures/tiny_phi3.py); for that one
  case the bench falls back to llama.cpp's `gpt-2` pre-tokenizer, which is the fixture's
  (ByteLevel, no prefix space). Nothing fetched is committed: the tarball stays in .cache/.
* ``gguf/<checkpoint key>-q4_0.gguf``: quantized with `llama_cpp.llama_model_quantize`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LLAMACPP_VERSION = "0.3.36"
CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX_VNNI=ON "
    "-DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
)
LLAMA_FTYPE_MOSTLY_Q4_0 = 2  # llama.h's enum llama_ftype

# Run by the shared .venv's Python: the converter with a pre-tokenizer fallback for the fixture.
_CONVERT = """
import runpy, sys
source, checkpoint, out = sys.argv[1:4]
sys.path[:0] = [source, source + "/gguf-py"]
from conversion import base
known = base.TextModel.get_vocab_base_pre
def get_vocab_base_pre(self, tokenizer):
    try:
        return known(self, tokenizer)
    except NotImplementedError:  # the fixture's own BPE: byte-level like GPT-2
        return "gpt-2"
base.TextModel.get_vocab_base_pre = get_vocab_base_pre
sys.argv = ["convert_hf_to_gguf.py", checkpoint, "--outtype", "f16", "--outfile", out]
runpy.run_path(source + "/convert_hf_to_gguf.py", run_name="__main__")
"""

_QUANTIZE = """
import ctypes, sys
import llama_cpp
params = llama_cpp.llama_model_quantize_default_params()
params.ftype = int(sys.argv[3])
params.nthread = 2
src, dst = sys.argv[1].encode(), sys.argv[2].encode()
sys.exit(llama_cpp.llama_model_quantize(src, dst, ctypes.byref(params)))
"""


class SetupError(RuntimeError):
    """A step of the llama.cpp side could not be prepared; the message says which and why."""


def venv_python(root: Path) -> Path:
    return root / "venv" / "bin" / "python"


def installed_version(python: Path) -> str | None:
    """llama_cpp.__version__ in that interpreter, or None if it is missing or broken."""
    if not python.is_file():
        return None
    proc = subprocess.run(
        [str(python), "-c", "import llama_cpp; print(llama_cpp.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_llamacpp(root: Path) -> Path:
    """The venv's Python with llama-cpp-python LLAMACPP_VERSION[server], built if missing."""
    python = venv_python(root)
    if installed_version(python) == LLAMACPP_VERSION:
        return python
    root.mkdir(parents=True, exist_ok=True)
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    tarball = source_tarball(root)
    log = root / "build.log"
    print(f"building llama-cpp-python {LLAMACPP_VERSION} (about 6 min on 2 cores; log: {log})")
    env = {**os.environ, "CMAKE_ARGS": CMAKE_ARGS, "CMAKE_BUILD_PARALLEL_LEVEL": "2"}
    with log.open("w") as out:
        proc = subprocess.run(
            [
                "nice",
                "-n",
                "10",
                str(python),
                "-m",
                "pip",
                "install",
                "--no-cache-dir",
                f"{tarball}[server]",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if proc.returncode != 0 or installed_version(python) != LLAMACPP_VERSION:
        raise SetupError(f"building llama-cpp-python failed (exit {proc.returncode}); see {log}")
    return python


def source_tarball(root: Path) -> Path:
    """The sdist (downloaded once with pip): it carries llama.cpp and its converter."""
    tarball = root / "src" / f"llama_cpp_python-{LLAMACPP_VERSION}.tar.gz"
    if not tarball.is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"llama-cpp-python=={LLAMACPP_VERSION}",
                "-d",
                str(tarball.parent),
            ],
            check=True,
        )
    return tarball


def llamacpp_source(root: Path) -> Path:
    """vendor/llama.cpp of the unpacked sdist (convert_hf_to_gguf.py and gguf-py)."""
    source = root / "sdist" / f"llama_cpp_python-{LLAMACPP_VERSION}" / "vendor" / "llama.cpp"
    if not (source / "convert_hf_to_gguf.py").is_file():
        (root / "sdist").mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["tar", "-xzf", str(source_tarball(root)), "-C", str(root / "sdist")], check=True
        )
    return source


def gguf_q4_0(root: Path, checkpoint: Path, llama_python: Path) -> Path:
    """The checkpoint as GGUF Q4_0 (converted and quantized once per checkpoint)."""
    key = checkpoint.parent.name
    out_dir = root / "gguf"
    out_dir.mkdir(parents=True, exist_ok=True)
    f16, q4 = out_dir / f"{key}-f16.gguf", out_dir / f"{key}-q4_0.gguf"
    if not q4.is_file():
        if not f16.is_file():
            tmp = f16.with_suffix(".tmp")
            _run(
                [
                    sys.executable,
                    "-c",
                    _CONVERT,
                    str(llamacpp_source(root)),
                    str(checkpoint),
                    str(tmp),
                ],
                "converting to GGUF",
            )
            tmp.rename(f16)
        tmp = q4.with_suffix(".tmp")
        _run(
            [str(llama_python), "-c", _QUANTIZE, str(f16), str(tmp), str(LLAMA_FTYPE_MOSTLY_Q4_0)],
            "quantizing to Q4_0",
        )
        tmp.rename(q4)
    return q4


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(["nice", "-n", "10", *argv], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SetupError(f"{what} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
