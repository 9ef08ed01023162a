"""Role input checks: the role catalog, misspelt role variables, readable refusals of argument specs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleLookupError

from ansible_collections.edgeai.slm_fleet.plugins.filter import role_inputs as f
from ansible_collections.edgeai.slm_fleet.plugins.lookup.slm_role_inputs import LookupModule
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils import role_catalog as rc
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils import role_inputs as ri

REPO = Path(__file__).resolve().parents[4]


def write(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))


@pytest.fixture
def roles(tmp_path: Path) -> Path:
    """Two roles with specs, one in progress without a spec, and a directory that is not a role."""
    root = tmp_path / "roles"
    write(root / "engine_demo/meta/argument_specs.yml", {"argument_specs": {"main": {"options": {
        "engine_demo_port": {"type": "int", "default": 8000, "description": "Published port (1-65535)."},
        "engine_demo_keep": {"type": "int", "default": 2, "description": "Releases kept (at least 2)."},
        "engine_demo_mode": {"type": "str", "choices": ["fast", "safe"], "default": "safe", "description": "Mode."},
        "engine_demo_key": {"type": "str", "default": "", "no_log": True, "description": "API key."},
        "engine_demo_root": {"type": "path", "default": "/srv/demo", "description": "Root."},
        "engine_demo_threads": {"type": "int", "description": "Threads (default from the plan)."},
        "engine_demo_ratio": {"type": "float", "description": "A fraction between 0 and 1."},
    }}}})
    write(root / "engine_demo/defaults/main.yml",
          "engine_demo_port: 8000\nengine_demo_keep: 2\nengine_demo_mode: safe\nengine_demo_key: !unsafe ''\n"
          "engine_demo_root: /srv/demo\nengine_demo_threads: \"{{ preflight_plan.settings.threads }}\"\n"
          "engine_demo_unspecified: 1\n")
    write(root / "engine_demo/vars/main.yml", {"engine_demo_packages": ["x"], "__engine_demo_internal": 1})
    write(root / "engine_demo/tasks/main.yml", [
        {"name": "Set", "ansible.builtin.set_fact": {"engine_demo_record": {}, "cacheable": False}},
        {"name": "Block", "block": [{"name": "Run", "ansible.builtin.command": "true", "register": "engine_demo_run"}]},
    ])
    write(root / "verify/meta/argument_specs.yml", {"argument_specs": {"main": {"options": {
        "verify_gate": {"type": "str", "choices": ["enforce", "report"], "default": "enforce", "description": "Gate."}}}}})
    write(root / "engine_next/defaults/main.yml", {"engine_next_port": 9000})
    (root / "not_a_role").mkdir()
    return root


def test_catalog_discovers_every_role_and_what_it_knows(roles: Path) -> None:
    catalog = rc.role_catalog(str(roles))
    assert sorted(catalog) == ["engine_demo", "engine_next", "verify"]
    demo = catalog["engine_demo"]
    assert demo["prefix"] == "engine_demo_"
    assert {"engine_demo_unspecified", "engine_demo_packages", "engine_demo_record", "engine_demo_run",
            "engine_demo_ratio"} <= set(demo["known"])
    # literal defaults of spec options only; a template is the role's to resolve
    assert demo["defaults"] == {"engine_demo_port": 8000, "engine_demo_keep": 2, "engine_demo_mode": "safe",
                                "engine_demo_key": "", "engine_demo_root": "/srv/demo"}
    assert catalog["engine_next"]["spec"] is None and catalog["engine_next"]["known"] == ["engine_next_port"]


def test_catalog_of_this_collection_covers_its_roles() -> None:
    catalog = rc.role_catalog(str(REPO / "roles"))
    assert {"preflight", "container_runtime", "engine_onnx", "verify"} <= set(catalog)
    assert "preflight_plan" in catalog["preflight"]["known"]  # set by decide.yml
    assert "engine_onnx_threads" not in catalog["engine_onnx"]["defaults"]  # a template


@pytest.mark.parametrize("name, suggestion", [
    ("engine_onnx_prot", "engine_onnx_port"),  # a swap beats "root" (also one letter away from "prot")
    ("container_runtime_daemon_option", "container_runtime_daemon_options"),
    ("container_runtime_log_maxsize", "container_runtime_log_max_size"),
    ("verify_pass_treshold", "verify_pass_threshold"),
    ("engine_onx_port", "engine_onnx_port"),  # the prefix itself misspelt
    ("containr_runtime_users", "container_runtime_users"),
    ("engine_onnx_zzzzzzzz", None),  # no close name: still not a variable of the role
])
def test_misspelt_role_variables_are_found_with_the_closest_name(name: str, suggestion: str | None) -> None:
    catalog = rc.role_catalog(str(REPO / "roles"))
    [found] = f.slm_unknown_role_vars([name, "engine_onnx_port", "ansible_host"], catalog)
    assert (found["name"], found["suggestion"]) == (name, suggestion)
    if suggestion:
        assert found["message"] == f"{name} is not a variable of role {found['role']} (did you mean {suggestion}?)"
    else:
        assert found["message"] == f"{name} is not a variable of role engine_onnx (its variables: roles/engine_onnx/README.md)"


def test_names_outside_role_prefixes_and_ignored_names_pass(roles: Path) -> None:
    catalog = rc.role_catalog(str(roles))
    names = ["slm_site", "edge_hw_override", "verified_hosts", "engine_vllm_port", "ansible_facts", "__x",
             "engine_demo_port", "engine_demo_record", "engine_next_port", "engine_demo_mine"]
    assert f.slm_unknown_role_vars(names, catalog, ["engine_demo_mine"]) == []
    # a role that lands later is covered by discovery, without a list to update
    assert [u["name"] for u in f.slm_unknown_role_vars(["engine_next_prot"], catalog)] == ["engine_next_prot"]


def test_input_sets_merge_host_values_over_literal_defaults_and_skip_roles_without_spec(roles: Path) -> None:
    catalog = rc.role_catalog(str(roles))
    sets = ri.input_sets(catalog, ["verify", ["engine_demo", "engine_next"], "engine_missing", "verify"],
                         {"engine_demo_port": 9000, "verify_gate": "report", "other": 1})
    assert [s["role"] for s in sets] == ["verify", "engine_demo"]
    assert sets[0]["arguments"] == {"verify_gate": "report"}
    assert sets[1]["arguments"]["engine_demo_port"] == 9000 and sets[1]["arguments"]["engine_demo_keep"] == 2
    assert ri.input_sets(catalog, "verify, engine_demo", {})[1]["role"] == "engine_demo"
    assert ri.input_sets(catalog, {"not": "a list"}, {}) == []


def result(catalog, arguments, errors=()):
    [item] = ri.input_sets(catalog, ["engine_demo"], arguments)
    return {"item": item, "failed": bool(errors), "argument_errors": list(errors)}


def test_ansible_errors_are_rewritten_as_one_sentence_per_variable(roles: Path) -> None:
    catalog = rc.role_catalog(str(roles))
    errors = [
        "argument 'engine_demo_port' is of type str and we were unable to convert to int: "
        "<class 'ansible.module_utils._internal._datatag._AnsibleTaggedStr'> cannot be converted to an int",
        "value of engine_demo_mode must be one of: fast, safe, got: quick",
    ]
    [line] = f.FilterModule().filters()["slm_input_errors"](
        [result(catalog, {"engine_demo_port": "eighty", "engine_demo_mode": "quick"}, errors)])
    assert line == ("invalid input for role engine_demo: engine_demo_mode must be one of: fast, safe, got: quick; "
                    "engine_demo_port must be an integer, got a string 'eighty'")
    assert "_AnsibleTagged" not in line


@pytest.mark.parametrize("arguments, message", [
    ({"engine_demo_keep": 1}, "engine_demo_keep must be at least 2, got 1"),
    ({"engine_demo_port": 70000}, "engine_demo_port must be between 1 and 65535, got 70000"),
    ({"engine_demo_ratio": "1.5"}, "engine_demo_ratio must be between 0 and 1, got '1.5'"),
    ({"engine_demo_root": "srv/demo"}, "engine_demo_root must be an absolute path (starting with /), got a string 'srv/demo'"),
    ({"engine_demo_root": ["a"]}, "engine_demo_root must be an absolute path (starting with /), got a list [\"a\"]"),
    ({"engine_demo_mode": {"a": 1}}, "engine_demo_mode must be a string, one of: fast, safe, got a dictionary {\"a\": 1}"),
    ({"engine_demo_key": ["sk-secret"]}, "engine_demo_key must be a string, got a list (hidden: no_log)"),
])
def test_what_argument_specs_cannot_check_is_refused_too(roles: Path, arguments, message) -> None:
    catalog = rc.role_catalog(str(roles))
    assert ri.input_errors([result(catalog, arguments)]) == ["invalid input for role engine_demo: " + message]


def test_valid_inputs_give_no_error(roles: Path) -> None:
    catalog = rc.role_catalog(str(roles))
    good = {"engine_demo_port": 1, "engine_demo_keep": "3", "engine_demo_ratio": 0.5, "engine_demo_root": "~/demo",
            "engine_demo_mode": "fast", "engine_demo_key": "sk-x"}
    assert ri.input_errors([result(catalog, good)]) == []


def test_documented_ranges_are_read_from_descriptions() -> None:
    assert ri.documented_range({"type": "int", "description": "Kept for rollback (at least 2)."}) == (2, None)
    assert ri.documented_range({"type": "int", "description": ["Port", "(1-65535)."]}) == (1, 65535)
    assert ri.documented_range({"type": "float", "description": "between 0 and 1"}) == (0, 1)
    assert ri.documented_range({"type": "int", "description": "at most 8 workers"}) == (None, 8)
    assert ri.documented_range({"type": "str", "description": "at least 2"}) == (None, None)
    assert ri.documented_range({"type": "int", "description": "Engine worker threads."}) == (None, None)


def test_edit_distance_counts_a_swap_as_one_edit() -> None:
    assert ri.edit_distance("prot", "port") == 1
    assert ri.edit_distance("prot", "root") == 2
    assert ri.edit_distance("", "abc") == 3


def test_the_lookup_reads_a_roles_directory(roles: Path) -> None:
    [catalog] = LookupModule().run([str(roles)], variables={})
    assert "engine_demo" in catalog
    with pytest.raises(AnsibleLookupError, match="is not a directory of roles"):
        LookupModule().run([str(roles / "missing")], variables={})


def test_unresolved_values_are_left_out_of_the_spec(roles: Path) -> None:
    catalog = rc.role_catalog(str(roles))
    [demo] = ri.input_sets(catalog, ["engine_demo"], {"engine_demo_keep": 3}, ["engine_demo_port", "engine_demo_keep"])
    assert "engine_demo_port" not in demo["spec"] and "engine_demo_port" not in demo["arguments"]
    assert "engine_demo_keep" not in demo["arguments"] and "engine_demo_mode" in demo["spec"]
