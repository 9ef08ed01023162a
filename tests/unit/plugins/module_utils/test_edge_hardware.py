"""Parsers of plugins/module_utils/edge_hw_{cpu,gpu,system}.py against recorded outputs.

Expected values are derived from the fixture text by hand (counted processor blocks, kB / 1024
arithmetic, the kernel's part-number table), not copied from the code's output.
"""

from __future__ import annotations

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.module_utils import edge_hw_cpu as hw_cpu
from ansible_collections.edgeai.slm_fleet.plugins.module_utils import edge_hw_gpu as hw_gpu
from ansible_collections.edgeai.slm_fleet.plugins.module_utils import edge_hw_system as hw_system

# --------------------------------------------------------------------------------------------
# /proc/cpuinfo
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, model, vendor, sockets, cores, threads, flags, arch",
    [
        # 2 sockets x 8 cores x 2 threads; Ice Lake-SP has AVX-512 and VNNI but neither BF16 nor AMX.
        ("x86_xeon_silver_4309y_2socket.txt", "Intel(R) Xeon(R) Silver 4309Y CPU @ 2.80GHz", "Intel", 2, 16, 32,
         ["avx2", "avx512f", "avx512_vnni"], "x86_64"),
        # 6 cores x 2 threads, AVX2 only.
        ("x86_i7_8700_desktop.txt", "Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz", "Intel", 1, 6, 12, ["avx2"], "x86_64"),
        # The captured development VM: 2 vCPUs seen as 2 cores, Sapphire Rapids with AMX and AVX-VNNI.
        ("x86_kvm_sapphire_rapids_2vcpu.txt", "Intel(R) Xeon(R) Processor", "Intel", 1, 2, 2,
         ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx"], "x86_64"),
        # Pi 4: Cortex-A72 has NEON but no dot product.
        ("rpi4_aarch64.txt", "ARM Cortex-A72", "ARM", 1, 4, 4, ["neon"], "aarch64"),
        ("rpi5_aarch64.txt", "ARM Cortex-A76", "ARM", 1, 4, 4, ["neon", "dotprod"], "aarch64"),
        ("jetson_orin_nano.txt", "ARM Cortex-A78AE", "ARM", 1, 6, 6, ["neon", "dotprod"], "aarch64"),
        ("graviton2_c6g_large.txt", "ARM Neoverse-N1", "ARM", 1, 2, 2, ["neon", "dotprod"], "aarch64"),
        ("graviton3_c7g_xlarge.txt", "ARM Neoverse-V1", "ARM", 1, 4, 4, ["neon", "sve", "dotprod", "i8mm"], "aarch64"),
        ("rk3588_big_little.txt", "ARM Cortex-A55 + ARM Cortex-A76", "ARM", 1, 8, 8, ["neon", "dotprod"], "aarch64"),
    ],
)
def test_parse_cpuinfo_recorded(fixture, name, model, vendor, sockets, cores, threads, flags, arch):
    cpu = hw_cpu.parse_cpuinfo(fixture("cpuinfo/" + name))
    assert cpu["model"] == model
    assert cpu["vendor"] == vendor
    assert (cpu["sockets"], cpu["cores"], cpu["threads"]) == (sockets, cores, threads)
    assert cpu["flags"] == flags
    assert cpu["arch_hint"] == arch


def test_cpuinfo_board_line_of_raspberry_pi(fixture):
    assert hw_cpu.parse_cpuinfo(fixture("cpuinfo/rpi4_aarch64.txt"))["board"] == "Raspberry Pi 4 Model B Rev 1.4"
    assert hw_cpu.parse_cpuinfo(fixture("cpuinfo/graviton3_c7g_xlarge.txt"))["board"] is None


def test_cpuinfo_hypervisor_flag_only_on_the_vm(fixture):
    assert hw_cpu.parse_cpuinfo(fixture("cpuinfo/x86_kvm_sapphire_rapids_2vcpu.txt"))["hypervisor"] is True
    assert hw_cpu.parse_cpuinfo(fixture("cpuinfo/x86_xeon_silver_4309y_2socket.txt"))["hypervisor"] is False


