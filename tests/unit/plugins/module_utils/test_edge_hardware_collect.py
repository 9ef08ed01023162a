"""collect() over fake host roots, and apply_override() (edge_hw_override semantics)."""

from __future__ import annotations

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.module_utils import edge_hardware as eh
from ansible_collections.edgeai.slm_fleet.plugins.module_utils import edge_hw_override as hw_override


class FakeRunner:
    """Answers argv prefixes with recorded outputs and remembers what was run."""

    def __init__(self, answers: dict[str, tuple[int, str, str]]):
        self.answers = answers
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str]) -> tuple[int, str, str]:
        self.calls.append(argv)
        joined = " ".join(argv)
        for prefix, answer in self.answers.items():
            if joined.startswith(prefix):
                return answer
        raise AssertionError("unexpected command: " + joined)


SMI = "/usr/bin/nvidia-smi --query-gpu=index,name,memory.total,driver_version,compute_cap"
SMI_LEGACY = "/usr/bin/nvidia-smi --query-gpu=index,name,memory.total,driver_version --format"
CMDS = {"nvidia_smi": "/usr/bin/nvidia-smi", "lspci": "/usr/bin/lspci", "systemd_detect_virt": None}


def test_collect_gpu_server(make_root, fixture):
    root = make_root({
        "/proc/cpuinfo": "cpuinfo/x86_xeon_silver_4309y_2socket.txt",
        "/proc/meminfo": "meminfo/server_256g.txt",
        "/etc/os-release": "os-release/debian12.txt",
    })
    run = FakeRunner({SMI: (0, fixture("nvidia/smi_several_t4_a10.txt"), "")})
    facts = eh.collect(str(root), "/var/lib/edgeai", CMDS, run, machine="x86_64")
    assert facts["arch"] == "x86_64"
    assert facts["cpu"]["cores"] == 16 and facts["cpu"]["sockets"] == 2
    assert facts["memory"]["total_mb"] == 263596616 // 1024
    assert [g["memory_mb"] for g in facts["gpus"]] == [15360, 15360, 23028]
    assert facts["probes"]["nvidia_smi"] == "ok"
    assert facts["jetson"] is None
    # /var/lib/edgeai does not exist yet: the nearest existing ancestor is measured.
    assert facts["disk"]["path"] == "/var/lib/edgeai"
    assert facts["disk"]["checked_path"] == "/var/lib"
    assert facts["disk"]["free_mb"] > 0
    assert len(run.calls) == 1  # lspci is not needed once nvidia-smi answered


def test_collect_driver_broken_falls_back_to_proc_then_lspci(make_root, fixture):
    root = make_root({
        "/proc/cpuinfo": "cpuinfo/x86_i7_8700_desktop.txt",
        "/proc/meminfo": "meminfo/desktop_32g.txt",
        "/proc/driver/nvidia/version": "nvidia/proc_version.txt",
        "/proc/driver/nvidia/gpus/0000:01:00.0/information": "nvidia/proc_gpus_0000_01_00.0_information.txt",
    })
    run = FakeRunner({SMI: (9, fixture("nvidia/smi_error_no_driver.txt"), "")})
    facts = eh.collect(str(root), "/var/lib", CMDS, run, machine="x86_64")
    (gpu,) = facts["gpus"]
    assert (gpu["name"], gpu["source"], gpu["driver"], gpu["memory_mb"]) == (
        "NVIDIA GeForce RTX 3060", "proc", "535.183.01", None)
    assert facts["probes"]["nvidia_smi"].startswith("failed rc=9: NVIDIA-SMI has failed")


