"""The docker_daemon_json module, run in-process against files in a temporary directory."""

import json

from ansible_collections.edgeai.slm_fleet.plugins.modules.docker_daemon_json import main


def test_creates_file_and_is_idempotent(tmp_path, run_module):
    path = tmp_path / "docker" / "daemon.json"
    settings = {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}
    first = run_module(main, {"path": str(path), "settings": settings})
    assert first["_rc"] == 0 and first["changed"] is True
    assert json.loads(path.read_text()) == settings
    second = run_module(main, {"path": str(path), "settings": settings})
    assert second["_rc"] == 0 and second["changed"] is False


def test_foreign_key_survives_and_formatting_alone_is_no_change(tmp_path, run_module):
    path = tmp_path / "daemon.json"
    path.write_text('{"runtimes":{"nvidia":{"path":"nvidia-container-runtime"}},"log-driver":"json-file"}')
    before = path.read_text()
    result = run_module(main, {"path": str(path), "settings": {"log-driver": "json-file"}})
    assert result["changed"] is False
    assert result["kept"] == ["runtimes"]
    assert path.read_text() == before, "an unchanged file must not be rewritten"
    result = run_module(main, {"path": str(path), "settings": {"log-driver": "local"}})
    assert result["updated"] == ["log-driver"]
    assert json.loads(path.read_text())["runtimes"] == {"nvidia": {"path": "nvidia-container-runtime"}}


def test_dropped_key_is_removed_on_next_run(tmp_path, run_module):
    path = tmp_path / "daemon.json"
    run_module(main, {"path": str(path), "settings": {"registry-mirrors": ["https://m.example"], "debug": True}})
    result = run_module(main, {"path": str(path), "settings": {"debug": True}})
    assert result["removed"] == ["registry-mirrors"]
    assert json.loads(path.read_text()) == {"debug": True}


def test_check_mode_writes_nothing(tmp_path, run_module):
    path = tmp_path / "daemon.json"
    result = run_module(main, {"path": str(path), "settings": {"debug": True}, "_ansible_check_mode": True})
    assert result["changed"] is True
    assert not path.exists()


def test_invalid_settings_fail_before_writing(tmp_path, run_module):
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": true}')
    result = run_module(main, {"path": str(path), "settings": {"log-opts": {"max-size": 10}}})
    assert result["_rc"] != 0
    assert "invalid daemon.json settings" in result["msg"] and "max-size=10" in result["msg"]
    assert path.read_text() == '{"debug": true}'


def test_malformed_existing_file_is_left_untouched(tmp_path, run_module):
    path = tmp_path / "daemon.json"
    path.write_text("{not json")
    result = run_module(main, {"path": str(path), "settings": {"debug": True}})
    assert result["_rc"] != 0
    assert "is not valid JSON" in result["msg"]
    assert path.read_text() == "{not json"
