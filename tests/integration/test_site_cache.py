"""One download per site: the control node sends the model and the image to the site cache once, and the
site's hosts fetch them from it over the site network (nginx with Range, Debian's docker-registry), verified.

Real systemd hosts: one cache host (the site_cache role installs docker-registry, nginx-light and skopeo from
.deb files the control node downloads), two hosts that get Docker from container_runtime and the artifacts from
slm_release's ship_model / ship_image. A second run sends nothing. Run time: 5 min 48 s measured on 2 cores
(11 min with another heavy job beside it), most of it apt installing Docker in the two hosts and the cache's
packages, side by side.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

IMAGE = "slm-fleet/busybox:test"
PLAYBOOK = "tests/integration/playbooks/site_cache.yml"


def host_messages(run, task: str) -> dict[str, dict]:
    """The debug ``msg`` per host of the task named ``task``."""
    found = {}
    for play in run.report.get("plays", []):
        for entry in play.get("tasks", []):
            if entry["task"]["name"] == task:
                for host, result in entry["hosts"].items():
                    found[host] = result.get("msg")
    return found


@pytest.fixture(scope="module")
def site(make_hosts, tmp_path_factory):
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False).returncode:
        pytest.fail(f"image {IMAGE} is missing: run `make images` first")
    cache, gw1, gw2 = make_hosts(3)
    cache.group = "site_cache"
    address = cache.address
    cache.hostvars = {"site_cache_address": address}
    for gateway in (gw1, gw2):
        gateway.group = "gateways"
    work = tmp_path_factory.mktemp("site-cache")
    model = work / "model"
    (model / "tokenizer").mkdir(parents=True)
    files = {"model.onnx.data": os.urandom(3 * 1024 * 1024), "genai_config.json": b'{"model": {}}',
             "tokenizer/tokenizer.json": b'{"v": 1}' * 500}
    for rel, data in files.items():
        (model / rel).write_bytes(data)
    manifest = {"build_key": hashlib.sha256(b"".join(files.values())).hexdigest(),
                "files": [{"path": p, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for p, d in files.items()]}
    extra = {"it_model_dir": str(model), "it_manifest": manifest, "it_image_ref": IMAGE, "it_build_dir": str(work / "build"),
             "site_cache_deb_cache_dir": str(work / "debs"),
             "container_runtime_compose_source": "none",
             "container_runtime_daemon_options": {"insecure-registries": [f"{address}:5000"]}}
    return {"cache": cache, "gateways": [gw1, gw2], "address": address, "files": files, "manifest": manifest,
            "extra": extra}


@pytest.fixture(scope="module")
def first_run(site, playbook):
    return playbook([site["cache"], *site["gateways"]], PLAYBOOK, site["extra"])


def test_the_cache_serves_on_the_site_address_only(site, first_run):
    assert first_run.rc == 0, [first_run.failures(h.name) for h in [site["cache"], *site["gateways"]]]
    cache = site["cache"]
    listening = cache.run("ss", "-Hltn").stdout
    assert f"{site['address']}:5000" in listening and f"{site['address']}:8080" in listening, listening
    assert "0.0.0.0:80 " not in listening and "*:5000" not in listening, listening
    for unit in ("docker-registry", "nginx"):
        assert cache.run("systemctl", "is-active", unit).stdout.strip() == "active"
        assert cache.run("systemctl", "is-enabled", unit).stdout.strip() == "enabled"
    # The packages came from the control node's files: the cache host has no apt lists to install from.
    assert cache.run("test", "-e", "/var/cache/slm-site-cache/debs").returncode != 0


def test_hosts_got_the_model_and_image_from_the_cache_verified(site, first_run):
    assert first_run.rc == 0
    key = site["manifest"]["build_key"]
    control_id = json.loads(subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, text=True,
                                           check=True).stdout)[0]["Id"]
    report = host_messages(first_run, "Report what each host received and what the control node sent")
    log = site["cache"].run("cat", "/var/log/nginx/slm-site-cache.access.log").stdout
    registry_log = site["cache"].run("journalctl", "-u", "docker-registry", "--no-pager", "-o", "cat").stdout
    for gateway in site["gateways"]:
        got = report[gateway.name]
        assert got["model_from"] == "site_cache" and got["image_from"] == "site_cache", got
        for rel, data in site["files"].items():
            path = f"/var/lib/slm-it/models/it-model/{key[:12]}/{rel}"
            assert gateway.run("sha256sum", path).stdout.split()[0] == hashlib.sha256(data).hexdigest()
            assert f"GET /models/{key}/{rel} HTTP/1.1\" 200" in log
        host_id = gateway.run("docker", "image", "inspect", "-f", "{{.Id}}", IMAGE).stdout.strip()
        assert host_id == control_id == got["image_id"]
        gw_ip = gateway.address
        assert sum(1 for line in log.splitlines() if line.startswith(gw_ip + " ")) == len(site["files"])
        assert gw_ip in registry_log


def test_the_control_node_sent_one_copy_for_the_whole_site(site, first_run):
    report = host_messages(first_run, "Report what each host received and what the control node sent")
    archive = sum(f.stat().st_size for f in Path(site["extra"]["it_build_dir"]).glob("images/*/image.tar"))
    model = sum(len(d) for d in site["files"].values())
    upstream = sum(int(r["upstream_bytes"]) for r in report.values())
    assert archive > 0
    assert upstream == model + archive, (upstream, model, archive)


def test_a_second_run_sends_nothing_and_changes_nothing(site, first_run, playbook):
    again = playbook([site["cache"], *site["gateways"]], PLAYBOOK, site["extra"])
    assert again.rc == 0
    report = host_messages(again, "Report what each host received and what the control node sent")
    assert all(int(r["upstream_bytes"]) == 0 and r["model_from"] == "none" for r in report.values()), report
    for host in [site["cache"], *site["gateways"]]:
        assert again.stats(host.name).get("changed", 0) == 0, host.name


def test_a_partial_file_resumes_from_nginx_and_a_corrupted_one_is_fetched_again(site, first_run, playbook):
    """Against the cache's real nginx: a partial file asks only for the rest (206), a damaged file is replaced."""
    assert first_run.rc == 0
    gateway = site["gateways"][0]
    key, files = site["manifest"]["build_key"], site["files"]
    data = files["model.onnx.data"]
    dest = "/var/tmp/slm-it-fetch"
    gateway.run("sh", "-c", f"rm -rf {dest} && mkdir -p {dest}")
    subprocess.run(["docker", "exec", "-i", gateway.name, "sh", "-c", f"cat > {dest}/model.onnx.data.part"],
                   input=data[:1048576], check=True)
    subprocess.run(["docker", "exec", "-i", gateway.name, "sh", "-c", f"cat > {dest}/genai_config.json"],
                   input=b"damaged", check=True)
    extra = {"it_url": f"http://{site['address']}:8080/models/{key}", "it_dest": dest,
             "it_files": [f for f in site["manifest"]["files"] if f["path"] != "tokenizer/tokenizer.json"]}
    run = playbook([gateway], "tests/integration/playbooks/slm_fetch.yml", extra)
    assert run.rc == 0, run.failures(gateway.name)
    fetched = next(t["hosts"][gateway.name]["it_fetch"] for p in run.report["plays"] for t in p["tasks"]
                   if t["task"]["name"] == "Report the fetch")
    assert fetched["resumed"] == [{"path": "model.onnx.data", "offsets": [1048576]}], fetched
    assert fetched["refused"] == [{"path": "genai_config.json", "times": 1}], fetched
    assert fetched["bytes_received"] == len(data) - 1048576 + len(files["genai_config.json"])
    for rel in ("model.onnx.data", "genai_config.json"):
        assert gateway.run("sha256sum", f"{dest}/{rel}").stdout.split()[0] == hashlib.sha256(files[rel]).hexdigest()
    log = site["cache"].run("cat", "/var/log/nginx/slm-site-cache.access.log").stdout
    assert f"GET /models/{key}/model.onnx.data HTTP/1.1\" 206 {len(data) - 1048576}" in log, log[-2000:]
