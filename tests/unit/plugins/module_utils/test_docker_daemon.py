"""Validation and merge rules for daemon.json."""

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.docker_daemon import merge, validate_options


def test_valid_rotation_and_mirror_pass():
    assert validate_options({
        "log-driver": "json-file",
        "log-opts": {"max-size": "10m", "max-file": "3"},
        "registry-mirrors": ["https://mirror.example:5000"],
        "live-restore": True,
    }) == []


@pytest.mark.parametrize("options, fragment", [
    ({"registry-mirror": ["https://m"]}, "unknown daemon.json key 'registry-mirror' (did you mean 'registry-mirrors'?)"),
    ({"log-opts": {"max-size": 10}}, "'log-opts' values must be strings"),
    ({"log-opts": {"max-size": "ten"}}, "max-size must look like '10m'"),
    ({"log-opts": {"max-file": "three"}}, "max-file must be a whole number"),
    ({"registry-mirrors": "https://m"}, "'registry-mirrors' must be a list, got str"),
    ({"registry-mirrors": ["mirror.example"]}, "must be http(s) URLs"),
    ({"live-restore": "yes"}, "'live-restore' must be a bool, got str"),
    ({"mtu": True}, "'mtu' must be a int, got bool"),
    ({"log-level": "verbose"}, "'log-level' must be one of"),
    ({"data-root": "var/lib/docker"}, "'data-root' must be an absolute path"),
])
def test_bad_options_are_named(options, fragment):
    errors = validate_options(options)
    assert len(errors) == 1, errors
    assert fragment in errors[0]


def test_non_mapping_is_refused():
    assert validate_options(["log-driver"]) == ["daemon options must be a mapping of daemon.json keys, got list"]


def test_merge_keeps_foreign_keys_and_reports_changes():
    current = {"runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}, "log-driver": "local"}
    merged, added, updated, removed = merge(current, {"log-driver": "json-file", "log-opts": {"max-size": "10m"}})
    assert merged["runtimes"] == current["runtimes"]
    assert merged["log-driver"] == "json-file"
    assert (added, updated, removed) == (["log-opts"], ["log-driver"], [])
    assert current["log-driver"] == "local", "merge must not mutate its input"


def test_merge_removes_only_keys_we_managed_before():
    current = {"registry-mirrors": ["https://old"], "debug": True, "log-driver": "json-file"}
    merged, _added, _updated, removed = merge(current, {"log-driver": "json-file"}, ["registry-mirrors", "log-driver"])
    assert removed == ["registry-mirrors"]
    assert merged == {"debug": True, "log-driver": "json-file"}