def test_collect_no_driver_at_all_uses_lspci(make_root, fixture):
    root = make_root({"/proc/cpuinfo": "cpuinfo/x86_i7_8700_desktop.txt", "/proc/meminfo": "meminfo/desktop_32g.txt"})
    run = FakeRunner({"/usr/bin/lspci -nn": (0, fixture("lspci/desktop_rtx3060.txt"), "")})
    facts = eh.collect(str(root), "/var/lib", {"nvidia_smi": None, "lspci": "/usr/bin/lspci"}, run, machine="x86_64")
    (gpu,) = facts["gpus"]
    assert (gpu["name"], gpu["source"], gpu["memory_mb"]) == ("NVIDIA GeForce RTX 3060 Lite Hash Rate", "lspci", None)
    assert facts["probes"] == {"nvidia_smi": "not found", "lspci": "1 NVIDIA display device(s)",
                               "systemd_detect_virt": "not found"}


def test_collect_old_driver_retries_without_compute_cap(make_root, fixture):
    root = make_root({"/proc/meminfo": "meminfo/server_256g.txt"})
    run = FakeRunner({
        SMI: (2, fixture("nvidia/smi_legacy_compute_cap_invalid.txt"), ""),
        SMI_LEGACY: (0, fixture("nvidia/smi_legacy_v100_without_compute_cap.txt"), ""),
    })
    facts = eh.collect(str(root), "/var/lib", CMDS, run, machine="x86_64")
    assert [g["name"] for g in facts["gpus"]] == ["Tesla V100-SXM2-16GB"]
    assert facts["probes"]["nvidia_smi"] == "ok (driver without compute_cap)"
    assert len(run.calls) == 2


def test_collect_nvidia_smi_timeout_is_not_fatal(make_root):
    root = make_root({"/proc/meminfo": "meminfo/server_256g.txt"})
    run = FakeRunner({SMI: (124, "", "timed out after 10s"), "/usr/bin/lspci": (0, "", "")})
    facts = eh.collect(str(root), "/var/lib", CMDS, run, machine="x86_64")
    assert facts["gpus"] == []
    assert "timed out" in facts["probes"]["nvidia_smi"]


def test_collect_jetson_orin_nano(make_root):
    root = make_root({
        "/proc/cpuinfo": "cpuinfo/jetson_orin_nano.txt",
        "/proc/meminfo": "meminfo/jetson_orin_nano_8g.txt",
        "/etc/os-release": "os-release/ubuntu2204_jetson.txt",
        "/etc/nv_tegra_release": "jetson/nv_tegra_release_r36_4_0.txt",
        "/proc/device-tree/model": "jetson/device_tree_model_orin_nano.bin",
    })
    facts = eh.collect(str(root), "/var/lib", {}, FakeRunner({}), machine=None)
    assert facts["arch"] == "aarch64"  # inferred from cpuinfo: no uname for a foreign root
    assert facts["jetson"] == {"model": "NVIDIA Jetson Orin Nano Developer Kit", "l4t_release": "36.4.0"}
    assert facts["board"] == "NVIDIA Jetson Orin Nano Developer Kit"
    (gpu,) = facts["gpus"]
    assert gpu["memory_mb"] == 7620 == facts["memory"]["total_mb"]
    assert gpu["unified_memory"] is True and gpu["source"] == "tegra" and gpu["compute_capability"] == "8.7"


def test_collect_jetson_with_nvidia_smi_na_memory(make_root):
    # JetPack 6 ships an nvidia-smi that cannot size the shared memory: it becomes the RAM.
    root = make_root({
        "/proc/meminfo": "meminfo/jetson_orin_nano_8g.txt",
        "/etc/nv_tegra_release": "jetson/nv_tegra_release_r36_4_0.txt",
        "/proc/device-tree/model": "jetson/device_tree_model_orin_nano.bin",
    })
    run = FakeRunner({SMI: (0, "0, Orin (nvgpu), [N/A], 540.4.0, [N/A]\n", "")})
    facts = eh.collect(str(root), "/var/lib", CMDS, run, machine="aarch64")
    (gpu,) = facts["gpus"]
    assert (gpu["name"], gpu["memory_mb"], gpu["unified_memory"], gpu["compute_capability"], gpu["source"]) == (
        "Orin (nvgpu)", 7620, True, "8.7", "nvidia-smi+tegra")


