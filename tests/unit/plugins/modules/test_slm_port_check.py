"""slm_port_check against real sockets of this test process."""

import socket

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.modules import slm_port_check
from ansible_collections.edgeai.slm_fleet.plugins.modules.slm_port_check import listening_inodes, main


@pytest.fixture
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_free_port(run_module, monkeypatch):
    monkeypatch.setattr(slm_port_check, "publishing_containers", lambda module, port: [])
    result = run_module(main, {"port": free_port(), "owner_project": "slm-onnx"})
    assert result["state"] == "free" and result["owner"] == ""


def test_port_held_by_a_process_names_it(run_module, monkeypatch, listener):
    monkeypatch.setattr(slm_port_check, "publishing_containers", lambda module, port: [])
    assert listening_inodes(listener), "the parser must see this process's listening socket"
    result = run_module(main, {"port": listener, "owner_project": "slm-onnx"})
    assert result["state"] == "taken"
    assert "(pid " in result["owner"] and result["owner"].split(" (pid")[0] in ("python", "python3", "pytest")


def test_port_published_by_our_project_is_ours(run_module, monkeypatch, listener):
    monkeypatch.setattr(slm_port_check, "publishing_containers", lambda module, port: [("slm-onnx-engine-1", "slm-onnx")])
    result = run_module(main, {"port": listener, "owner_project": "slm-onnx"})
    assert result["state"] == "ours" and "slm-onnx-engine-1" in result["owner"]


def test_port_published_by_another_project_is_taken(run_module, monkeypatch, listener):
    monkeypatch.setattr(slm_port_check, "publishing_containers", lambda module, port: [("grafana-1", "monitoring")])
    result = run_module(main, {"port": listener, "owner_project": "slm-onnx"})
    assert result["state"] == "taken" and result["owner"] == "container grafana-1 of compose project monitoring"


def test_port_out_of_range_fails(run_module):
    assert run_module(main, {"port": 70000, "owner_project": "x"})["_rc"] != 0
