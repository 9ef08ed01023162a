"""site.yml refuses a bad engine_onnx input in preflight, before container_runtime installs anything.

Before issue 11 the engine role's own checks refused such an input, but only after the container
runtime role had installed Docker on the host: the host was changed for a run that could never
succeed. Now preflight validates the inputs of every role a host will run, and refuses variables
that look like a misspelt role variable, before the first change anywhere.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GATEWAY = {
    "edge_hw_override": {"memory": {"total_mb": 3791}, "gpus": []},
    "slm_engine_preferences": {"engine": "onnx"},
}
COMPOSE = {
    "container_runtime_compose_local_path": str(REPO / ".cache/artifacts/docker-compose-2.26.1-4-amd64"),
    "container_runtime_compose_sha256": "c0ef2e286ba1c45bf1868b70a1c71d30a802bb3996888f2f986c3166f9e45f57",
}


def test_bad_engine_input_stops_the_host_in_preflight_before_docker(make_hosts, playbook, tmp_path):
    bad_choice, misspelt = make_hosts(2)
    for host in (bad_choice, misspelt):
        host.group = "iot_gateways"
    bad_choice.hostvars = {**GATEWAY, "engine_onnx_precision": "int3"}
    misspelt.hostvars = {**GATEWAY, "engine_onnx_prot": 8001}

    run = playbook([bad_choice, misspelt], "site.yml", {**COMPOSE, "slm_report_dir": str(tmp_path)})

    assert run.rc != 0
    for host in (bad_choice, misspelt):
        # The container runtime never ran: no Docker package, no configuration, no service.
        assert host.run("dpkg-query", "-W", "docker.io").returncode != 0, f"{host.name}: docker.io was installed"
        assert host.run("test", "-e", "/etc/docker").returncode != 0, f"{host.name}: /etc/docker was created"
        assert host.run("test", "-e", "/var/lib/slm-fleet").returncode != 0
        assert run.stats(host.name).get("changed", 0) == 0, run.stats(host.name)
    [message] = run.failures(bad_choice.name)
    assert message.startswith(f"{bad_choice.name}: invalid input for role engine_onnx: ")
    assert "engine_onnx_precision must be one of: int4, int8, fp16, fp32, got: int3" in message
    [message] = run.failures(misspelt.name)
    assert message.startswith(f"{misspelt.name}: engine_onnx_prot is not a variable of role engine_onnx "
                              "(did you mean engine_onnx_port?)")
    for host in (bad_choice, misspelt):
        assert "Nothing was changed on this host" in run.failures(host.name)[0]
