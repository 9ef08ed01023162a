"""slm_fetch: files from the site cache over HTTP, Range resume, sha256 refusal and re-fetch, check mode.

The server here is a small Range-capable HTTP file server built for the test (stdlib), so that a test can cut a
connection mid-body or serve a damaged file on purpose; the integration test runs the module against nginx.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import threading
from pathlib import Path
from typing import Iterator

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.modules.slm_fetch import main

FILES = {"model.onnx": os.urandom(300_000), "tokenizer/tokenizer.json": b'{"v": 1}' * 1000}


def manifest(files: dict[str, bytes]) -> list[dict]:
    return [{"path": p, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for p, d in files.items()]


class CacheServer(http.server.ThreadingHTTPServer):
    """Serves ``content``; ``cut_after[path]`` bytes then drops the connection (once per entry in ``cuts``)."""

    daemon_threads = True

    def __init__(self, content: dict[str, bytes]):
        super().__init__(("127.0.0.1", 0), Handler)
        self.content = dict(content)
        self.cuts: dict[str, list[int]] = {}
        self.honour_range = True
        self.requests: list[tuple[str, str | None]] = []


class Handler(http.server.BaseHTTPRequestHandler):
    server: CacheServer

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        rel = self.path.lstrip("/").removeprefix("models/key/")
        rng = self.headers.get("Range")
        self.server.requests.append((rel, rng))
        data = self.server.content.get(rel)
        if data is None:
            self.send_error(404)
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if match and self.server.honour_range:
            start = int(match.group(1))
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cuts = self.server.cuts.get(rel)
        if cuts:
            self.wfile.write(body[:cuts.pop(0)])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[CacheServer]:
    srv = CacheServer(FILES)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def args(server: CacheServer, dest: Path, **extra) -> dict:
    return {"url": f"http://127.0.0.1:{server.server_address[1]}/models/key", "dest": str(dest),
            "files": manifest(FILES), "timeout": 5, **extra}


def assert_complete(dest: Path) -> None:
    for rel, data in FILES.items():
        assert (dest / rel).read_bytes() == data
        assert not (dest / (rel + ".part")).exists()


def test_fetches_every_file_then_a_rerun_fetches_nothing(server, tmp_path, run_module):
    result = run_module(main, args(server, tmp_path / "stage"))
    assert result["_rc"] == 0 and result["changed"], result
    assert sorted(result["fetched"]) == sorted(FILES)
    assert result["bytes_received"] == sum(len(d) for d in FILES.values())
    assert_complete(tmp_path / "stage")
    again = run_module(main, args(server, tmp_path / "stage"))
    assert again["_rc"] == 0 and not again["changed"] and again["bytes_received"] == 0 and again["fetched"] == []


def test_check_mode_reports_the_missing_bytes_and_makes_no_request(server, tmp_path, run_module):
    result = run_module(main, args(server, tmp_path / "stage", _ansible_check_mode=True))
    assert result["_rc"] == 0 and result["changed"]
    assert result["bytes_missing"] == sum(len(d) for d in FILES.values()) and result["bytes_received"] == 0
    assert server.requests == [] and not (tmp_path / "stage").exists()


def test_transfer_cut_mid_file_resumes_with_a_range_request(server, tmp_path, run_module):
    server.cuts["model.onnx"] = [100_000]
    result = run_module(main, args(server, tmp_path / "stage"))
    assert result["_rc"] == 0, result
    assert result["resumed"] == [{"path": "model.onnx", "offsets": [100_000]}]
    assert ("model.onnx", "bytes=100000-") in server.requests
    # Every byte crossed the network exactly once: the resumed request asked only for the rest.
    assert result["bytes_received"] == sum(len(d) for d in FILES.values())
    assert_complete(tmp_path / "stage")


def test_partial_file_left_by_an_earlier_run_is_resumed(server, tmp_path, run_module):
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "model.onnx.part").write_bytes(FILES["model.onnx"][:200_000])
    result = run_module(main, args(server, stage, files=manifest({"model.onnx": FILES["model.onnx"]})))
    assert result["_rc"] == 0, result
    assert result["resumed"] == [{"path": "model.onnx", "offsets": [200_000]}]
    assert result["bytes_received"] == 100_000
    assert (stage / "model.onnx").read_bytes() == FILES["model.onnx"]


def test_corrupted_partial_file_is_refused_and_fetched_again_from_zero(server, tmp_path, run_module):
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "model.onnx.part").write_bytes(b"\xff" * 200_000)  # right length for a resume, wrong bytes
    result = run_module(main, args(server, stage, files=manifest({"model.onnx": FILES["model.onnx"]})))
    assert result["_rc"] == 0, result
    assert result["refused"] == [{"path": "model.onnx", "times": 1}]
    assert [r for r in server.requests if r[0] == "model.onnx"] == [("model.onnx", "bytes=200000-"), ("model.onnx", None)]
    assert (stage / "model.onnx").read_bytes() == FILES["model.onnx"]


def test_damaged_file_already_in_dest_is_refused_and_fetched_again(server, tmp_path, run_module):
    run_module(main, args(server, tmp_path / "stage"))
    damaged = bytearray(FILES["model.onnx"])
    damaged[1234] ^= 0xFF
    (tmp_path / "stage" / "model.onnx").write_bytes(bytes(damaged))
    result = run_module(main, args(server, tmp_path / "stage"))
    assert result["_rc"] == 0 and result["changed"] and result["fetched"] == ["model.onnx"], result
    assert_complete(tmp_path / "stage")


def test_wrong_file_on_the_server_fails_and_leaves_nothing_behind(server, tmp_path, run_module):
    server.content["model.onnx"] = b"x" * len(FILES["model.onnx"])
    result = run_module(main, args(server, tmp_path / "stage"))
    assert result["_rc"] == 1
    assert "model.onnx: the server's file does not match the manifest's sha256" in result["msg"]
    assert "refused twice" in result["msg"]
    assert not (tmp_path / "stage" / "model.onnx").exists() and not (tmp_path / "stage" / "model.onnx.part").exists()


def test_server_ignoring_range_gets_the_whole_file_again(server, tmp_path, run_module):
    server.honour_range = False
    server.cuts["model.onnx"] = [50_000]
    result = run_module(main, args(server, tmp_path / "stage"))
    assert result["_rc"] == 0 and result["resumed"] == [], result
    assert_complete(tmp_path / "stage")


def test_cache_that_keeps_cutting_fails_and_keeps_the_partial_file_for_the_next_run(server, tmp_path, run_module):
    server.cuts["model.onnx"] = [10_000] * 3
    result = run_module(main, args(server, tmp_path / "stage", attempts=3))
    assert result["_rc"] == 1
    assert "transfer incomplete after 3 attempts (30000 bytes of 300000" in result["msg"], result["msg"]
    assert (tmp_path / "stage" / "model.onnx.part").stat().st_size == 30_000
    resumed = run_module(main, args(server, tmp_path / "stage"))
    assert resumed["_rc"] == 0 and resumed["resumed"][0]["offsets"] == [30_000]
    assert_complete(tmp_path / "stage")


@pytest.mark.parametrize("path", ["../escape", "/etc/passwd", "a/./b", "a//b"])
def test_manifest_path_that_escapes_dest_is_refused_before_any_request(server, tmp_path, run_module, path):
    files = [{"path": path, "sha256": "ab" * 32, "size": 1}]
    result = run_module(main, args(server, tmp_path / "stage", files=files))
    assert result["_rc"] == 1 and "must be relative and normalised" in result["msg"] and path in result["msg"]
    assert server.requests == []


def test_missing_file_on_the_cache_names_the_url(server, tmp_path, run_module):
    del server.content["model.onnx"]
    result = run_module(main, args(server, tmp_path / "stage"))
    assert result["_rc"] == 1 and "/models/key/model.onnx answered HTTP 404" in result["msg"]