def test_collect_raspberry_pi_without_tools(make_root):
    root = make_root({
        "/proc/cpuinfo": "cpuinfo/rpi5_aarch64.txt",
        "/proc/meminfo": "meminfo/rpi5_8g.txt",
        "/etc/os-release": "os-release/raspios_bookworm_arm64.txt",
        "/proc/device-tree/model": "jetson/device_tree_model_rpi5.bin",
    })
    facts = eh.collect(str(root), "/var/lib", {}, FakeRunner({}), machine=None)
    assert facts["gpus"] == [] and facts["jetson"] is None
    assert facts["board"] == "Raspberry Pi 5 Model B Rev 1.0"
    assert facts["cpu"]["model"] == "ARM Cortex-A76"
    assert facts["virtualization"] == {"container": "none", "container_source": "no container markers",
                                       "vm": "none", "vm_source": "no VM markers"}


def test_collect_container_and_vm_markers(make_root):
    root = make_root({
        "/proc/cpuinfo": "cpuinfo/x86_kvm_sapphire_rapids_2vcpu.txt",
        "/.dockerenv": None,
        "/sys/class/dmi/id/sys_vendor": "QEMU\n",
        "/sys/class/dmi/id/product_name": "Standard PC (i440FX + PIIX, 1996)\n",
    })
    virt = eh.collect(str(root), "/var/lib", {}, FakeRunner({}), machine="x86_64")["virtualization"]
    assert (virt["container"], virt["vm"]) == ("docker", "qemu")


def test_collect_uses_systemd_detect_virt_when_present(make_root):
    root = make_root({"/.dockerenv": None})
    run = FakeRunner({"/bin/sdv --container": (1, "none\n", ""), "/bin/sdv --vm": (0, "vmware\n", "")})
    virt = eh.collect(str(root), "/var/lib", {"systemd_detect_virt": "/bin/sdv"}, run, machine="x86_64")["virtualization"]
    assert (virt["container"], virt["vm"]) == ("none", "vmware")


def test_collect_empty_root_never_raises(tmp_path):
    facts = eh.collect(str(tmp_path), "/does/not/exist", {}, FakeRunner({}), machine=None)
    assert facts["cpu"]["threads"] is None and facts["memory"]["total_mb"] is None
    assert facts["arch"] is None
    assert facts["disk"]["checked_path"] == "/"
    assert facts["errors"] == []


def test_collect_unreadable_file_is_reported_not_raised(make_root):
    root = make_root({"/proc/meminfo": "meminfo/server_256g.txt"})
    (root / "proc" / "cpuinfo").mkdir(parents=True)  # reading a directory fails with EISDIR
    facts = eh.collect(str(root), "/var/lib", {}, FakeRunner({}), machine="x86_64")
    assert facts["cpu"]["threads"] is None
    assert any(error.startswith("/proc/cpuinfo:") for error in facts["errors"])


def test_run_command_never_raises():
    assert eh.run_command(["/nonexistent/binary"])[0] == 127
    assert eh.run_command(["sleep", "5"], timeout=1)[0] == 124
    assert eh.run_command(["sh", "-c", "echo hi; exit 3"]) == (3, "hi\n", "")


# --------------------------------------------------------------------------------------------
# apply_override
# --------------------------------------------------------------------------------------------

DETECTED = {
    "arch": "x86_64", "board": None,
    "os": {"id": "debian", "family": "Debian", "version_id": "12", "codename": "bookworm", "pretty_name": "Debian"},
    "cpu": {"model": "Intel", "vendor": "Intel", "sockets": 1, "cores": 2, "threads": 2, "flags": ["avx2"]},
    "memory": {"total_mb": 24105, "available_mb": 23000},
    "disk": {"path": "/var/lib", "checked_path": "/var/lib", "mount": "/", "total_mb": 250000, "free_mb": 70000},
    "gpus": [],
    "jetson": None,
    "virtualization": {"container": "docker", "container_source": "/.dockerenv", "vm": "kvm", "vm_source": "dmi"},
    "probes": {}, "errors": [], "simulated": [],
}


