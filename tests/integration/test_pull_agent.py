"""ansible-pull for gateways: a gateway converges itself from a git repository served inside the lab, with no
connection from the control node during the runs.

Real systemd hosts: a cache host (role site_cache: Debian's docker-registry and nginx; it also serves the site
repository with `git daemon`) holding the tiny model and the slm-engine image, and one gateway. The control node
installs the pull agent on the gateway once (playbooks/pull_install.yml). Then every run is started with
`docker exec <gateway> systemctl start slm-pull.service` and judged from what the gateway keeps: the result file, the
engine record, a real request. A commit pushed without moving the pin is refused and changes nothing. The collected
results land in the site report directory (playbooks/pull_collect.yml).
Run time: 10 min 35 s measured on 2 cores shared with other jobs (11 tests; the first pull run 3-4 min, most of it
the gateway installing Docker from apt during its own converge; the cache host's packages about 3 min).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from onnx_gateway import LAB, MODEL_ID, REPO, answers, releases, served

IMAGE = "slm-fleet/slm-engine:ansible-pull-it"
COMPOSE = REPO / ".cache/artifacts/docker-compose-2.26.1-4-amd64"
COMPOSE_SHA256 = "c0ef2e286ba1c45bf1868b70a1c71d30a802bb3996888f2f986c3166f9e45f57"
WHEELS = REPO / ".cache/pull-wheels"
CORE_VERSION = "2.19.14"
RESULT = "/var/lib/slm-pull/last-result.json"
GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="lab", GIT_AUTHOR_EMAIL="lab@example.invalid", GIT_COMMITTER_NAME="lab",
               GIT_COMMITTER_EMAIL="lab@example.invalid")


def sh(*argv: str, **kwargs) -> subprocess.CompletedProcess[str]:
    """Run a command on the control node, failing the test with its output when it fails."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode:
        pytest.fail(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def git(repo: Path, *argv: str) -> str:
    return sh("git", "-C", str(repo), *argv, env=GIT_ENV).stdout.strip()


def start_pull(gateway) -> tuple[subprocess.CompletedProcess[str], dict]:
    """Start one run on the gateway the way its timer does, and read the result it kept."""
    proc = subprocess.run(["docker", "exec", gateway.name, "systemctl", "start", "slm-pull.service"],
                          capture_output=True, text=True, check=False, timeout=2700)
    result = gateway.run("cat", RESULT)
    assert result.returncode == 0, f"no result file after the run: {proc.stderr}"
    return proc, json.loads(result.stdout)


def changed_tasks(log: str) -> list[str]:
    """The tasks of the last run that reported a change (for the idempotence assertion's message)."""
    task, changed = "", []
    for line in log.rsplit("Starting Ansible Pull", 1)[-1].splitlines():
        if line.startswith("TASK ["):
            task = line
        elif line.startswith("changed:"):
            changed.append(task)
    return changed


def journal(gateway) -> str:
    return gateway.run("journalctl", "-u", "slm-pull", "--no-pager", "-o", "cat").stdout


@pytest.fixture(scope="module")
def lab(make_hosts, playbook, tmp_path_factory):
    for need in (COMPOSE,):
        if not need.exists():
            pytest.fail(f"{need} is missing: run make venv first")
    work = tmp_path_factory.mktemp("pull-agent")
    # The wheels the control node ships (a pip download cache: the gateway never reaches PyPI).
    if not list(WHEELS.glob(f"ansible_core-{CORE_VERSION}-*.whl")):
        sh(str(REPO / ".venv/bin/pip"), "download", "-q", "--only-binary=:all:", "-d", str(WHEELS),
           f"ansible-core=={CORE_VERSION}")
    # The release: the tiny model built by slm-engine's builder, and the engine image.
    model = work / "model"
    sh(str(REPO / ".venv/bin/python"), "-m", "slm_engine", "build", "--source", str(LAB), "--output", str(model),
       "--model-id", MODEL_ID, "--precision", "int4", "--execution-provider", "cpu", "--block-size", "32",
       "--accuracy-level", "4", "--variant", "compact", "--cache-dir", str(work / "build-cache"))
    sh(str(REPO / "engine/build-image.sh"), "slm-fleet/debian:bookworm", IMAGE,
       env=dict(os.environ, CA_BUNDLE="/etc/ssl/certs/ca-certificates.crt"))
    manifest = json.loads((model / "manifest.json").read_text())
    image_id = sh("docker", "image", "inspect", "-f", "{{.Id}}", IMAGE).stdout.strip()

    cache, gateway = make_hosts(2)
    address = cache.address
    cache.group = "site_cache"
    cache.hostvars = {"site_cache_address": address}
    seeded = playbook([cache], "tests/integration/playbooks/pull_agent_cache.yml",
                      {"site_cache_deb_cache_dir": str(work / "debs")})
    assert seeded.rc == 0, seeded.failures(cache.name)

    # What a site.yml run from the control node leaves on the cache: the model under models/<build key>/ and the
    # image in the registry under a tag naming its id.
    models = f"/var/lib/slm-site-cache/models/{manifest['build_key']}"
    cache.run("mkdir", "-p", "/var/lib/slm-site-cache/models")
    sh("docker", "cp", str(model), f"{cache.name}:{models}")
    sh("docker", "exec", cache.name, "chown", "-R", "root:root", models)
    sh("docker", "exec", cache.name, "chmod", "-R", "a+rX", models)
    archive = work / "image.tar"
    sh("docker", "save", "-o", str(archive), IMAGE)
    sh("docker", "cp", str(archive), f"{cache.name}:/var/tmp/image.tar")
    tag = image_id.replace("sha256:", "")[:12]
    sh("docker", "exec", cache.name, "skopeo", "copy", "--quiet", "--dest-tls-verify=false",
       "docker-archive:/var/tmp/image.tar", f"docker://{address}:5000/slm-fleet/slm-engine:{tag}")
    cache.run("rm", "-f", "/var/tmp/image.tar")
    digest = sh("docker", "exec", cache.name, "python3", "-c",
                f"import urllib.request as u;r=u.Request('http://{address}:5000/v2/slm-fleet/slm-engine/manifests/{tag}',"
                "method='HEAD',headers={'Accept':'application/vnd.docker.distribution.manifest.v2+json,"
                "application/vnd.oci.image.manifest.v1+json'});"
                "print(u.urlopen(r).headers['Docker-Content-Digest'])").stdout.strip()
    assert digest.startswith("sha256:"), digest

    # The site repository: this project's tree plus the site's inventory and the pinned release, served by
    # `git daemon` on the cache host.
    site = work / "site"
    site.mkdir()
    files = sh("git", "-C", str(REPO), "ls-files", "-z", "-co", "--exclude-standard").stdout
    listed = [f for f in files.split("\0") if f and (REPO / f).is_file() and not f.startswith(".cache/")]
    for rel in listed:
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, site / rel)
    inventory = site / "inventories/pull-it"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {
        "slm_fleet": {"children": {"iot_gateways": {"hosts": {gateway.name: {}}}}},
        "site_cache": {"hosts": {cache.name: {"site_cache_address": address}}}}}}))
    (inventory / "group_vars/all.yml").write_text(yaml.safe_dump({
        "slm_site": "pull-it",
        "edge_hw_override": {"memory": {"total_mb": 3791}, "gpus": []},
        "slm_engine_preferences": {"engine": "onnx"},
        "engine_onnx_model_id": MODEL_ID,
        "engine_onnx_health_timeout": 120,
        "container_runtime_compose_local_path": f"/var/lib/slm-pull/files/{COMPOSE.name}",
        "container_runtime_compose_sha256": COMPOSE_SHA256,
        "container_runtime_daemon_options": {"insecure-registries": [f"{address}:5000"]},
        "verify_gate": "report",
        "verify_max_tokens": 32,
        "pull_agent_release_manifest": "releases/pull-it/manifest.json",
        "pull_agent_release_image_digest": digest,
    }))
    (site / "releases/pull-it").mkdir(parents=True)
    shutil.copy2(model / "manifest.json", site / "releases/pull-it/manifest.json")
    git(site, "init", "-q", "-b", "main")
    git(site, "add", "-A")
    git(site, "commit", "-q", "-m", "site pull-it: the tiny model's release")
    pinned = git(site, "rev-parse", "HEAD")
    bare = work / "site.git"
    sh("git", "clone", "-q", "--bare", str(site), str(bare))
    cache.run("mkdir", "-p", "/srv/git")
    sh("docker", "cp", str(bare), f"{cache.name}:/srv/git/site.git")
    sh("docker", "exec", cache.name, "systemd-run", "--unit", "lab-git-daemon", "/usr/bin/git", "daemon",
       "--base-path=/srv/git", "--export-all", "--enable=receive-pack", "--reuseaddr", f"--listen={address}", "/srv/git")
    sh("docker", "exec", cache.name, "sh", "-c", "for i in $(seq 50); do ss -Hltn | grep -q ':9418 ' && exit 0; sleep 0.2; done; exit 1")
    url = f"git://{address}/site.git"

    # The one time the control node reaches the gateway: installing the agent.
    gateway.group = "pull_gateways"
    install_vars = {"pull_agent_repo_url": url, "pull_agent_commit": pinned, "pull_agent_wheels_dir": str(WHEELS),
                    "pull_agent_ansible_core_version": CORE_VERSION, "pull_agent_files": [str(COMPOSE)],
                    "pull_agent_inventory": "inventories/pull-it",
                    # The lab's runs are started by hand; the timer is installed and enabled but not due.
                    "pull_agent_on_calendar": "2099-01-01 00:00:00", "pull_agent_randomized_delay": 0,
                    "pull_agent_timeout": 2400}
    installed = playbook([gateway], "playbooks/pull_install.yml", install_vars)
    assert installed.rc == 0, installed.failures(gateway.name)
    return {"cache": cache, "gateway": gateway, "address": address, "site": site, "pinned": pinned, "url": url,
            "manifest": manifest, "digest": digest, "work": work, "install": install_vars, "installed": installed}


