"""The standing "bad inputs" suite: every variable of every role, refused in preflight with host and variable.

The cases are generated FROM the roles' ``meta/argument_specs.yml`` (a role added with a spec is
covered the day it lands): for every option a value of the wrong type, a value outside
``choices`` when there are choices, a number outside the range its description documents, a
relative path for ``path`` options, and a misspelt name. Each case is one host of one inventory
(local connection) and everything runs in ONE ansible-playbook through the real preflight task
files (``input_names.yml`` then ``inputs.yml``, as ``roles/preflight/tasks/main.yml`` runs them).
Every case must be refused by those tasks with a message that starts with the host, names the
variable and says what is allowed, and nothing may print a Python traceback. A host with a valid
non-default value for every option must pass, so the checks cannot pass by refusing everything.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.role_catalog import role_catalog
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils.role_inputs import (
    allowed,
    closest,
    documented_range,
)

REPO = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
PLAYBOOK = """\
- name: Check the inputs of every role, as preflight does before any change
  hosts: all
  gather_facts: false
  tasks:
    - name: Refuse misspelt role variables
      ansible.builtin.include_role:
        name: edgeai.slm_fleet.preflight
        tasks_from: input_names.yml
    - name: Validate the inputs of the roles the host will run
      ansible.builtin.include_role:
        name: edgeai.slm_fleet.preflight
        tasks_from: inputs.yml
