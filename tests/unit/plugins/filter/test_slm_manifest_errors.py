"""slm_manifest_errors / slm_path_name_error: manifests and names that would escape a host path are refused."""

from __future__ import annotations

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.filter.slm_manifest_errors import (
    FilterModule, slm_manifest_errors, slm_path_name_error)

SHA = "a" * 64


def manifest(*paths, **extra):
    return {"build_key": "7f8b13aff87a" * 2, "files": [{"path": p, "sha256": SHA, "size": 1} for p in paths], **extra}


def test_a_sound_manifest_has_no_errors() -> None:
    assert slm_manifest_errors(manifest("model.onnx", "tokenizer/vocab.json", "a.b-c_d")) == []


@pytest.mark.parametrize("path, why", [
    ("../../../x", "path contains '..'"),
    ("a/../../x", "path contains '..'"),
    ("..", "path contains '..'"),
    ("/etc/passwd", "path is absolute"),
    ("", "path is empty"),
    ("a\x00b", "NUL byte"),
    ("..\\..\\x", "backslash"),
    ("a\nb", "control character"),
    ("./a", "not normalised"),
    ("a//b", "not normalised"),
    ("a/", "not normalised"),
    (".", "not normalised"),
    (7, "path is not a string"),
    (None, "path is not a string"),
])
def test_bad_paths_are_named_with_the_reason(path, why) -> None:
    [error] = slm_manifest_errors(manifest("ok.json", path))
    assert error.startswith("files[1]"), error
    assert why in error, error


def test_duplicates_and_file_directory_clashes() -> None:
    errors = slm_manifest_errors(manifest("a", "b", "a", "b/c"))
    assert "files[2] (path 'a'): duplicate of files[0]" in errors
    assert any(e.startswith("files[3] (path 'b/c'): its directory 'b' is also listed as a file") for e in errors), errors


@pytest.mark.parametrize("entry, why", [
    ({"path": "x", "sha256": "a" * 63, "size": 1}, "sha256 'aaa"),
    ({"path": "x", "sha256": "g" * 64, "size": 1}, "is not 64 hex digits"),
    ({"path": "x", "size": 1}, "sha256 None is not 64 hex digits"),
    ({"path": "x", "sha256": SHA, "size": -1}, "size -1 is not a non-negative integer"),
    ({"path": "x", "sha256": SHA, "size": "12"}, "size '12' is not a non-negative integer"),
    ({"path": "x", "sha256": SHA, "size": True}, "size True is not"),
    ({"path": "x", "sha256": SHA}, "size None is not"),
])
def test_bad_digests_and_sizes(entry, why) -> None:
    [error] = slm_manifest_errors({"files": [entry]})
    assert error.startswith("files[0] (path 'x'): ") and why in error, error


@pytest.mark.parametrize("bad", [{"files": []}, {"files": "x"}, {}, [], "manifest"])
def test_shapes_that_are_not_manifests(bad) -> None:
    assert slm_manifest_errors(bad)


@pytest.mark.parametrize("key", ["../../x", "abc", 12, "z" * 64])
def test_build_key_must_be_hex(key) -> None:
    [error] = slm_manifest_errors({**manifest("a"), "build_key": key})
    assert error.startswith("build_key") and "not a hex string" in error


@pytest.mark.parametrize("name", ["phi-4-mini-instruct", "lab-tiny-phi3", "Qwen2.5-0.5B", "a"])
def test_good_names(name) -> None:
    assert slm_path_name_error(name) == ""


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", ".hidden", "-x", "a b", "a\x00", "x" * 129, None, 3])
def test_bad_names(name) -> None:
    assert "one path component" in slm_path_name_error(name)


def test_both_filters_are_registered() -> None:
    assert set(FilterModule().filters()) == {"slm_manifest_errors", "slm_path_name_error"}