def test_cpuinfo_without_core_ids_uses_cpu_cores_per_socket():
    # Some hypervisors print "cpu cores" but no "core id": 2 blocks claiming 4 cores per socket
    # cannot mean 4 physical cores behind 2 threads, so cores is capped at the thread count.
    text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\ncpu cores\t: 4\nflags\t\t: lm avx2\n\n" \
           "processor\t: 1\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\ncpu cores\t: 4\nflags\t\t: lm avx2\n"
    cpu = hw_cpu.parse_cpuinfo(text)
    assert cpu["vendor"] == "AMD"
    assert (cpu["sockets"], cpu["cores"], cpu["threads"]) == (1, 2, 2)


def test_cpuinfo_armv7_kernel_on_armv8_core():
    # Raspberry Pi OS armhf on a Pi 4 prints "model name: ARMv7 ..." and CPU architecture 7.
    text = ("processor\t: 0\nmodel name\t: ARMv7 Processor rev 3 (v7l)\nBogoMIPS\t: 108.00\n"
            "Features\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm crc32\n"
            "CPU implementer\t: 0x41\nCPU architecture: 7\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n")
    cpu = hw_cpu.parse_cpuinfo(text)
    assert cpu["arch_hint"] == "armv7l"
    assert cpu["flags"] == ["neon"]
    assert cpu["model"] == "ARM Cortex-A72"


def test_cpuinfo_unknown_arm_part_is_named_by_number():
    text = "processor\t: 0\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xfff\n"
    assert hw_cpu.parse_cpuinfo(text)["model"] == "ARM part 0xfff"


@pytest.mark.parametrize("text", ["", "garbage without colons\n", "Hardware\t: BCM2835\n"])
def test_cpuinfo_empty_or_garbage_gives_unknowns(text):
    cpu = hw_cpu.parse_cpuinfo(text)
    assert cpu["threads"] is None and cpu["cores"] is None and cpu["flags"] == []


def test_normalize_flags_amx_from_any_amx_flag():
    assert hw_cpu.normalize_cpu_flags(["amx_int8"]) == ["amx"]
    assert hw_cpu.normalize_cpu_flags(["amx_tile", "amx_bf16", "avx512f"]) == ["avx512f", "amx"]
    assert hw_cpu.normalize_cpu_flags(["asimd", "asimddp", "i8mm", "sve2"]) == ["neon", "dotprod", "i8mm"]