@pytest.fixture(scope="module")
def first_pull(lab):
    return start_pull(lab["gateway"])


def test_the_agent_is_installed_offline_with_a_timer(lab, playbook):
    gateway = lab["gateway"]
    assert gateway.run("systemctl", "is-enabled", "slm-pull.timer").stdout.strip() == "enabled"
    assert gateway.run("systemctl", "is-active", "slm-pull.timer").stdout.strip() == "active"
    version = gateway.run("/opt/slm-pull/venv/bin/ansible", "--version").stdout
    assert f"core {CORE_VERSION}" in version, version
    settings = json.loads(gateway.run("cat", "/etc/slm-pull/pull.json").stdout)
    assert settings["commit"] == lab["pinned"] and settings["repo_url"] == lab["url"]
    # Installed again: nothing changes.
    again = playbook([gateway], "playbooks/pull_install.yml", lab["install"])
    assert again.rc == 0 and again.stats(gateway.name).get("changed", 0) == 0, again.stats(gateway.name)


def test_the_gateway_converges_itself_from_the_pinned_commit(lab, first_pull):
    proc, result = first_pull
    gateway = lab["gateway"]
    assert proc.returncode == 0 and result["status"] == "ok", (result, journal(gateway)[-4000:])
    assert result["commit"] == lab["pinned"] == result["remote_commit"]
    recap = result["recap"][gateway.name]
    assert recap["failed"] == 0 and recap["unreachable"] == 0 and recap["ok"] > 0, recap
    assert result["rc"] == 0 and result["last_success"]["commit"] == lab["pinned"]
    record = json.loads(gateway.run("cat", "/etc/ansible/facts.d/slm_endpoint.fact").stdout)
    assert record["model"] == MODEL_ID and record["engine"] == "onnx"
    assert lab["digest"] in record["image"], record
    assert served(gateway) and answers(gateway)
    # The model came from the site cache, verified: every file fetched by this gateway, none from elsewhere.
    log = lab["cache"].run("cat", "/var/log/nginx/slm-site-cache.access.log").stdout
    gw_ip = gateway.address
    for item in lab["manifest"]["files"]:
        assert f"GET /models/{lab['manifest']['build_key']}/{item['path']} HTTP/1.1\" 200" in log
    assert sum(1 for line in log.splitlines() if line.startswith(gw_ip + " ")) == len(lab["manifest"]["files"])
    key = lab["manifest"]["build_key"][:12]
    for item in lab["manifest"]["files"]:
        sha = gateway.run("sha256sum", f"/var/lib/slm-fleet/onnx/models/{MODEL_ID}/{key}/{item['path']}").stdout.split()[0]
        assert sha == item["sha256"], item["path"]
    # One copy on the gateway: the files went straight into the engine's staging; only the pinned manifest is kept here.
    assert gateway.run("ls", f"/var/lib/slm-pull/release/{key}").stdout.split() == ["manifest.json"]
    logs = journal(gateway)
    assert "PLAY RECAP" in logs and "slm-pull: ok: rc=0" in logs


