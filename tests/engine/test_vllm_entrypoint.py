"""roles/engine_vllm/files/vllm-entrypoint.sh refuses every unsafe or broken key setup.

Each case stops before vLLM starts, so the real script runs here under /bin/sh (dash on Debian,
the same shell family as in the images). The success path, the key loaded from the file and
enforced by vLLM, is tested against the real server in test_vllm_cpu_image.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "roles" / "engine_vllm" / "files" / "vllm-entrypoint.sh"


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the entrypoint with a clean environment plus `env`."""
    base = {"PATH": os.environ["PATH"], "HOME": "/nonexistent"}
    return subprocess.run(
        ["/bin/sh", str(SCRIPT), *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_script_is_posix_sh_and_executable() -> None:
    assert SCRIPT.read_text().startswith("#!/bin/sh\n")
    assert os.access(SCRIPT, os.X_OK)
    assert subprocess.run(["/bin/sh", "-n", str(SCRIPT)], check=False).returncode == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("", "is empty"),
        ("\n\n", "is empty"),
        ("   \t \n", "is empty"),
    ],
    ids=["missing", "empty", "blank-lines", "whitespace"],
)
def test_refuses_a_missing_or_empty_key_file(
    tmp_path: Path, content: str | None, message: str
) -> None:
    key_file = tmp_path / "api_key"
    if content is not None:
        key_file.write_text(content)
    done = run("--model", "/model", VLLM_API_KEY_FILE=str(key_file))
    assert done.returncode == 64
    assert done.stdout == ""
    assert f"API key file {key_file} (VLLM_API_KEY_FILE) {message}" in done.stderr


def test_refuses_a_directory(tmp_path: Path) -> None:
    done = run(VLLM_API_KEY_FILE=str(tmp_path))
    assert done.returncode == 64
    assert "is not a regular file" in done.stderr


def test_refuses_an_unreadable_file() -> None:
    # As root, run the script as nobody (setpriv): root reads any file.
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    if os.geteuid() != 0:
        prefix = []
    elif shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to run this check as root")
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o711)
        key_file = Path(tmp) / "api_key"
        key_file.write_text("secret\n")
        key_file.chmod(0o600 if prefix else 0)
        done = subprocess.run(
            [*prefix, "/bin/sh", str(SCRIPT)],
            env={"PATH": os.environ["PATH"], "VLLM_API_KEY_FILE": str(key_file)},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 64
    assert f"API key file {key_file} (VLLM_API_KEY_FILE) is not readable by uid" in done.stderr


def test_refuses_an_empty_path() -> None:
    done = run(VLLM_API_KEY_FILE="")
    assert done.returncode == 64
    assert "VLLM_API_KEY_FILE is set but empty" in done.stderr


@pytest.mark.parametrize("argv", [["--api-key", "k"], ["--api-key=k"]], ids=["separate", "joined"])
def test_refuses_the_key_on_the_command_line(argv: list[str]) -> None:
    done = run("--model", "/model", *argv)
    assert done.returncode == 64
    assert "refusing --api-key on the command line" in done.stderr


def test_refuses_the_key_in_the_container_environment() -> None:
    done = run(VLLM_API_KEY="visible-in-docker-inspect")
    assert done.returncode == 64
    assert "VLLM_API_KEY is set in the container's environment" in done.stderr
    assert "visible-in-docker-inspect" not in done.stderr
