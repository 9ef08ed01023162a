"""edge_hardware_facts main() end to end, in process.

A fake root (the documented ``root`` option) stands in for /proc, /sys and /etc. With a root other
than ``/`` the module runs no command, so the nvidia-smi paths are covered by the collect() tests;
one test here runs against the real ``/`` of the test machine.
"""

from __future__ import annotations

import json
import platform

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.edgeai.slm_fleet.plugins.modules import edge_hardware_facts as module


def run_module(capsys, args: dict) -> dict:
    """Run main() with ``args`` and return the JSON it printed (success or failure)."""
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def gateway_root(make_root):
    """A Raspberry Pi 4 with 4 GB: the smallest host the lab wants to serve."""
    return make_root({
        "/proc/cpuinfo": "cpuinfo/rpi4_aarch64.txt",
        "/proc/meminfo": "meminfo/rpi4_4g.txt",
        "/etc/os-release": "os-release/raspios_bookworm_arm64.txt",
    })


def test_main_reports_the_fake_root(capsys, gateway_root):
    result = run_module(capsys, {"root": str(gateway_root), "disk_path": "/var/lib/edgeai"})
    assert result["changed"] is False
    hw = result["ansible_facts"]["edge_hardware"]
    assert hw["arch"] == "aarch64"
    assert hw["cpu"]["model"] == "ARM Cortex-A72" and hw["cpu"]["cores"] == 4
    assert hw["memory"]["total_mb"] == 3882812 // 1024
    assert hw["os"]["codename"] == "bookworm"
    assert hw["disk"]["checked_path"] == "/var/lib" and hw["disk"]["path"] == "/var/lib/edgeai"
    assert hw["gpus"] == [] and hw["simulated"] == []
    assert hw["probes"]["nvidia_smi"].startswith("skipped (root is ")


def test_main_applies_override_and_lists_simulated(capsys, gateway_root):
    override = {"memory": {"total_mb": 8192, "available_mb": 7000},
                "gpus": [{"name": "NVIDIA L4", "memory_mb": 23034, "compute_capability": "8.9"}]}
    hw = run_module(capsys, {"root": str(gateway_root), "override": override})["ansible_facts"]["edge_hardware"]
    assert hw["memory"] == {"total_mb": 8192, "available_mb": 7000}
    assert hw["gpus"][0]["source"] == "override"
    assert hw["simulated"] == ["gpus", "memory.available_mb", "memory.total_mb"]


def test_main_unknown_override_key_fails_cleanly(capsys, gateway_root):
    result = run_module(capsys, {"root": str(gateway_root), "override": {"vram_gb": 8}})
    assert result["failed"] is True
    assert result["msg"] == ("edge_hw_override: unknown key 'vram_gb'; allowed keys: arch, board, cpu, disk, gpus, "
                             "jetson, memory, os, virtualization")
    assert "exception" not in result


def test_main_bad_root_and_timeout(capsys, tmp_path):
    assert run_module(capsys, {"root": str(tmp_path / "nope")})["msg"].endswith("is not a directory")
    assert run_module(capsys, {"root": str(tmp_path), "timeout": 0})["msg"] == (
        "timeout must be a positive number of seconds, got 0")


def test_main_unknown_option_is_refused(capsys, tmp_path):
    result = run_module(capsys, {"root": str(tmp_path), "disk": "/var"})
    assert result["failed"] is True and "disk" in result["msg"]


def test_main_unreadable_file_becomes_warning(capsys, make_root, monkeypatch):
    # Record module.warn() calls: how ansible-core transports warnings depends on whether controller
    # code was imported in the same process (it is, by the filter tests).
    warned = []
    monkeypatch.setattr(module.AnsibleModule, "warn", lambda self, msg, *a, **kw: warned.append(msg))
    root = make_root({"/proc/meminfo": "meminfo/rpi4_4g.txt"})
    (root / "proc" / "cpuinfo").mkdir(parents=True)
    result = run_module(capsys, {"root": str(root)})
    assert result["ansible_facts"]["edge_hardware"]["errors"] == ["/proc/cpuinfo: Is a directory"]
    assert warned == ["edge_hardware_facts could not read /proc/cpuinfo: Is a directory"]


def test_main_parser_crash_is_a_message_not_a_traceback(capsys, gateway_root, monkeypatch):
    def broken(**_kwargs):
        raise KeyError("MemTotal")

    monkeypatch.setattr(module, "collect", broken)
    result = run_module(capsys, {"root": str(gateway_root)})
    assert result["failed"] is True
    assert result["msg"] == "edge_hardware_facts could not read the hardware of this host: KeyError: 'MemTotal'"


def test_main_check_mode_is_supported(capsys, gateway_root):
    result = run_module(capsys, {"root": str(gateway_root), "_ansible_check_mode": True})
    assert result["changed"] is False and "edge_hardware" in result["ansible_facts"]


def test_main_on_this_machine(capsys):
    # The real host: whatever it is, the structure holds and uname is used for arch.
    hw = run_module(capsys, {"disk_path": "/var/lib/edgeai-test-does-not-exist"})["ansible_facts"]["edge_hardware"]
    assert hw["arch"] == platform.machine()
    assert hw["cpu"]["threads"] >= 1 and hw["memory"]["total_mb"] > 0
    assert hw["disk"]["checked_path"] == "/var/lib"
    assert set(hw["probes"]) >= {"nvidia_smi", "lspci", "systemd_detect_virt"}
    assert not any(p.startswith("skipped") for p in hw["probes"].values())


def test_nvidia_smi_given_as_missing_path(capsys):
    hw = run_module(capsys, {"nvidia_smi": "/opt/none/nvidia-smi"})["ansible_facts"]["edge_hardware"]
    assert hw["probes"]["nvidia_smi"] == "not found"