def test_a_second_pull_of_the_same_commit_changes_nothing(lab, first_pull):
    gateway = lab["gateway"]
    before = served(gateway)
    proc, result = start_pull(gateway)
    assert proc.returncode == 0 and result["status"] == "ok", (result.get("reason"), journal(gateway)[-6000:])
    assert result["recap"][gateway.name]["changed"] == 0, (result["recap"], changed_tasks(journal(gateway)))
    assert served(gateway) == before


def test_a_commit_that_does_not_match_the_pin_is_refused_and_changes_nothing(lab, first_pull):
    gateway, site = lab["gateway"], lab["site"]
    serving, kept = served(gateway), releases(gateway)
    record = gateway.run("cat", "/etc/ansible/facts.d/slm_endpoint.fact").stdout
    # Someone pushes a commit that would change the engine; the gateway's pin still names the old commit.
    settings = yaml.safe_load((site / "inventories/pull-it/group_vars/all.yml").read_text())
    settings["engine_onnx_default_max_tokens"] = 64
    (site / "inventories/pull-it/group_vars/all.yml").write_text(yaml.safe_dump(settings))
    git(site, "commit", "-q", "-am", "an unreviewed change")
    pushed = git(site, "rev-parse", "HEAD")
    git(site, "push", "-q", lab["url"], "main")
    proc, result = start_pull(gateway)
    assert proc.returncode != 0, "the unit must fail on a refused commit"
    assert result["status"] == "refused" and result["remote_commit"] == pushed, result
    assert lab["pinned"] in result["reason"] and pushed in result["reason"], result["reason"]
    assert result["commit"] is None and result["recap"] == {}
    assert result["last_success"]["commit"] == lab["pinned"]
    # Nothing ran: the checkout, the release, the engine record are those of the pinned commit.
    assert gateway.run("git", "-C", "/var/lib/slm-pull/checkout", "rev-parse", "HEAD").stdout.strip() == lab["pinned"]
    assert served(gateway) == serving and releases(gateway) == kept
    assert gateway.run("cat", "/etc/ansible/facts.d/slm_endpoint.fact").stdout == record
    assert "refused, nothing was run" in journal(gateway)


