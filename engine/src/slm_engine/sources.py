"""Where `slm-engine build` reads a Hugging Face checkpoint from: a local directory or the Hub."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import BadInput, BuildFailed

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")
# What the builder reads; skips *.bin/*.pth duplicates, ONNX and GGUF exports.
HUB_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken", "*.py"]


@dataclass(frozen=True)
class Source:
    """A checkpoint directory on local disk and how it was obtained."""

    path: Path
    kind: str  # "local" | "hub"
    location: str  # the directory, or the repo id
    revision: str | None  # hub only: the commit the revision resolved to


def resolve(source: str, revision: str | None, cache_dir: Path) -> Source:
    """Turn --source/--revision into a local checkpoint, downloading from the Hub if needed."""
    path = Path(source).expanduser()
    if path.is_dir():
        if revision is not None:
            raise BadInput(
                f"--revision: got {revision!r}, but --source {source!r} is a local directory; "
                "--revision applies only to a Hugging Face repo id"
            )
        if not (path / "config.json").is_file():
            raise BadInput(
                f"--source: {source!r} has no config.json; expected a Hugging Face checkpoint "
                "directory (config.json, *.safetensors, tokenizer files)"
            )
        resolved = path.resolve()
        return Source(resolved, "local", str(resolved), None)
    if not REPO_ID.match(source) or path.exists():
        raise BadInput(
            f"--source: got {source!r}, which is neither an existing directory nor a Hugging Face "
            "repo id of the form owner/name"
        )
    if revision is not None and not REVISION.match(revision):
        raise BadInput(
            f"--revision: got {revision!r}, allowed a branch, tag or commit "
            "(letters, digits and ._/-)"
        )
    return download(source, revision, cache_dir)


def hub_token() -> str | bool:
    """The Hub token: HF_TOKEN, else the file HF_TOKEN_PATH names, else False (anonymous).

    A file keeps the token out of the command's environment, which `ansible-playbook -vvv` prints.
    Only these two are read: a stored login (~/.cache/huggingface/token) is never used.
    """
    token = os.environ.get("HF_TOKEN", "").strip()
    if token:
        return token
    path = os.environ.get("HF_TOKEN_PATH", "")
    if not path:
        return False
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise BadInput(f"HF_TOKEN_PATH={path} cannot be read: {exc.strerror}") from None
    return token or False


def download(repo_id: str, revision: str | None, cache_dir: Path) -> Source:
    """Snapshot a Hub repo into cache_dir/hub. The token comes from HF_TOKEN or HF_TOKEN_PATH only."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError
    except ImportError:
        raise BuildFailed(
            "a Hub source needs huggingface_hub: pip install 'slm-engine[build]'"
        ) from None
    # token=False stops huggingface_hub from falling back to a stored login or other variables.
    token = hub_token()
    try:
        snapshot = Path(
            snapshot_download(
                repo_id=repo_id,
                revision=revision,
                cache_dir=str(cache_dir / "hub"),
                token=token,
                allow_patterns=HUB_PATTERNS,
            )
        )
    except RevisionNotFoundError:
        raise BadInput(f"--revision: {revision!r} does not exist in {repo_id}") from None
    except RepositoryNotFoundError:
        raise BadInput(
            f"--source: the Hub repo {repo_id!r} does not exist or needs a token "
            "(set HF_TOKEN, or HF_TOKEN_PATH to a file holding it)"
        ) from None
    except Exception as exc:  # network, auth, disk: huggingface_hub raises many types
        raise BuildFailed(
            f"--source {repo_id!r} is not a local directory, and downloading it from the "
            f"Hugging Face Hub failed: {exc}"
        ) from None
    # snapshot_download returns .../snapshots/<commit sha>: the exact revision that was built.
    return Source(snapshot, "hub", repo_id, snapshot.name)
