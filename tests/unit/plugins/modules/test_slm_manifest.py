"""slm_manifest main() in-process: the manifest of a real directory, its cache, and what it refuses."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ansible_collections.edgeai.slm_fleet.plugins.modules import slm_manifest


def checkpoint(tmp_path: Path) -> Path:
    root = tmp_path / "ckpt"
    (root / "sub").mkdir(parents=True)
    (root / "config.json").write_text('{"model_type": "phi3"}')
    (root / "sub" / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    (root / ".cache").mkdir()
    (root / ".cache" / "lock").write_text("ignored")
    return root


def test_lists_every_file_with_its_digest_and_size(run_module, tmp_path: Path) -> None:
    root = checkpoint(tmp_path)
    r = run_module(slm_manifest.main, {"path": str(root)})
    assert r["_rc"] == 0 and r["changed"] is False
    files = r["manifest"]["files"]
    assert [f["path"] for f in files] == ["config.json", "sub/weights.bin"], "hidden entries are left out"
    weights = files[1]
    assert weights["size"] == 2000 and weights["sha256"] == hashlib.sha256(b"\x00\x01" * 1000).hexdigest()
    assert r["manifest"]["total_size"] == 2000 + len('{"model_type": "phi3"}')


def test_same_content_same_key_other_content_other_key(run_module, tmp_path: Path) -> None:
    root = checkpoint(tmp_path)
    first = run_module(slm_manifest.main, {"path": str(root)})["manifest"]["build_key"]
    assert run_module(slm_manifest.main, {"path": str(root)})["manifest"]["build_key"] == first
    (root / "config.json").write_text('{"model_type": "phi3", "x": 1}')
    assert run_module(slm_manifest.main, {"path": str(root)})["manifest"]["build_key"] != first


def test_the_cache_skips_unchanged_files_and_notices_changed_ones(run_module, tmp_path: Path) -> None:
    root, cache = checkpoint(tmp_path), tmp_path / "cache.json"
    assert run_module(slm_manifest.main, {"path": str(root), "cache_file": str(cache)})["hashed_files"] == 2
    again = run_module(slm_manifest.main, {"path": str(root), "cache_file": str(cache)})
    assert again["hashed_files"] == 0
    weights = root / "sub" / "weights.bin"
    weights.write_bytes(b"\x02" * 2000)  # same size: the mtime tells
    os.utime(weights, ns=(1, 1))
    changed = run_module(slm_manifest.main, {"path": str(root), "cache_file": str(cache)})
    assert changed["hashed_files"] == 1
    assert changed["manifest"]["files"][1]["sha256"] == hashlib.sha256(b"\x02" * 2000).hexdigest()
    assert json.loads(cache.read_text()), "the cache is JSON"


def test_symlinks_are_refused_before_anything_is_shipped(run_module, tmp_path: Path) -> None:
    root = checkpoint(tmp_path)
    (tmp_path / "secret").write_text("outside")
    (root / "tokenizer.json").symlink_to(tmp_path / "secret")
    (root / "linkdir").symlink_to(tmp_path)
    r = run_module(slm_manifest.main, {"path": str(root)})
    assert r["_rc"] == 1 and "cannot be shipped" in r["msg"] and "Nothing was copied" in r["msg"]
    assert "tokenizer.json is a symbolic link" in r["msg"] and "linkdir is a symbolic link" in r["msg"]


def test_special_files_and_empty_or_missing_directories_are_refused(run_module, tmp_path: Path) -> None:
    root = checkpoint(tmp_path)
    os.mkfifo(root / "pipe")
    assert "pipe is not a regular file" in run_module(slm_manifest.main, {"path": str(root)})["msg"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "it has no files" in run_module(slm_manifest.main, {"path": str(empty)})["msg"]
    missing = run_module(slm_manifest.main, {"path": str(tmp_path / "nope")})
    assert missing["_rc"] == 1 and "is not a directory" in missing["msg"]
