"""Real state of a host after the container_runtime role (testinfra, over the molecule inventory)."""

import json


def test_docker_service_is_active_and_enabled(host):
    service = host.service("docker")
    assert service.is_running
    assert service.is_enabled


def test_compose_plugin_reports_v2(host):
    out = host.check_output("docker compose version --short")
    assert out.lstrip("v").startswith("2."), out


def test_daemon_json_kept_foreign_key_and_has_ours(host):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    # Written by prepare.yml, as another tool would: must survive the merge.
    assert config["labels"] == ["io.edgeai.test=written-by-another-tool"]
    assert config["log-driver"] == "json-file"
    assert config["log-opts"] == {"max-size": "10m", "max-file": "3"}
    assert config["registry-mirrors"] == ["https://mirror.lab.invalid:5000"]
    assert config["live-restore"] is True


def test_running_engine_uses_the_merged_config(host):
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file"
    assert "https://mirror.lab.invalid:5000/" in info["RegistryConfig"]["Mirrors"]
    assert info["LiveRestoreEnabled"] is True
    assert "io.edgeai.test=written-by-another-tool" in info["Labels"]


def test_site_ca_is_in_the_system_store(host):
    installed = host.file("/usr/local/share/ca-certificates/slm-fleet-site-ca.crt")
    assert installed.exists and installed.mode == 0o644
    bundle = host.file("/etc/ssl/certs/ca-certificates.crt").content_string
    marker = installed.content_string.strip().splitlines()[1]
    assert marker in bundle


def test_container_from_loaded_image_runs_and_exits_zero(host):
    host.check_output("docker load -i /root/busybox.tar")
    result = host.run("docker run --rm slm-fleet/busybox:test sh -c 'echo nested-ok'")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "nested-ok"
