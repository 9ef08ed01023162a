"""slm_release's front proxy files as the role renders them (ansible-playbook with the role's defaults and
the plan filter), for the ports each engine role writes: the ONNX engine and vLLM (OpenAI API, SSE streams,
/health, /metrics) and Ollama (its own API, NDJSON streams, 11434). The proxy itself runs for real in
tests/engine/test_release_switch_traffic.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles/slm_release"
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
# One ansible-playbook run renders every case (each run costs seconds): a case is a set of play variables.
PLAYBOOK = """\
- name: Render the front proxy templates for case {case}
  hosts: localhost
  gather_facts: false
  vars:
    __slm_release_proxy: "{{{{ dotenv | edgeai.slm_fleet.slm_proxy_plan(candidate_env, serving_port, slm_release_project) }}}}"
    __slm_release_proxy_upstream_port: "{{{{ __slm_release_proxy.port }}}}"
    __slm_release_proxy_upstream_release: 0123456789ab
  tasks:
    - name: Render each template
      ansible.builtin.copy:
        content: "{{{{ lookup('ansible.builtin.template', '{role}/templates/proxy-' ~ item ~ '.j2') }}}}"
        dest: "{out}/{case}-{{{{ item }}}}"
        mode: "0600"
      loop: [compose.yaml, front.conf, switch.conf]
