"""slm_endpoint main() in-process: the engine record written, read, replaced and removed on disk."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from ansible_collections.edgeai.slm_fleet.plugins.modules import slm_endpoint

RECORD = {"engine": "onnx", "label": "slm-engine", "release": "3f2a9c1b0d4e", "url": "http://127.0.0.1:8000/",
          "api": "openai", "model": "phi-4-mini-instruct", "api_key_file": "/var/lib/slm-fleet/onnx/secrets/api_key",
          "metrics_url": "http://127.0.0.1:8000/metrics", "image": "slm-fleet/slm-engine:0.1.0"}


def write(run_module, path: Path, **changes):
    return run_module(slm_endpoint.main, dict(RECORD, state="present", path=str(path), **changes))


def test_present_writes_a_world_readable_record_and_sets_the_fact(run_module, tmp_path: Path) -> None:
    path = tmp_path / "facts.d" / "slm_endpoint.fact"
    r = write(run_module, path)
    assert r["_rc"] == 0 and r["changed"] is True
    on_disk = json.loads(path.read_text())
    assert on_disk == r["record"] == r["ansible_facts"]["slm_endpoint"]
    assert on_disk["schema"] == 1 and on_disk["url"] == "http://127.0.0.1:8000", "trailing slash dropped"
    assert on_disk["previous_release"] == ""
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_the_same_record_twice_is_no_change(run_module, tmp_path: Path) -> None:
    path = tmp_path / "r.fact"
    write(run_module, path)
    again = write(run_module, path)
    assert again["changed"] is False
    other = write(run_module, path, release="77aa01bc3d2f", previous_release="3f2a9c1b0d4e")
    assert other["changed"] is True and '"release": "77aa01bc3d2f"' in other["diff"]["after"]
    assert '"release": "3f2a9c1b0d4e"' in other["diff"]["before"]


def test_check_mode_reports_without_writing(run_module, tmp_path: Path) -> None:
    path = tmp_path / "r.fact"
    r = run_module(slm_endpoint.main, dict(RECORD, state="present", path=str(path), _ansible_check_mode=True))
    assert r["changed"] is True and not path.exists()


def test_read_returns_the_record_or_nothing(run_module, tmp_path: Path) -> None:
    path = tmp_path / "r.fact"
    missing = run_module(slm_endpoint.main, {"state": "read", "path": str(path)})
    assert missing["_rc"] == 0 and missing["found"] is False and missing["ansible_facts"]["slm_endpoint"] == {}
    write(run_module, path)
    found = run_module(slm_endpoint.main, {"path": str(path)})  # read is the default state
    assert found["found"] is True and found["changed"] is False
    assert found["ansible_facts"]["slm_endpoint"]["model"] == "phi-4-mini-instruct"


def test_absent_removes_the_record(run_module, tmp_path: Path) -> None:
    path = tmp_path / "r.fact"
    write(run_module, path)
    gone = run_module(slm_endpoint.main, {"state": "absent", "path": str(path)})
    assert gone["changed"] is True and not path.exists()
    assert run_module(slm_endpoint.main, {"state": "absent", "path": str(path)})["changed"] is False


def test_invalid_fields_are_refused_with_every_problem(run_module, tmp_path: Path) -> None:
    path = tmp_path / "r.fact"
    r = write(run_module, path, engine="On NX", url="ftp://host/x", api_key_file="relative/key")
    assert r["_rc"] == 1 and not path.exists()
    assert "engine='On NX' is not valid" in r["msg"] and "url='ftp://host/x' is not valid" in r["msg"]
    assert "api_key_file='relative/key' must be an absolute path" in r["msg"]


def test_present_requires_the_contract_fields(run_module, tmp_path: Path) -> None:
    r = run_module(slm_endpoint.main, {"state": "present", "path": str(tmp_path / "r.fact"), "engine": "onnx"})
    assert r["_rc"] == 1 and "release" in r["msg"] and "url" in r["msg"]


def test_a_corrupt_or_foreign_record_fails_reading_with_the_path(run_module, tmp_path: Path) -> None:
    path = tmp_path / "r.fact"
    path.write_text("{not json")
    r = run_module(slm_endpoint.main, {"path": str(path)})
    assert r["_rc"] == 1 and str(path) in r["msg"] and "not JSON" in r["msg"]
    path.write_text(json.dumps({"schema": 99, "engine": "onnx"}))
    r = run_module(slm_endpoint.main, {"path": str(path)})
    assert r["_rc"] == 1 and "schema 99" in r["msg"]
    path.write_text(json.dumps(dict(RECORD, schema=1, api="grpc")))
    r = run_module(slm_endpoint.main, {"path": str(path)})
    assert r["_rc"] == 1 and "api='grpc' is not one of openai, ollama" in r["msg"]
    # The engine role rewrites a broken record.
    assert write(run_module, path)["changed"] is True


def test_golden_file_is_optional_and_stored(run_module, tmp_path: Path) -> None:
    path = tmp_path / "r.fact"
    without = write(run_module, path)
    assert without["record"]["golden_file"] == "", "engines without golden answers leave it empty"
    golden = "/var/lib/slm-fleet/onnx/models/tiny/72729ce5a4ac/golden.json"
    withit = write(run_module, path, golden_file=golden)
    assert withit["changed"] is True and json.loads(path.read_text())["golden_file"] == golden


def test_a_relative_or_non_json_golden_file_is_refused_before_writing(run_module, tmp_path: Path) -> None:
    path = tmp_path / "r.fact"
    for bad in ("models/golden.json", "/var/lib/slm-fleet/onnx/models/tiny/golden.txt"):
        r = write(run_module, path, golden_file=bad)
        assert r["_rc"] == 1 and "golden_file=%r must be an absolute path" % bad in r["msg"]
        assert not path.exists()
