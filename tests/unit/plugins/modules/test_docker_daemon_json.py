"""The docker_daemon_json module, run in-process against files in a temporary directory."""

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.edgeai.slm_fleet.plugins.modules import docker_daemon_json


def run(args, check_mode=False):
    """Run the module's main() and return (failed, result)."""
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        docker_daemon_json.main()
    return exit_info.value.code != 0, exit_info


@pytest.fixture
def module_output(capsys):
    def _read():
        return json.loads(capsys.readouterr().out)
    return _read


def test_creates_file_and_is_idempotent(tmp_path, module_output):
    path = tmp_path / "docker" / "daemon.json"
    settings = {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}
    failed, _ = run({"path": str(path), "settings": settings})
    first = module_output()
    assert not failed and first["changed"] is True
    assert json.loads(path.read_text()) == settings
    failed, _ = run({"path": str(path), "settings": settings})
    assert not failed and module_output()["changed"] is False


def test_foreign_key_survives_and_formatting_alone_is_no_change(tmp_path, module_output):
    path = tmp_path / "daemon.json"
    path.write_text('{"runtimes":{"nvidia":{"path":"nvidia-container-runtime"}},"log-driver":"json-file"}')
    before = path.read_text()
    run({"path": str(path), "settings": {"log-driver": "json-file"}})
    result = module_output()
    assert result["changed"] is False
    assert result["kept"] == ["runtimes"]
    assert path.read_text() == before, "an unchanged file must not be rewritten"
    run({"path": str(path), "settings": {"log-driver": "local"}})
    assert module_output()["updated"] == ["log-driver"]
    assert json.loads(path.read_text())["runtimes"] == {"nvidia": {"path": "nvidia-container-runtime"}}


def test_dropped_key_is_removed_on_next_run(tmp_path, module_output):
    path = tmp_path / "daemon.json"
    run({"path": str(path), "settings": {"registry-mirrors": ["https://m.example"], "debug": True}})
    module_output()
    run({"path": str(path), "settings": {"debug": True}})
    assert module_output()["removed"] == ["registry-mirrors"]
    assert json.loads(path.read_text()) == {"debug": True}


def test_check_mode_writes_nothing(tmp_path, module_output):
    path = tmp_path / "daemon.json"
    run({"path": str(path), "settings": {"debug": True}}, check_mode=True)
    assert module_output()["changed"] is True
    assert not path.exists()


def test_invalid_settings_fail_before_writing(tmp_path, module_output):
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": true}')
    failed, _ = run({"path": str(path), "settings": {"log-opts": {"max-size": 10}}})
    result = module_output()
    assert failed
    assert "invalid daemon.json settings" in result["msg"] and "max-size=10" in result["msg"]
    assert path.read_text() == '{"debug": true}'


def test_malformed_existing_file_is_left_untouched(tmp_path, module_output):
    path = tmp_path / "daemon.json"
    path.write_text("{not json")
    failed, _ = run({"path": str(path), "settings": {"debug": True}})
    assert failed
    assert "is not valid JSON" in module_output()["msg"]
    assert path.read_text() == "{not json"