"""
ENGINES = {  # what each engine role writes into .env and candidate.env (roles/engine_*/tasks/release.yml)
    "onnx": ("SLM_BIND_ADDRESS=127.0.0.1\nSLM_PUBLISHED_PORT=8000\n", "SLM_BIND_ADDRESS=127.0.0.1\nSLM_PUBLISHED_PORT=9000\n"),
    "vllm": ("SLM_BIND_ADDRESS=10.0.0.5\nSLM_PUBLISHED_PORT=8000\n", "SLM_BIND_ADDRESS=127.0.0.1\nSLM_PUBLISHED_PORT=9000\n"),
    "ollama": ("SLM_BIND_ADDRESS=127.0.0.1\nSLM_PUBLISHED_PORT=11434\nSLM_NETWORK_ALIAS=ollama\n",
               "SLM_BIND_ADDRESS=127.0.0.1\nSLM_PUBLISHED_PORT=12434\nSLM_NETWORK_ALIAS=ollama-candidate\n"),
}


CASES: dict[str, dict[str, Any]] = {
    **{engine: {"engine": engine} for engine in ENGINES},
    "serving-9000": {"engine": "vllm", "serving_port": 9000},
    "serving-9001": {"engine": "vllm", "serving_port": 9001},
    "tuned": {"engine": "onnx", "slm_release_proxy_drain_timeout": 120, "slm_release_proxy_read_timeout": 7200,
              "slm_release_proxy_memory_limit_mb": 32},
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    tmp_path = tmp_path_factory.mktemp("proxy-render")
    out = tmp_path / "out"
    out.mkdir()
    plays = []
    for case, settings in CASES.items():
        engine = settings["engine"]
        dotenv, candidate = ENGINES[engine]
        play = yaml.safe_load(PLAYBOOK.format(role=ROLE, out=out, case=case))[0]
        # The role's defaults first (play vars), the case's settings over them.
        play["vars"].update(yaml.safe_load((ROLE / "defaults/main.yml").read_text()))
        play["vars"].update({"dotenv": dotenv, "candidate_env": candidate, "serving_port": 0,
                             "slm_release_project": f"slm-{engine}", "slm_release_root": f"/var/lib/slm-fleet/{engine}",
                             **{k: v for k, v in settings.items() if k != "engine"}})
        plays.append(play)
    (tmp_path / "render.yml").write_text(yaml.safe_dump(plays, sort_keys=False))
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[defaults]\ncollections_path = %s\nretry_files_enabled = false\n" % (REPO / "collections"))
    env = dict(os.environ, ANSIBLE_CONFIG=str(cfg), ANSIBLE_HOME=str(tmp_path / "ansible-home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", str(tmp_path / "render.yml"),
                           "-e", json.dumps({"ansible_python_interpreter": sys.executable})], cwd=str(tmp_path),
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {case: {"compose": yaml.safe_load((out / f"{case}-compose.yaml").read_text()),
                   "front": (out / f"{case}-front.conf").read_text(),
                   "switch": (out / f"{case}-switch.conf").read_text()} for case in CASES}


def directives(conf: str, name: str) -> list[str]:
    return re.findall(rf"^\s*{name}\s+([^;]*);", conf, flags=re.MULTILINE)


@pytest.mark.parametrize("engine, published", [("onnx", ("127.0.0.1", "8000")), ("vllm", ("10.0.0.5", "8000")),
                                               ("ollama", ("127.0.0.1", "11434"))])
def test_the_front_is_published_where_the_engine_was_and_the_switch_opens_no_port(rendered, engine, published) -> None:
    files = rendered[engine]
    front, switch = files["compose"]["services"]["front"], files["compose"]["services"]["switch"]
    assert [(p["host_ip"], str(p["published"]), p["target"]) for p in front["ports"]] == [(*published, 8080)]
    assert front["network_mode"] == "bridge" and front["container_name"] == f"slm-{engine}-proxy"
    assert switch["network_mode"] == "host" and "ports" not in switch
    for service in (front, switch):
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"] and service["user"] == "10003:10003"
        assert "environment" not in service and "secrets" not in service
    assert directives(files["front"], "listen") == ["8080"]


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_every_path_and_stream_passes_through_both_layers(rendered, engine) -> None:
    files = rendered[engine]
    for conf in (files["front"], files["switch"]):
        # One location for every path: /health, /v1/chat/completions, /metrics (vLLM, ONNX), /api/chat (Ollama).
        assert re.findall(r"location\s+(\S+)\s*\{", conf) == ["/"]
        assert directives(conf, "proxy_buffering") == ["off"]  # SSE and NDJSON chunks are not held back
        assert directives(conf, "proxy_request_buffering") == ["off"]
        assert directives(conf, "client_max_body_size") == ["0"]  # the engine enforces its own limit
        assert directives(conf, "proxy_read_timeout") == ["3600s"]
        assert "Authorization" not in conf and "api_key" not in conf.lower()


def test_the_front_opens_one_connection_per_request_to_the_switch(rendered) -> None:
    # An idle kept-alive connection would be closed by the switch's reload under a request: none is kept.
    files = rendered["onnx"]
    assert directives(files["front"], "proxy_pass") == ["http://unix:/run/slm-proxy/switch.sock"]
    assert directives(files["switch"], "listen") == ["unix:/run/slm-proxy/switch.sock"]
    assert directives(files["front"], "keepalive") == [] and directives(files["switch"], "keepalive") == []
    mounts = {v["target"]: v["source"] for v in files["compose"]["services"]["front"]["volumes"]}
    assert mounts == {v["target"]: v["source"] for v in files["compose"]["services"]["switch"]["volumes"]}
    assert mounts["/run/slm-proxy"] == "/var/lib/slm-fleet/onnx/proxy/run"


@pytest.mark.parametrize("case, upstream", [("vllm", "9000"), ("serving-9000", "9001"), ("serving-9001", "9000")])
def test_the_switch_points_at_the_idle_release_port(rendered, case, upstream) -> None:
    files = rendered[case]
    assert re.findall(r"server\s+127\.0\.0\.1:(\d+);", files["switch"]) == [upstream]


def test_timeouts_follow_the_role_variables(rendered) -> None:
    files = rendered["tuned"]
    assert directives(files["switch"], "worker_shutdown_timeout") == ["120s"]
    assert directives(files["switch"], "proxy_read_timeout") == ["7200s"]
    assert files["compose"]["services"]["front"]["stop_grace_period"] == "120s"
    assert files["compose"]["services"]["switch"]["mem_limit"] == "32m"
