"""slm_artifact: verify a staged directory against its manifest, promote it read-only, refuse mismatches."""

import hashlib
import os
import stat

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.modules.slm_artifact import main

FILES = {"model.onnx": b"graph" * 100, "model.onnx.data": b"\x00\x01" * 5000, "tokenizer/tokenizer.json": b"{}"}


def manifest_of(files):
    return [{"path": p, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for p, d in files.items()]


@pytest.fixture
def staged(tmp_path):
    staging = tmp_path / "models" / ".staging-abc"
    for rel, data in FILES.items():
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        (staging / rel).write_bytes(data)
    (staging / "manifest.json").write_text("{}")
    return staging, tmp_path / "models" / "abc"


def args(staging, dest, files=None):
    user = __import__("pwd").getpwuid(os.getuid()).pw_name
    group = __import__("grp").getgrgid(os.getgid()).gr_name
    return {"staging": str(staging), "dest": str(dest), "files": files or manifest_of(FILES), "owner": user, "group": group}


def test_good_artifact_is_promoted_read_only_and_rerun_reads_nothing(staged, run_module):
    staging, dest = staged
    result = run_module(main, args(staging, dest))
    assert result["_rc"] == 0 and result["changed"] and result["verified"] == 3
    assert not staging.exists() and (dest / "model.onnx").read_bytes() == FILES["model.onnx"]
    mode = stat.S_IMODE((dest / "model.onnx.data").stat().st_mode)
    assert mode == 0o444
    assert stat.S_IMODE(dest.stat().st_mode) == 0o555
    again = run_module(main, args(staging, dest))
    assert again["_rc"] == 0 and not again["changed"] and again["verified"] == 0
    assert again["bytes"] == sum(len(d) for d in FILES.values())


def test_corrupted_file_is_refused_named_and_nothing_promoted(staged, run_module):
    staging, dest = staged
    (staging / "model.onnx.data").write_bytes(b"\xff" + FILES["model.onnx.data"][1:])
    result = run_module(main, args(staging, dest))
    assert result["_rc"] != 0
    assert "artifact refused, 1 of 3 files do not match" in result["msg"]
    assert "model.onnx.data: sha256 " in result["msg"] and "manifest says" in result["msg"]
    assert result["mismatches"][0]["problem"] == "sha256 differs"
    assert not dest.exists(), "a refused artifact must never reach its final path"
    assert not staging.exists(), "the refused staging copy is removed"


@pytest.mark.parametrize("mutate, problem", [
    (lambda s: (s / "tokenizer/tokenizer.json").unlink(), "tokenizer/tokenizer.json: missing"),
    (lambda s: (s / "model.onnx").write_bytes(b"short"), "model.onnx: 5 bytes, manifest says 500"),
    (lambda s: (s / "evil.py").write_text("x"), "evil.py: not in the manifest"),
])
def test_each_kind_of_mismatch_is_reported(staged, run_module, mutate, problem):
    staging, dest = staged
    mutate(staging)
    result = run_module(main, args(staging, dest))
    assert result["_rc"] != 0 and problem in result["msg"]


def test_path_escaping_the_root_is_refused(staged, run_module):
    staging, dest = staged
    files = manifest_of(FILES) + [{"path": "../../etc/passwd", "sha256": "0" * 64}]
    result = run_module(main, args(staging, dest, files))
    assert result["_rc"] != 0 and "path escapes the artifact root" in result["msg"]


def test_unverified_existing_destination_is_not_overwritten(staged, run_module):
    staging, dest = staged
    dest.mkdir()
    (dest / "model.onnx").write_bytes(b"old")
    result = run_module(main, args(staging, dest))
    assert result["_rc"] != 0 and "holds no verification record" in result["msg"]
    assert (dest / "model.onnx").read_bytes() == b"old"


def test_check_mode_verifies_but_promotes_nothing(staged, run_module):
    staging, dest = staged
    result = run_module(main, dict(args(staging, dest), _ansible_check_mode=True))
    assert result["_rc"] == 0 and result["changed"] and result["verified"] == 3
    assert staging.exists() and not dest.exists()


def test_symlinked_file_in_staging_is_refused_and_its_target_untouched(staged, run_module, tmp_path):
    staging, dest = staged
    outside = tmp_path / "outside.bin"
    outside.write_bytes(FILES["model.onnx"])
    outside.chmod(0o640)
    (staging / "model.onnx").unlink()
    (staging / "model.onnx").symlink_to(outside)
    result = run_module(main, args(staging, dest))
    assert result["_rc"] != 0 and "model.onnx: a symlink (refused" in result["msg"]
    assert stat.S_IMODE(outside.stat().st_mode) == 0o640, "the symlink's target must never be made read-only"
    assert not dest.exists()


def test_symlinked_directory_in_staging_is_refused(staged, run_module, tmp_path):
    staging, dest = staged
    elsewhere = tmp_path / "elsewhere"
    (staging / "tokenizer").rename(elsewhere)
    (staging / "tokenizer").symlink_to(elsewhere)
    result = run_module(main, args(staging, dest))
    assert result["_rc"] != 0 and "tokenizer: a symlink (refused" in result["msg"]
    assert not dest.exists() and stat.S_IMODE(elsewhere.stat().st_mode) != 0o555


def promoted(staged, run_module):
    staging, dest = staged
    assert run_module(main, args(staging, dest))["_rc"] == 0
    return staging, dest


@pytest.mark.parametrize("tamper, problem", [
    (lambda d: (d / "model.onnx").write_bytes(b"short"), "model.onnx: 5 bytes, manifest says 500"),
    (lambda d: (d / "tokenizer/tokenizer.json").unlink(), "tokenizer/tokenizer.json: missing"),
    (lambda d: (d / "run.sh").write_text("x"), "run.sh: not in the manifest"),
    (lambda d: ((d / "model.onnx").unlink(), (d / "model.onnx").symlink_to("/etc/hostname")), "model.onnx: a symlink"),
    (lambda d: (d / "model.onnx.data").chmod(0o666), "model.onnx.data: writable"),
])
def test_an_already_promoted_copy_is_rechecked_not_trusted(staged, run_module, tamper, problem):
    staging, dest = promoted(staged, run_module)
    tamper(dest)
    result = run_module(main, args(staging, dest))
    assert result["_rc"] != 0 and problem in result["msg"], result["msg"]
    assert "no longer matches it" in result["msg"] and result["checked"] == 3 and dest.exists()


def test_rehash_finds_a_same_size_corruption_the_cheap_recheck_does_not(staged, run_module):
    staging, dest = promoted(staged, run_module)
    data = dest / "model.onnx.data"
    data.write_bytes(b"\xff" + FILES["model.onnx.data"][1:])
    cheap = run_module(main, args(staging, dest))
    assert cheap["_rc"] == 0 and cheap["checked"] == 3 and cheap["verified"] == 0  # lstat only: documented cost
    full = run_module(main, dict(args(staging, dest), rehash=True))
    assert full["_rc"] != 0 and "model.onnx.data: sha256 " in full["msg"] and full["verified"] == 3
