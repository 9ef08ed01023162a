"""site.yml refuses an under-sized host before any change and carries on with the rest of the site."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPOSE = {
    "container_runtime_compose_local_path": str(REPO / ".cache/artifacts/docker-compose-2.26.1-4-amd64"),
    "container_runtime_compose_sha256": "c0ef2e286ba1c45bf1868b70a1c71d30a802bb3996888f2f986c3166f9e45f57",
}


def test_undersized_host_is_refused_and_the_rest_converges(make_hosts, playbook, tmp_path):
    big, small = make_hosts(2)
    # Edge servers: the one that fits is planned for Ollama, served here by the Ollama API emulator's
    # image (no Ollama image can be had), shipped from the control node like any image without a registry.
    big.group = small.group = "edge_servers"
    big.hostvars = {"edge_hw_override": {"memory": {"total_mb": 7620}, "gpus": []},
                    "engine_ollama_image": "slm-fleet/ollama-api-emulator", "engine_ollama_image_tag": "0.1.0",
                    "engine_ollama_image_source": "build", "engine_ollama_health_timeout": 60,
                    "engine_ollama_build_dir": str(REPO / ".cache/build/ollama")}
    small.hostvars = {"edge_hw_override": {"memory": {"total_mb": 1823}, "gpus": []}}

    run = playbook([big, small], "site.yml", {**COMPOSE, "slm_report_dir": str(tmp_path)})

    assert run.rc != 0, "a refused host must make the run report a failure"
    [message] = run.failures(small.name)
    assert message.startswith(f"{small.name}: memory: has 1.8 GB, profile edge_optimized needs at least 4.0 GB")
    report = (tmp_path / "site_report.json").read_text()
    assert big.name in report and small.name not in report
    assert "Nothing was changed on this host" in message
    assert run.failures(big.name) == []
    assert run.stats(big.name)["changed"] > 0
    # The refused host is untouched; the other one got its container runtime.
    assert small.run("dpkg-query", "-W", "docker.io").returncode != 0
    assert small.run("test", "-e", "/etc/docker").returncode != 0
    assert big.run("systemctl", "is-active", "docker").stdout.strip() == "active"