def test_a_run_while_another_holds_the_lock_does_nothing(lab, first_pull):
    gateway = lab["gateway"]
    before = gateway.run("cat", RESULT).stdout
    proc = gateway.run("flock", "/var/lib/slm-pull/run.lock", "/usr/bin/python3", "/opt/slm-pull/bin/slm-pull-run",
                       "/etc/slm-pull/pull.json")
    assert proc.returncode == 75, (proc.stdout, proc.stderr)
    assert "another run holds" in proc.stdout
    assert gateway.run("cat", RESULT).stdout == before


def test_the_operator_collects_the_results_into_the_site_report(lab, first_pull, playbook):
    gateway = lab["gateway"]
    report = lab["work"] / "report"
    run = playbook([gateway], "playbooks/pull_collect.yml", {"slm_report_dir": str(report)})
    assert run.rc == 0, run.failures(gateway.name)
    assert run.stats(gateway.name).get("changed", 0) == 0
    kept = json.loads(gateway.run("cat", RESULT).stdout)
    assert json.loads((report / f"pull/{gateway.name}.json").read_text()) == kept
    summary = json.loads((report / "pull.json").read_text())
    assert summary["hosts"][gateway.name] == kept
    line = summary["summary"][0]
    # The last run was the refused one: the line says so, why, and when this host last converged.
    assert line.startswith(f"{gateway.name}: refused"), line
    assert "pinned" in line and "last success" in line and lab["pinned"][:12] in line, line
    # No secret and no private path leaks into what the operator collects.
    text = json.dumps(summary)
    assert "BEGIN" not in text and "password" not in text.lower()


@pytest.mark.parametrize("bad, variable", [
    ({"pull_agent_repo_url": "https://bob:hunter2@git.example.com/site.git"}, "pull_agent_repo_url"),
    ({"pull_agent_commit": ""}, "pull_agent_commit"),
    ({"pull_agent_commit": "main"}, "pull_agent_commit"),
    ({"pull_agent_on_calendar": "every tuesday-ish"}, "pull_agent_on_calendar"),
    ({"pull_agent_extra_vars": {"engine_onnx_api_key": "x"}}, "pull_agent_extra_vars"),
])
def test_bad_input_is_refused_naming_host_and_variable_with_the_host_untouched(lab, first_pull, playbook, bad, variable):
    gateway = lab["gateway"]
    before = {path: gateway.run("stat", "-c", "%Y %s", path).stdout for path in
              ("/etc/slm-pull/pull.json", "/etc/slm-pull/extra-vars.json", "/etc/systemd/system/slm-pull.timer")}
    run = playbook([gateway], "playbooks/pull_install.yml", {**lab["install"], **bad})
    assert run.rc != 0
    assert run.stats(gateway.name).get("changed", 0) == 0
    message = run.failures(gateway.name)[-1]
    assert message.startswith(f"{gateway.name}: ") and variable in message and "Allowed" in message, message
    assert "hunter2" not in message and "hunter2" not in json.dumps(run.report)
    assert "Traceback" not in run.stderr
    after = {path: gateway.run("stat", "-c", "%Y %s", path).stdout for path in before}
    assert after == before