"""
CHECK_TASKS = ("Refuse variables that look like a misspelt role variable", "Refuse the host when a role's input is invalid")
WRONG_TYPE = {"int": "not-a-number", "float": "not-a-number", "bool": "maybe", "list": {"not": "a list"},
              "dict": ["not", "a", "dict"], "str": {"not": "a string"}, "path": ["not", "a", "path"]}
pytestmark = pytest.mark.slow


@dataclass
class Case:
    """One bad input: on host ``host``, variable ``name`` set to ``value``; the refusal must contain ``expect``."""

    host: str
    role: str
    kind: str
    name: str
    value: Any
    expect: list[str]


def catalog() -> dict[str, Any]:
    return role_catalog(str(REPO / "roles"))


def typo(name: str, prefix: str, known: list[str]) -> str | None:
    """A misspelling of ``name`` whose closest known name is ``name`` itself."""
    tail = name[len(prefix):]
    variants = [tail[:i] + tail[i + 1] + tail[i] + tail[i + 2:] for i in range(1, len(tail) - 1) if tail[i] != tail[i + 1]]
    variants += [tail[:-1], tail + "s", tail[:1] + tail[1:].replace("_", "", 1)]
    for variant in variants:
        candidate = prefix + variant
        if candidate not in known and closest(candidate, [k for k in known if k.startswith(prefix)], prefix) == name:
            return candidate
    return None


def generate_cases() -> list[Case]:
    """Every bad input derived from the argument specs (and the catalog for names)."""
    cases = []
    for role, entry in catalog().items():
        for name, option in sorted((entry["spec"] or {}).items()):
            kind = option.get("type") or "str"
            host = re.sub(r"[^a-z0-9]+", "-", name.lower())

            def add(what: str, variable: str, value: Any, expect: list[str]) -> None:
                cases.append(Case(f"{host}--{what}", role, what, variable, value, expect))  # noqa: B023

            if kind in WRONG_TYPE:
                add("type", name, WRONG_TYPE[kind], [name, allowed(option)])
            if option.get("choices"):
                choices = option["choices"]
                bad = max(choices) + 1 if kind == "int" else "not-a-choice"
                add("choice", name, bad, [name, "must be one of: " + ", ".join(str(c) for c in choices)])
            low, high = documented_range(option)
            if low is not None:
                add("below-min", name, low - 1, [name, str(low)])
            if high is not None:
                add("above-max", name, high + 1, [name, str(high)])
            if kind == "path":
                add("relative-path", name, "relative/dir", [name, "absolute path"])
            misspelt = typo(name, entry["prefix"], entry["known"])
            assert misspelt, f"no misspelling of {name} found whose closest known name is {name}"
            add("typo", misspelt, option.get("default", "x"), [misspelt, f"did you mean {name}?"])
    return cases


def valid_values() -> dict[str, Any]:
    """A valid, non-default value for every option that can have one (the host that must pass)."""
    good: dict[str, Any] = {}
    sample = {"int": 7, "float": 0.5, "bool": True, "list": ["a"], "dict": {"a": "b"}, "str": "text", "path": "/srv/x"}
    for entry in catalog().values():
        for name, option in (entry["spec"] or {}).items():
            kind = option.get("type") or "str"
            if option.get("choices"):
                good[name] = option["choices"][-1]
            elif kind in sample:
                low, high = documented_range(option)
                value = sample[kind]
                good[name] = max(value, low) if low is not None and kind in ("int", "float") else value
                if high is not None and kind in ("int", "float"):
                    good[name] = min(good[name], high)
    good["preflight_input_roles"] = []  # the default list: the test host runs container_runtime, engine_onnx, verify
    good["preflight_ignore_vars"] = []
    return good


def run(tmp_path: Path, hosts: dict[str, dict[str, Any]]) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    base = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "preflight_plan": {"engine": "onnx"}, "preflight_hardware": {"gpus": []}}
    inventory = {"all": {"hosts": {name: {**base, **hostvars} for name, hostvars in hosts.items()}}}
    (tmp_path / "hosts.json").write_text(json.dumps(inventory))
    (tmp_path / "inputs.yml").write_text(PLAYBOOK)
    cfg = tmp_path / "ansible.cfg"  # the repo's cfg prints profile_tasks lines: keep stdout JSON
    cfg.write_text("[defaults]\ncollections_path = %s\nstdout_callback = ansible.builtin.json\n"
                   "retry_files_enabled = false\nforks = 50\n" % (REPO / "collections"))
    env = dict(os.environ, ANSIBLE_CONFIG=str(cfg), ANSIBLE_HOME=str(tmp_path / "ansible-home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(tmp_path / "hosts.json"), str(tmp_path / "inputs.yml")],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=900, check=False)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    return proc, json.loads(proc.stdout)


def runs(role: str) -> dict[str, Any]:
    """Host variables that make preflight check ``role`` on the host: an engine role is checked on hosts
    whose plan chose that engine, nvidia_gpu on hosts with a GPU."""
    if role.startswith("engine_"):
        return {"preflight_plan": {"engine": role[len("engine_"):]}}
    if role == "nvidia_gpu":
        return {"preflight_hardware": {"gpus": [{"name": "NVIDIA A10", "memory_mb": 23028}]}}
    if role == "site_cache":
        # Checked on hosts of the group site_cache (a group the generated inventory does not have).
        return {"preflight_input_roles": ["site_cache"]}
    if role == "pull_agent":
        # Not run by site.yml: checked where preflight is told to (playbooks/pull_install.yml's hosts have their own checks).
        return {"preflight_input_roles": ["pull_agent"]}
    return {}


def refusals(out: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """Host -> [(task name, message)] of its failed tasks."""
    failed: dict[str, list[tuple[str, str]]] = {}
    for play in out["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                if result.get("failed"):
                    failed.setdefault(host, []).append((task["task"]["name"], str(result.get("msg", ""))))
    return failed


def test_the_suite_covers_every_variable_of_every_role_with_a_spec() -> None:
    cases = generate_cases()
    specs = {r: e["spec"] for r, e in catalog().items() if e["spec"] is not None}
    assert {"preflight", "container_runtime", "engine_onnx", "verify"} <= set(specs)
    typed = {(c.role, c.name) for c in cases if c.kind == "type"}
    for role, spec in specs.items():
        for name, option in spec.items():
            assert option.get("type") == "raw" or (role, name) in typed, f"{name}: no wrong-type case"
    kinds = {c.kind for c in cases}
    assert {"type", "choice", "below-min", "relative-path", "typo"} <= kinds
    assert len({c.host for c in cases}) == len(cases)


def test_every_bad_input_is_refused_in_preflight_with_host_and_variable(tmp_path: Path) -> None:
    cases = generate_cases()
    hosts = {c.host: {c.name: c.value, **runs(c.role)} for c in cases}
    hosts["all-valid"] = valid_values()
    proc, out = run(tmp_path, hosts)
    assert "Traceback" not in proc.stdout and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    failed = refusals(out)
    assert "all-valid" not in failed, failed.get("all-valid")
    clean, problems = 0, []
    for case in cases:
        got = failed.get(case.host)
        if not got:
            problems.append(f"{case.host}: {case.name}={case.value!r} was accepted")
            continue
        [(task, message)] = got
        missing = [e for e in case.expect if e not in message]
        if not task.endswith(CHECK_TASKS) or not message.startswith(f"{case.host}: ") or missing:
            problems.append(f"{case.host}: task {task!r}, missing {missing}: {message}")
            continue
        clean += 1
    print(f"bad inputs: {len(cases)} tried, {clean} refused cleanly")
    assert not problems, "\n".join(problems[:40])
    assert clean == len(cases)


def test_secrets_are_never_shown_in_a_refusal(tmp_path: Path) -> None:
    secret = {"sk-not-a-string": "x"}
    proc, out = run(tmp_path, {"gw": {"engine_onnx_api_key": secret, "engine_onnx_hf_token": secret}})
    [(_task, message)] = refusals(out)["gw"]
    assert "engine_onnx_api_key must be a string, got a dictionary (hidden: no_log)" in message
    assert "sk-not-a-string" not in proc.stdout + proc.stderr


def test_several_bad_inputs_of_several_roles_are_reported_together(tmp_path: Path) -> None:
    _proc, out = run(tmp_path, {"gw": {"engine_onnx_precision": "int3", "engine_onnx_keep_releases": 1,
                                       "container_runtime_engine_source": "snap", "verify_gate": "strict"}})
    [(_task, message)] = refusals(out)["gw"]
    assert message == (
        "gw: invalid input for role container_runtime: container_runtime_engine_source must be one of: distro, upstream, "
        "got: snap. gw: invalid input for role engine_onnx: engine_onnx_keep_releases must be at least 2, got 1; "
        "engine_onnx_precision must be one of: int4, int8, fp16, fp32, got: int3. gw: invalid input for role verify: "
        "verify_gate must be one of: enforce, report, got: strict. Nothing was changed on this host.")


def test_a_value_that_resolves_only_later_is_left_to_its_role(tmp_path: Path) -> None:
    # No facts are gathered here: the sha256 cannot be resolved yet, and must not fail the check;
    # the bad value next to it is still refused.
    later = {"container_runtime_compose_sha256": "{{ ansible_facts['architecture'] | default(undefined_var) }}"}
    proc, out = run(tmp_path, {"later": later, "later-and-bad": {**later, "verify_gate": "strict"}})
    failed = refusals(out)
    assert "later" not in failed, failed.get("later")
    [(_task, message)] = failed["later-and-bad"]
    assert message.startswith("later-and-bad: invalid input for role verify: verify_gate must be one of")
    assert "Traceback" not in proc.stdout + proc.stderr
