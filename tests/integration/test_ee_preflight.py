"""The execution environment as `make test` checks it: a preflight job in the EE against a real host.

The documented subset of test_ee_site.py (site.yml in the EE, ~25 min, `make test-ee`): what the EE
changes is the control node, and a preflight job exercises all of it in about a minute: ansible-runner
starting the EE image with container isolation, the collection and its Python dependencies inside it
(modules, filters, the argument specs of every role), the machine credential's key over SSH with
become, and the job's events and artifacts. What it leaves out (the engines, Docker and the report) is
the same code site.yml runs on a plain control node in every other stage of `make test`.
"""

from __future__ import annotations

from ee_job import assert_ran_in_the_ee, run_job

PLAYBOOK = "playbooks/preflight.yml"
GATEWAY = {
    "edge_hw_override": {"memory": {"total_mb": 3791}, "gpus": []},
    "slm_engine_preferences": {"engine": "onnx"},
}


def test_a_preflight_job_in_the_ee_plans_the_gateway(make_hosts, tmp_path):
    hosts = make_hosts(1)
    job = run_job(hosts, tmp_path, PLAYBOOK, "iot_gateways", GATEWAY, {"slm_site": "ee-preflight"})
    assert_ran_in_the_ee(job, PLAYBOOK, hosts)
    # The plan was made inside the EE by the collection's filters, from the host's own facts.
    plans = [e["event_data"]["res"]["ansible_facts"]["preflight_plan"] for e in job.events()
             if e["event"] == "runner_on_ok" and e["event_data"].get("task", "").startswith("Plan the engine")]
    assert len(plans) == 1, [e["event_data"].get("task") for e in job.events() if e["event"] == "runner_on_ok"]
    assert plans[0]["engine"] == "onnx", plans[0]
    # Preflight changes nothing on the host.
    assert sum(job.stats()["changed"].values()) == 0, job.stats()
