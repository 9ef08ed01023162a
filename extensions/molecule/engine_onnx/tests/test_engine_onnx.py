"""Real state of a gateway after engine_onnx (testinfra over the molecule inventory)."""

import json
import os
from pathlib import Path

import pytest

ROOT = "/var/lib/slm-fleet/onnx"
PROJECT, PORT = "slm-onnx", 8000
KEY = "molecule-test-key"

ASK = r"""
import json, sys, urllib.request
port, key = sys.argv[1], sys.argv[2]
def call(path, body=None, auth=True):
    req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path),
                                 data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json", **({"Authorization": "Bearer " + key} if auth else {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None
print(json.dumps({
    "health": call("/health", auth=False),
    "noauth": call("/v1/models", auth=False)[0],
    "chat": call("/v1/chat/completions", {"model": "lab-tiny-phi3", "max_tokens": 8, "temperature": 0,
                                          "messages": [{"role": "user", "content": "Hello"}]}),
}))
"""


@pytest.fixture(scope="module")
def release(host):
    with host.sudo():
        return json.loads(host.file(f"{ROOT}/current/release.json").content_string)


def test_compose_project_running_and_healthy(serving_container):
    state = serving_container["State"]
    assert state["Running"] and state["Health"]["Status"] == "healthy", state


def test_health_and_chat_completion_from_the_host(host):
    result = json.loads(host.check_output(f"python3 - 8000 {KEY} <<'PYEOF'\n{ASK}\nPYEOF"))
    status, body = result["health"]
    assert status == 200 and body["model"] == "lab-tiny-phi3"
    assert result["noauth"] == 401, "the API key must guard /v1/*"
    status, chat = result["chat"]
    assert status == 200
    assert chat["usage"]["completion_tokens"] == 8
    assert chat["usage"]["total_tokens"] == chat["usage"]["prompt_tokens"] + 8


def test_model_files_match_the_manifest_and_are_read_only(host, release):
    model_dir = release["model_dir"]
    with host.sudo():
        manifest = json.loads(host.file(f"{model_dir}/manifest.json").content_string)
        for entry in manifest["files"]:
            path = f"{model_dir}/{entry['path']}"
            assert host.file(path).sha256sum == entry["sha256"], path
            assert host.file(path).mode == 0o444 and host.file(path).user == "root"
        assert host.file(model_dir).mode == 0o555
    # Not writable by anyone but root, in particular not by the engine's user.
    assert host.run(f"sudo -u nobody test -w {model_dir}/{manifest['files'][0]['path']}").rc != 0


def test_engine_runs_non_root_read_only_without_capabilities(host, serving_container):
    info = serving_container
    with host.sudo():
        top = host.check_output(f"docker top {info['Id'][:12]} -o pid,uid,comm")
    assert info["Config"]["User"] == "10001:10001"
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    assert info["HostConfig"]["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in info["HostConfig"]["SecurityOpt"]
    uids = {line.split()[1] for line in top.splitlines()[1:]}
    assert uids == {"10001"}, top


def test_the_key_is_only_in_its_private_file(host, release, serving_container):
    with host.sudo():
        key_file = host.file(f"{ROOT}/secrets/api_key")
        assert key_file.mode == 0o400 and key_file.uid == 10001 and key_file.content_string == KEY
        assert host.file(f"{ROOT}/secrets").mode == 0o700
        env = host.file(f"{ROOT}/current/engine.env").content_string
        assert "SLM_API_KEY_FILE=/run/secrets/api_key" in env and KEY not in env
        releases = host.check_output(f"cat {ROOT}/current/*")
    assert KEY not in releases, "no release file holds the key (release ids hash only non-secret content)"
    assert KEY not in json.dumps(serving_container), "docker inspect must not show the key"


def test_engine_record_names_the_endpoint_and_where_the_key_lives(host, release):
    record = json.loads(host.file("/etc/ansible/facts.d/slm_endpoint.fact").content_string)
    assert host.file("/etc/ansible/facts.d/slm_endpoint.fact").mode == 0o644
    assert record["engine"] == "onnx" and record["api"] == "openai" and record["model"] == "lab-tiny-phi3"
    assert record["release"] == release["release"] and record["url"] == "http://127.0.0.1:8000"
    assert record["api_key_file"] == f"{ROOT}/secrets/api_key" and KEY not in json.dumps(record)


def test_api_published_on_loopback_only(published_bindings, serving_container):
    # The engine's port (the release's own, or the front proxy's in front of it) and the release's
    # port are bound to loopback only.
    assert ("127.0.0.1", "8000") in published_bindings, published_bindings
    assert {address[0] for address in published_bindings} == {"127.0.0.1"}, published_bindings
    bindings = serving_container["HostConfig"]["PortBindings"]["8000/tcp"]
    assert [b["HostIp"] for b in bindings] == ["127.0.0.1"], bindings


def test_corrupted_artifact_was_refused_and_the_host_kept_serving(host, release):
    corrupted = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "corrupted-file").read_text().strip()
    with host.sudo():
        refusal = host.file("/root/refusal.txt").content_string
        staging = host.run(f"ls -a {ROOT}/models/lab-tiny-phi3").stdout
    assert refusal.startswith(host.backend.get_hostname() + ": model lab-tiny-phi3 version "), refusal
    assert "artifact refused" in refusal and f"{corrupted}: sha256 " in refusal, refusal
    assert "nothing was switched" in refusal
    assert ".staging-" not in staging, "the refused copy must be removed"
    # Still the release from converge, still answering (checked above), still one model version.
    assert release["model_dir"].endswith(tuple(staging.split()))


def test_site_report_has_both_gateways_healthy_with_failing_reasons(host):
    report = json.loads(Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "reports", "site_report.json").read_text())
    rows = {r["host"]: r for r in report["hosts"]}
    row = rows[host.backend.get_hostname()]
    assert sorted(rows) == ["gw-1", "gw-2"]
    assert row["health"] == "healthy" and row["engine"] == "onnx" and row["profile"] == "edge_optimized"
    assert row["verdict"] == "failed" and row["pass_rate"] == 0
    assert all(f["reason"] for f in row["failures"]), row["failures"]
    assert Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "reports", "hosts", row["host"] + ".json").is_file()
