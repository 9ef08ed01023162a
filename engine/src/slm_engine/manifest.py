"""manifest.json of a built model: what it was built from, how, and the sha256 of every file.

Schema 1 (the Ansible role `engine_onnx` reads it; keys are stable, new keys may be added)::

    {"schema": 1, "model_id": str,
     "source": {"kind": "local"|"hub", "location": str, "revision": str|null,
                "fingerprint": sha256 hex of the source files},
     "options": {"precision", "execution_provider", "block_size", "accuracy_level", "variant",
                 "golden": "<prompt set version>:<digest>" (golden.json recorded) or null},
     "builder": {"onnxruntime_genai": version, "slm_engine": version},
     "build_key": sha256 hex of the canonical JSON of {model_id, source fingerprint, options,
                  builder},
     "files": [{"path": relative POSIX path, "sha256": hex, "size": int}],
     "total_size": int, "created": ISO 8601 UTC}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
SCHEMA = 1
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON encoding used for hashing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def iter_files(root: Path) -> Iterator[Path]:
    """Regular files under root (symlinks followed), sorted, except hidden ones and the manifest."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or rel.as_posix() == MANIFEST_NAME:
            continue
        if path.is_file():
            yield path


def file_entries(root: Path) -> list[dict[str, Any]]:
    """[{"path", "sha256", "size"}] for every file under root."""
    return [
        {"path": p.relative_to(root).as_posix(), "sha256": sha256_file(p), "size": p.stat().st_size}
        for p in iter_files(root)
    ]


def fingerprint(entries: list[dict[str, Any]]) -> str:
    """One sha256 over the (path, sha256, size) list: identifies a set of files by content."""
    return hashlib.sha256(canonical_json(entries)).hexdigest()


def build_key(
    model_id: str, source_fingerprint: str, options: dict[str, Any], builder: dict[str, str]
) -> str:
    """Hash of everything that determines a build's output (the source location does not)."""
    material = {
        "model_id": model_id,
        "source_fingerprint": source_fingerprint,
        "options": options,
        "builder": builder,
    }
    return hashlib.sha256(canonical_json(material)).hexdigest()


def make_manifest(
    *,
    model_id: str,
    source: dict[str, Any],
    options: dict[str, Any],
    builder: dict[str, str],
    files: list[dict[str, Any]],
) -> dict[str, Any]:
    """Assemble a schema-1 manifest for files already hashed."""
    return {
        "schema": SCHEMA,
        "model_id": model_id,
        "source": source,
        "options": options,
        "builder": builder,
        "build_key": build_key(model_id, source["fingerprint"], options, builder),
        "files": files,
        "total_size": sum(f["size"] for f in files),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def read_manifest(model_dir: Path) -> dict[str, Any] | None:
    """The manifest of model_dir, or None if absent or not a schema-1 JSON object."""
    try:
        data = json.loads((model_dir / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return None
    return data


def verify(model_dir: Path, manifest: dict[str, Any]) -> list[str]:
    """Problems found comparing model_dir with its manifest (missing, resized, altered, extra)."""
    problems: list[str] = []
    listed = set()
    for entry in manifest.get("files", []):
        path = model_dir / entry["path"]
        listed.add(entry["path"])
        if not path.is_file():
            problems.append(f"{entry['path']}: missing")
        elif path.stat().st_size != entry["size"]:
            size = path.stat().st_size
            problems.append(f"{entry['path']}: size {size}, expected {entry['size']}")
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"{entry['path']}: sha256 differs from the manifest")
    for path in iter_files(model_dir):
        rel = path.relative_to(model_dir).as_posix()
        if rel not in listed:
            problems.append(f"{rel}: not listed in the manifest")
    return problems