# --------------------------------------------------------------------------------------------
# /proc/meminfo
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, total_mb, available_mb",
    [
        ("rpi4_4g.txt", 3882812 // 1024, 3461220 // 1024),  # 3791 MiB: a "4 GB" Pi shows ~3.7 GiB
        ("rpi4_2g.txt", 1867292 // 1024, 1590064 // 1024),
        ("jetson_orin_nano_8g.txt", 7620, 6221460 // 1024),
        ("server_256g.txt", 263596616 // 1024, 255741460 // 1024),
        ("kvm_vm_24g.txt", 24684084 // 1024, None),  # available is whatever the capture had; checked below
    ],
)
def test_parse_meminfo_recorded(fixture, name, total_mb, available_mb):
    mem = hw_cpu.parse_meminfo(fixture("meminfo/" + name))
    assert mem["total_mb"] == total_mb
    if available_mb is not None:
        assert mem["available_mb"] == available_mb
    assert mem["available_source"] == "MemAvailable"
    assert 0 < mem["available_mb"] <= mem["total_mb"]


def test_meminfo_without_memavailable_is_estimated(fixture):
    mem = hw_cpu.parse_meminfo(fixture("meminfo/legacy_2_6_no_memavailable.txt"))
    # MemFree + Buffers + Cached + SReclaimable = 5893212 + 211832 + 1224604 + 98312 kB
    assert mem["available_mb"] == (5893212 + 211832 + 1224604 + 98312) // 1024
    assert mem["available_source"] == "estimate"
    assert mem["total_mb"] == 8061044 // 1024


def test_meminfo_empty():
    assert hw_cpu.parse_meminfo("") == {"total_mb": None, "available_mb": None, "available_source": None}


# --------------------------------------------------------------------------------------------
# nvidia-smi, /proc/driver/nvidia, lspci
# --------------------------------------------------------------------------------------------


def test_nvidia_smi_one(fixture):
    gpus = hw_gpu.parse_nvidia_smi(fixture("nvidia/smi_one_rtx3060.txt"))
    assert gpus == [{
        "index": 0, "name": "NVIDIA GeForce RTX 3060", "vendor": "nvidia", "memory_mb": 12288,
        "driver": "550.120", "compute_capability": "8.6", "unified_memory": False, "source": "nvidia-smi",
    }]


def test_nvidia_smi_several(fixture):
    gpus = hw_gpu.parse_nvidia_smi(fixture("nvidia/smi_several_t4_a10.txt"))
    assert [(g["index"], g["name"], g["memory_mb"], g["compute_capability"]) for g in gpus] == [
        (0, "Tesla T4", 15360, "7.5"), (1, "Tesla T4", 15360, "7.5"), (2, "NVIDIA A10", 23028, "8.6"),
    ]


def test_nvidia_smi_na_memory_becomes_none(fixture):
    (gpu,) = hw_gpu.parse_nvidia_smi(fixture("nvidia/smi_na_memory_gb10.txt"))
    assert gpu["memory_mb"] is None
    assert gpu["compute_capability"] == "12.1"


@pytest.mark.parametrize("name", ["smi_error_no_driver.txt", "smi_no_devices.txt", "smi_legacy_compute_cap_invalid.txt"])
def test_nvidia_smi_error_text_gives_no_gpu(fixture, name):
    assert hw_gpu.parse_nvidia_smi(fixture("nvidia/" + name)) == []


def test_nvidia_smi_error_message_carries_rc_and_text(fixture):
    message = hw_gpu.nvidia_smi_error(9, fixture("nvidia/smi_error_no_driver.txt"), "")
    assert message.startswith("rc=9: NVIDIA-SMI has failed")
    assert hw_gpu.nvidia_smi_error(0, fixture("nvidia/smi_one_rtx3060.txt"), "") is None
    assert hw_gpu.nvidia_smi_error(0, "", "") == "rc=0: no output"


def test_nvidia_smi_legacy_driver_fields(fixture):
    assert hw_gpu.wants_legacy_fields(fixture("nvidia/smi_legacy_compute_cap_invalid.txt"), "")
    (gpu,) = hw_gpu.parse_nvidia_smi(fixture("nvidia/smi_legacy_v100_without_compute_cap.txt"), hw_gpu.NVIDIA_SMI_FIELDS_LEGACY)
    assert (gpu["name"], gpu["memory_mb"], gpu["driver"], gpu["compute_capability"]) == (
        "Tesla V100-SXM2-16GB", 16160, "470.182.03", None)


def test_nvidia_smi_with_units_still_parses():
    (gpu,) = hw_gpu.parse_nvidia_smi("0, Tesla T4, 15360 MiB, 535.183.01, 7.5\n")
    assert gpu["memory_mb"] == 15360


def test_nvidia_smi_argv():
    assert hw_gpu.nvidia_smi_argv("/usr/bin/nvidia-smi") == [
        "/usr/bin/nvidia-smi", "--query-gpu=index,name,memory.total,driver_version,compute_cap",
        "--format=csv,noheader,nounits"]


def test_proc_driver_nvidia(fixture):
    info = hw_gpu.parse_nvidia_proc_information(fixture("nvidia/proc_gpus_0000_01_00.0_information.txt"))
    assert info == {"name": "NVIDIA GeForce RTX 3060", "bus": "0000:01:00.0",
                    "uuid": "GPU-8f2b1d3c-5a4e-6f70-8192-a3b4c5d6e7f8", "minor": 0}
    assert hw_gpu.parse_nvidia_proc_version(fixture("nvidia/proc_version.txt")) == "535.183.01"
    assert hw_gpu.parse_nvidia_proc_version("") is None


def test_lspci_desktop_skips_intel_vga_and_nvidia_audio(fixture):
    assert hw_gpu.parse_lspci_nvidia(fixture("lspci/desktop_rtx3060.txt")) == [
        {"bus": "01:00.0", "name": "NVIDIA GeForce RTX 3060 Lite Hash Rate", "device_id": "2504"}]


def test_lspci_server_3d_controllers_with_domain(fixture):
    devices = hw_gpu.parse_lspci_nvidia(fixture("lspci/server_2x_t4.txt"))
    assert [(d["bus"], d["name"]) for d in devices] == [
        ("0000:17:00.0", "NVIDIA Tesla T4"), ("0000:ca:00.0", "NVIDIA Tesla T4")]


def test_lspci_without_nvidia(fixture):
    assert hw_gpu.parse_lspci_nvidia(fixture("lspci/no_nvidia_vm.txt")) == []


def test_lspci_codename_only():
    line = "65:00.0 3D controller [0302]: NVIDIA Corporation Device [10de:2330] (rev a1)"
    assert hw_gpu.parse_lspci_nvidia(line)[0]["name"] == "NVIDIA Device"


# --------------------------------------------------------------------------------------------
# Jetson
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, release, board",
    [
        ("nv_tegra_release_r36_4_0.txt", "36.4.0", "generic"),
        ("nv_tegra_release_r35_4_1.txt", "35.4.1", "t186ref"),
        ("nv_tegra_release_r32_7_1.txt", "32.7.1", "t210ref"),
    ],
)
def test_nv_tegra_release(fixture, name, release, board):
    assert hw_gpu.parse_nv_tegra_release(fixture("jetson/" + name)) == {"l4t_release": release, "board": board}


def test_nv_tegra_release_not_one():
    assert hw_gpu.parse_nv_tegra_release("PRETTY_NAME=Ubuntu\n") is None


def test_device_tree_model_strips_nul(fixture):
    assert hw_gpu.parse_device_tree_model(fixture("jetson/device_tree_model_orin_nano.bin")) == (
        "NVIDIA Jetson Orin Nano Developer Kit")
    assert hw_gpu.parse_device_tree_model("\x00") is None


def test_jetson_gpu_uses_ram_as_unified_memory():
    gpu = hw_gpu.jetson_gpu("NVIDIA Jetson Orin Nano Developer Kit", 7620)
    assert gpu["memory_mb"] == 7620 and gpu["unified_memory"] is True
    assert gpu["compute_capability"] == "8.7"  # Ampere GA10B
    assert gpu["name"] == "NVIDIA Jetson Orin integrated GPU"
    assert hw_gpu.jetson_compute_capability("NVIDIA Jetson Xavier NX Developer Kit") == "7.2"
    assert hw_gpu.jetson_compute_capability("NVIDIA Jetson Nano Developer Kit") == "5.3"
    assert hw_gpu.jetson_compute_capability("NVIDIA Jetson AGX Thor Developer Kit") is None


# --------------------------------------------------------------------------------------------
# /etc/os-release
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("debian12.txt", ("debian", "Debian", "12", "bookworm", "Debian GNU/Linux 12 (bookworm)")),
        ("ubuntu2204_jetson.txt", ("ubuntu", "Debian", "22.04", "jammy", "Ubuntu 22.04.4 LTS")),
        ("raspios_bookworm_arm64.txt", ("debian", "Debian", "12", "bookworm", "Debian GNU/Linux 12 (bookworm)")),
        ("raspbian_bullseye_armhf.txt", ("raspbian", "Debian", "11", "bullseye", "Raspbian GNU/Linux 11 (bullseye)")),
        ("rocky9.txt", ("rocky", "RedHat", "9.4", None, "Rocky Linux 9.4 (Blue Onyx)")),
        ("alpine319.txt", ("alpine", "Alpine", "3.19.1", None, "Alpine Linux v3.19")),
        ("debian_trixie_sid.txt", ("debian", "Debian", None, "trixie", "Debian GNU/Linux trixie/sid")),
    ],
)
def test_parse_os_release(fixture, name, expected):
    parsed = hw_system.parse_os_release(fixture("os-release/" + name))
    assert (parsed["id"], parsed["family"], parsed["version_id"], parsed["codename"], parsed["pretty_name"]) == expected


def test_os_release_unknown_distribution_uses_id_like():
    parsed = hw_system.parse_os_release('ID=pop\nID_LIKE="ubuntu debian"\nVERSION_ID="22.04"\n')
    assert parsed["family"] == "Debian"
    assert hw_system.parse_os_release("ID=plan9\n")["family"] is None


# --------------------------------------------------------------------------------------------
# Virtualization
# --------------------------------------------------------------------------------------------


def test_container_systemd_detect_virt_wins():
    assert hw_system.detect_container(sdv_container="none\n", dockerenv=True) == ("none", "systemd-detect-virt")
    assert hw_system.detect_container(sdv_container="docker\n") == ("docker", "systemd-detect-virt")


def test_container_marker_files():
    assert hw_system.detect_container(containerenv=True, dockerenv=True) == ("podman", "/run/.containerenv")
    assert hw_system.detect_container(dockerenv=True) == ("docker", "/.dockerenv")


def test_container_pid1_environ(fixture):
    assert hw_system.detect_container(pid1_environ=fixture("virt/proc1_environ_podman.bin"))[0] == "podman"
    assert hw_system.detect_container(pid1_environ=fixture("virt/proc1_environ_lxc.bin"))[0] == "lxc"


def test_container_pid1_cgroup(fixture):
    assert hw_system.detect_container(pid1_cgroup=fixture("virt/proc1_cgroup_docker_v1.txt")) == ("docker", "/proc/1/cgroup")
    assert hw_system.detect_container(pid1_cgroup=fixture("virt/proc1_cgroup_kubepods_v2.txt"))[0] == "container-other"
    assert hw_system.detect_container(pid1_cgroup=fixture("virt/proc1_cgroup_host_v2.txt"))[0] == "none"
    assert hw_system.detect_container() == ("none", "no container markers")


@pytest.mark.parametrize(
    "vendor, product, vm",
    [
        ("QEMU", "Standard PC (Q35 + ICH9, 2009)", "qemu"),
        ("VMware, Inc.", "VMware Virtual Platform", "vmware"),
        ("Microsoft Corporation", "Virtual Machine", "microsoft"),
        ("innotek GmbH", "VirtualBox", "oracle"),
        ("Xen", "HVM domU", "xen"),
        ("Amazon EC2", "c7g.xlarge", "amazon"),
        ("Google", "Google Compute Engine", "google"),
        ("Red Hat", "KVM", "kvm"),
        ("Dell Inc.", "PowerEdge R750", "none"),
        ("Microsoft Corporation", "Surface Laptop 5", "none"),
    ],
)
def test_vm_from_dmi(vendor, product, vm):
    assert hw_system.detect_vm(dmi_vendor=vendor, dmi_product=product)[0] == vm


def test_vm_order_of_evidence():
    assert hw_system.detect_vm(sdv_vm="kvm\n", dmi_vendor="VMware, Inc.") == ("kvm", "systemd-detect-virt")
    assert hw_system.detect_vm(sdv_vm="none\n", cpu_hypervisor_flag=True) == ("none", "systemd-detect-virt")
    assert hw_system.detect_vm(cpu_hypervisor_flag=True) == ("unknown", "cpuinfo hypervisor flag")
    assert hw_system.detect_vm() == ("none", "no VM markers")


# --------------------------------------------------------------------------------------------
# Disk
# --------------------------------------------------------------------------------------------


def test_nearest_existing_ancestor(tmp_path):
    (tmp_path / "var" / "lib").mkdir(parents=True)
    assert hw_system.nearest_existing(str(tmp_path / "var" / "lib" / "edgeai" / "models")) == str(tmp_path / "var" / "lib")
    assert hw_system.nearest_existing(str(tmp_path)) == str(tmp_path)


def test_disk_usage_matches_statvfs(tmp_path):
    import os

    stats = os.statvfs(str(tmp_path))
    usage = hw_system.disk_usage(str(tmp_path))
    assert usage["free_mb"] == stats.f_bavail * stats.f_frsize // 2**20
    assert usage["total_mb"] >= usage["free_mb"]