def test_override_deep_merges_and_records_leaves():
    merged = hw_override.apply_override(DETECTED, {"memory": {"total_mb": 4096}, "cpu": {"cores": 4}, "arch": "aarch64"})
    assert merged["memory"]["total_mb"] == 4096
    assert merged["cpu"]["cores"] == 4 and merged["cpu"]["threads"] == 2  # untouched sibling kept
    assert merged["arch"] == "aarch64"
    # available (23000) exceeded the simulated total: capped and marked simulated too
    assert merged["memory"]["available_mb"] == 4096
    assert merged["simulated"] == ["arch", "cpu.cores", "memory.available_mb", "memory.total_mb"]
    assert DETECTED["memory"]["total_mb"] == 24105  # the input is not modified


def test_override_available_below_total_is_kept():
    facts = dict(DETECTED, memory={"total_mb": 24105, "available_mb": 3000})
    merged = hw_override.apply_override(facts, {"memory": {"total_mb": 8192}})
    assert merged["memory"]["available_mb"] == 3000
    assert merged["simulated"] == ["memory.total_mb"]


def test_override_gpus_replaced_whole_and_filled():
    merged = hw_override.apply_override(DETECTED, {"gpus": [{"name": "NVIDIA L4", "memory_mb": 23034, "compute_capability": 8.9}]})
    assert merged["gpus"] == [{
        "index": 0, "name": "NVIDIA L4", "vendor": "nvidia", "memory_mb": 23034, "driver": None,
        "compute_capability": "8.9", "unified_memory": False, "source": "override"}]
    assert merged["simulated"] == ["gpus"]
    assert hw_override.apply_override(dict(DETECTED, gpus=[{"index": 0}]), {"gpus": []})["gpus"] == []


def test_override_jetson_from_nothing():
    merged = hw_override.apply_override(DETECTED, {"jetson": {"model": "NVIDIA Jetson Orin Nano Developer Kit", "l4t_release": "36.4.0"}})
    assert merged["jetson"]["l4t_release"] == "36.4.0"
    assert merged["simulated"] == ["jetson.l4t_release", "jetson.model"]


def test_override_virtualization_marks_source():
    merged = hw_override.apply_override(DETECTED, {"virtualization": {"vm": "none"}})
    assert merged["virtualization"]["vm_source"] == "override"
    assert merged["virtualization"]["container_source"] == "/.dockerenv"


def test_empty_override_is_a_no_op():
    assert hw_override.apply_override(DETECTED, {}) == DETECTED
    assert hw_override.apply_override(DETECTED, None)["simulated"] == []


@pytest.mark.parametrize(
    "override, message",
    [
        ({"ram": 4096}, "edge_hw_override: unknown key 'ram'; allowed keys: arch, board, cpu, disk, gpus, jetson, memory, os, "
                        "virtualization"),
        ({"memory": {"totl_mb": 1}}, "edge_hw_override: unknown key 'memory.totl_mb'; allowed keys under 'memory': "
                                     "available_mb, total_mb"),
        ({"memory": 4096}, "edge_hw_override: 'memory' must be a dict (or null), got 4096"),
        ({"memory": {"total_mb": "4 GB"}}, "edge_hw_override: 'memory.total_mb' must be a non-negative integer, got '4 GB'"),
        ({"memory": {"total_mb": -1}}, "must be a non-negative integer"),
        ({"gpus": {"name": "x"}}, "edge_hw_override: 'gpus' must be a list of GPUs (use [] for none)"),
        ({"gpus": [{"vram": 8}]}, "edge_hw_override: unknown key 'gpus[0].vram'; allowed keys in a GPU:"),
        ({"gpus": ["A10"]}, "edge_hw_override: gpus[0] must be a dict"),
        ({"cpu": {"flags": "avx2"}}, "edge_hw_override: 'cpu.flags' must be a list"),
        ("memory=4096", "edge_hw_override must be a dict"),
    ],
)
def test_override_errors_name_the_key(override, message):
    with pytest.raises(hw_override.OverrideError) as excinfo:
        hw_override.apply_override(DETECTED, override)
    assert message in str(excinfo.value)
