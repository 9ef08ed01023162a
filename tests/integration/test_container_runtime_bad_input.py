"""Bad input stops a real host before anything changes, with a message naming host and variable."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = "tests/integration/playbooks/container_runtime.yml"
COMPOSE = REPO / ".cache/artifacts/docker-compose-2.26.1-4-amd64"
COMPOSE_SHA = "c0ef2e286ba1c45bf1868b70a1c71d30a802bb3996888f2f986c3166f9e45f57"
GOOD = {"container_runtime_compose_local_path": str(COMPOSE), "container_runtime_compose_sha256": COMPOSE_SHA}


def assert_untouched(host) -> None:
    """Nothing the role installs or writes is on the host."""
    assert host.run("dpkg-query", "-W", "docker.io").returncode != 0, "docker.io got installed"
    assert host.run("test", "-e", "/etc/docker").returncode != 0, "/etc/docker was created"
    assert host.run("test", "-e", "/usr/local/lib/docker").returncode != 0, "the plugin dir was created"


@pytest.mark.parametrize("extra_vars, fragments", [
    pytest.param(
        dict(GOOD, container_runtime_daemon_options={"log-opts": {"max-size": 10}}),
        ["container_runtime_daemon_options", "'log-opts' values must be strings", "max-size=10"],
        id="malformed-daemon-option"),
    pytest.param(
        dict(GOOD, container_runtime_daemon_options={"registry-mirror": ["https://m.example"]}),
        ["container_runtime_daemon_options", "unknown daemon.json key 'registry-mirror'", "'registry-mirrors'"],
        id="misspelt-daemon-key"),
    pytest.param(
        dict(GOOD, container_runtime_compose_sha256="0" * 64),
        ["container_runtime_compose_local_path=", f"has sha256 {COMPOSE_SHA}",
         "expected container_runtime_compose_sha256=" + "0" * 64],
        id="compose-checksum-mismatch"),
    pytest.param(
        dict(GOOD, container_runtime_compose_sha256="not-a-checksum"),
        ["container_runtime_compose_sha256 must be the 64-hex-digit sha256", "'not-a-checksum'"],
        id="compose-checksum-malformed"),
    pytest.param(
        dict(GOOD, container_runtime_engine_source="snap"),
        ["container_runtime_engine_source must be one of: distro, upstream, got: snap"],
        id="argument-spec-choice"),
])
def test_bad_input_fails_before_any_change(systemd_host, extra_vars, fragments):
    if not COMPOSE.exists():
        pytest.fail(f"{COMPOSE} is missing: run scripts/fetch-debian-plugin.sh docker-compose")
    run = systemd_host.playbook(PLAYBOOK, extra_vars)
    assert run.rc != 0
    messages = run.failures(systemd_host.name)
    assert messages, f"no failed task reported: {run.report}"
    text = messages[0]
    # argument_specs errors are Ansible's own ("Validation of arguments failed: ..."): the host is
    # named on the failure line; our own checks name it in the message as well.
    if not text.startswith("Validation of arguments failed"):
        assert systemd_host.name in text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    assert_untouched(systemd_host)


def test_unsupported_os_family_is_refused_by_preflight_and_role(systemd_host):
    # Make the host report Alpine to fact gathering, through the files Ansible really reads.
    script = ("rm -f /etc/debian_version /etc/os-release && echo 3.20.3 > /etc/alpine-release && "
              "printf 'NAME=\"Alpine Linux\"\\nID=alpine\\nVERSION_ID=3.20.3\\nPRETTY_NAME=\"Alpine Linux v3.20\"\\n' "
              "> /etc/os-release")
    assert systemd_host.run("sh", "-c", script).returncode == 0
    site = systemd_host.playbook("site.yml", GOOD)
    assert site.rc != 0
    [message] = site.failures(systemd_host.name)
    assert f"{systemd_host.name}: os: has Alpine Linux v3.20 (alpine), supported: debian >= 12" in message
    assert "variable preflight_supported_os" in message
    role = systemd_host.playbook(PLAYBOOK, GOOD)
    assert role.rc != 0
    [message] = role.failures(systemd_host.name)
    assert "container_runtime supports OS families Debian" in message
    assert "os_family=Alpine" in message
    assert_untouched(systemd_host)
