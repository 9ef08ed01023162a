"""engine_ollama's compose files as the role renders them: Open WebUI's service (its image cannot be
pulled here, so this is what is tested of it) and the engine's GPU reservation (no GPU here either).

The templates are rendered by ansible-playbook with the role's defaults and internal vars, the same
lookups the role uses, and the YAML is read back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles/engine_ollama"
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
SECRET = "webui-session-key-0123456789abcdef"
PLAYBOOK = """\
- name: Render the engine_ollama templates
  hosts: localhost
  gather_facts: false
  vars_files: ["{role}/defaults/main.yml", "{role}/vars/main.yml"]
  tasks:
    - name: Render each template
      ansible.builtin.copy:
        content: "{{{{ lookup('ansible.builtin.template', '{role}/templates/' ~ item ~ '.j2') }}}}"
        dest: "{out}/{{{{ item }}}}"
        mode: "0600"
      loop: [compose.yaml, webui-compose.yaml]
"""
PLAN = {"engine": "ollama", "verdict": "ok",
        "settings": {"num_ctx": 4096, "num_parallel": 2, "keep_alive": "-1", "max_loaded_models": 1,
                     "kv_cache_type": "f16"},
        "release": {"switch": "beside", "memory_limit_mb": 4548}}


def render(tmp_path: Path, **extra: Any) -> tuple[dict[str, Any], dict[str, Any], str]:
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "render.yml").write_text(PLAYBOOK.format(role=ROLE, out=out))
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[defaults]\ncollections_path = %s\nretry_files_enabled = false\n" % (REPO / "collections"))
    env = dict(os.environ, ANSIBLE_CONFIG=str(cfg), ANSIBLE_HOME=str(tmp_path / "ansible-home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_FORCE_COLOR="0")
    variables = {"ansible_python_interpreter": sys.executable, "preflight_plan": PLAN, "preflight_hardware": {"gpus": []}, "engine_ollama_webui_enabled": True,
                 "engine_ollama_webui_secret_key": SECRET, **extra}
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", str(tmp_path / "render.yml"),
                           "-e", json.dumps(variables)], cwd=str(tmp_path), env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    webui_text = (out / "webui-compose.yaml").read_text()
    return yaml.safe_load((out / "compose.yaml").read_text()), yaml.safe_load(webui_text), webui_text + proc.stdout


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any], str]:
    return render(tmp_path_factory.mktemp("default"))


def test_webui_authenticated_and_its_settings_apply_on_every_start(default):
    _engine, webui, _text = default
    service = webui["services"]["open-webui"]
    env = service["environment"]
    assert env["WEBUI_AUTH"] == "True"
    assert env["ENABLE_PERSISTENT_CONFIG"] == "False", "inventory changes must apply after the first start"
    assert env["ENABLE_SIGNUP"] == "False" and env["DEFAULT_USER_ROLE"] == "pending"
    assert env["OLLAMA_BASE_URL"] == "http://ollama:11434" and env["ENABLE_OPENAI_API"] == "False"
    assert env["DEFAULT_MODELS"] == "phi4-mini-reasoning"
    assert service["image"] == "ghcr.io/open-webui/open-webui:v0.6.9"
    assert webui["networks"]["ollama"] == {"name": "slm-ollama", "external": True}


def test_webui_secret_key_is_a_read_only_file_not_an_environment_variable(default):
    _engine, webui, text = default
    service = webui["services"]["open-webui"]
    assert "WEBUI_SECRET_KEY" not in service["environment"]
    assert SECRET not in text, "the key is in no rendered file and no task output"
    [key_mount] = [v for v in service["volumes"] if v["target"] == "/app/backend/.webui_secret_key"]
    assert key_mount == {"type": "bind", "source": "/var/lib/slm-fleet/ollama/secrets/webui_secret_key",
                         "target": "/app/backend/.webui_secret_key", "read_only": True}


def test_webui_published_on_loopback_unless_the_inventory_says_otherwise(default, tmp_path):
    assert default[1]["services"]["open-webui"]["ports"] == ["127.0.0.1:3000:8080"]
    _engine, webui, _text = render(tmp_path, engine_ollama_webui_bind_address="10.20.0.5", engine_ollama_webui_port=8443,
                                   engine_ollama_webui_extra_env={"WEBUI_NAME": "Site 7"})
    service = webui["services"]["open-webui"]
    assert service["ports"] == ["10.20.0.5:8443:8080"]
    assert service["environment"]["WEBUI_NAME"] == "Site 7"


def test_engine_without_gpu_has_no_device_reservation_and_the_plan_settings(default):
    engine, _webui, _text = default
    service = engine["services"]["ollama"]
    assert "deploy" not in service
    assert service["healthcheck"]["test"] == ["CMD", "ollama", "list"]
    assert service["environment"]["OLLAMA_NUM_PARALLEL"] == "2"
    assert service["environment"]["OLLAMA_CONTEXT_LENGTH"] == "4096"
    assert service["mem_limit"] == "4548m"
    assert service["ports"] == ["${SLM_BIND_ADDRESS}:${SLM_PUBLISHED_PORT}:11434"]


def test_engine_reserves_the_gpus_of_a_host_that_has_nvidia_ones(tmp_path):
    engine, _webui, _text = render(tmp_path, preflight_hardware={"gpus": [{"name": "NVIDIA A10", "memory_mb": 23028}]},
                                   engine_ollama_kv_cache_type="q8_0")
    service = engine["services"]["ollama"]
    assert service["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert service["environment"]["OLLAMA_KV_CACHE_TYPE"] == "q8_0"
    assert service["environment"]["OLLAMA_FLASH_ATTENTION"] == "1", "a quantized KV cache needs flash attention"
