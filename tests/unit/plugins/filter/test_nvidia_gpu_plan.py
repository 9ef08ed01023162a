"""nvidia_gpu_plan: every decision and refusal, on hardware parsed from recorded outputs.

GPUs come from the recorded nvidia-smi / lspci / Jetson files through the edge_hw_gpu parsers (as
edge_hardware_facts builds them); host facts from the recorded apt-cache policy and mokutil outputs.
Minimum drivers are NVIDIA's (CUDA release notes): 12.2 -> 535.54.03, 12.4 -> 550.54.14, 12.8 -> 570.26.
"""

from __future__ import annotations

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.filter.nvidia_gpu import FilterModule
from ansible_collections.edgeai.slm_fleet.plugins.module_utils import edge_hw_gpu as hw_gpu
from ansible_collections.edgeai.slm_fleet.plugins.module_utils import nvidia_gpu_host as h
from conftest import fixture_text

F = FilterModule().filters()
plan = F["nvidia_gpu_plan"]


def smi_hardware(name, probe="ok"):
    return {"gpus": hw_gpu.parse_nvidia_smi(fixture_text("nvidia/" + name)), "jetson": None,
            "probes": {"nvidia_smi": probe}, "simulated": []}


def lspci_hardware(name, smi_file="smi_error_no_driver.txt"):
    """No working driver: nvidia-smi failed, the GPUs come from lspci (no driver version)."""
    gpus = [{"index": i, "name": d["name"], "vendor": "nvidia", "memory_mb": None, "driver": None, "source": "lspci"}
            for i, d in enumerate(hw_gpu.parse_lspci_nvidia(fixture_text("lspci/" + name)))]
    probe = hw_gpu.nvidia_smi_error(9, fixture_text("nvidia/" + smi_file), "")
    return {"gpus": gpus, "jetson": None, "probes": {"nvidia_smi": "failed " + probe, "lspci": "ok"}, "simulated": []}


def host_facts(policy="apt/policy_debian12_non_free.txt", headers=True, sb="mokutil_sb_state_disabled.txt",
               mok=None, binaries=None, cdi=None, module=None):
    facts = h.host_facts_skeleton()
    facts.update(kernel_release="6.1.0-28-amd64", kernel_headers=headers,
                 secure_boot=h.parse_mokutil_sb_state(fixture_text("secureboot/" + sb)),
                 packages=h.parse_apt_cache_policy(fixture_text(policy)),
                 binaries=binaries if binaries is not None else {"dockerd": "/usr/sbin/dockerd"})
    if mok:
        facts["mok_keys"] = {"/var/lib/dkms/mok.pub": "enrolled" if h.parse_mokutil_test_key(
            fixture_text("secureboot/" + mok)) else "not enrolled"}
    if cdi:
        text = fixture_text(cdi)
        facts["cdi_spec"] = {"path": "/etc/cdi/nvidia.yaml", "exists": True, "kind": h.cdi_spec_kind(text),
                             "driver_versions": h.cdi_spec_driver_versions(text)}
    if module:
        facts["module"].update(module)
    return facts


TOOLKIT = {"dockerd": "/usr/sbin/dockerd", "nvidia-ctk": "/usr/bin/nvidia-ctk",
           "nvidia-container-runtime": "/usr/bin/nvidia-container-runtime"}


def settings(**kw):
    return dict({"host": "gpu-01", "cuda_version": "12.2"}, **kw)


# ---- skips ---------------------------------------------------------------------------------

def test_no_gpu_is_a_skip_that_says_why():
    hw = lspci_hardware("no_nvidia_vm.txt", "smi_no_devices.txt")
    result = plan(hw, host_facts(), settings())
    assert result["action"] == "skip"
    assert result["summary"].startswith("gpu-01: nothing to do: no NVIDIA GPU (nvidia_smi: failed rc=9: No devices")


def test_jetson_is_left_as_shipped():
    release = hw_gpu.parse_nv_tegra_release(fixture_text("jetson/nv_tegra_release_r36_4_0.txt"))
    model = hw_gpu.parse_device_tree_model(fixture_text("jetson/device_tree_model_orin_nano.bin"))
    hw = {"gpus": [hw_gpu.jetson_gpu(model, 7620)], "jetson": dict(release, model=model), "simulated": []}
    result = plan(hw, host_facts(), settings())
    assert result["action"] == "skip"
    assert "Jetson board (NVIDIA Jetson Orin Nano Developer Kit, L4T 36.4.0)" in result["reason"]
    assert "left as shipped" in result["reason"]


@pytest.mark.parametrize("host, connection", [("localhost", "ssh"), ("ctl", "local"), ("127.0.0.1", None)])
def test_control_node_is_refused_before_anything(host, connection):
    result = plan(smi_hardware("smi_one_rtx3060.txt"), host_facts(), settings(host=host, connection=connection))
    assert result["action"] == "refuse"
    assert f"{host}: nvidia_gpu changes drivers" in result["reason"]
    assert "nvidia_gpu_allow_control_node: true" in result["reason"]
    assert F["nvidia_gpu_control_node_refusal"](host, connection) == result["reason"]


def test_control_node_allowed_explicitly():
    assert F["nvidia_gpu_control_node_refusal"]("localhost", "local", True) is None
    result = plan(smi_hardware("smi_one_rtx3060.txt"), host_facts(binaries=TOOLKIT),
                  settings(host="localhost", connection="local", allow_control_node=True))
    assert result["action"] == "apply"


# ---- keep a working driver -------------------------------------------------------------------

def test_working_driver_new_enough_is_kept_and_toolkit_kept():
    result = plan(smi_hardware("smi_several_t4_a10.txt"), host_facts(binaries=TOOLKIT, cdi="cdi/nvidia_yaml_550_54_15.txt"),
                  settings(cuda_version="12.2"))
    assert result["action"] == "apply"
    assert result["gpus"] == ["Tesla T4", "Tesla T4", "NVIDIA A10"]
    assert result["driver"]["action"] == "keep" and result["driver"]["version"] == "535.183.01"
    assert result["toolkit"]["action"] == "keep"
    assert result["runtime"] == {"action": "register", "entry": {"path": "nvidia-container-runtime", "runtimeArgs": []},
                                 "reason": "runtimes.nvidia merged into daemon.json (other runtimes and keys kept)"}
    # The spec mounts libcuda.so.550.54.15 but the driver is 535.183.01: regenerate.
    assert result["cdi"]["action"] == "generate"
    assert "generated for driver 550.54.15, the driver is 535.183.01" in result["cdi"]["reason"]
    assert result["reboot"] == {"pending": False, "action": "none", "reason": "no reboot needed"}


def test_cdi_spec_matching_the_driver_is_kept():
    hw = smi_hardware("smi_one_rtx3060.txt")  # driver 550.120
    hw["gpus"][0]["driver"] = "550.54.15"
    result = plan(hw, host_facts(binaries=TOOLKIT, cdi="cdi/nvidia_yaml_550_54_15.txt"), settings(cuda_version="12.4"))
    assert result["cdi"]["action"] == "keep"


def test_cdi_spec_missing_is_generated():
    result = plan(smi_hardware("smi_one_rtx3060.txt"), host_facts(binaries=TOOLKIT), settings(cuda_version="12.4"))
    assert result["cdi"] == {"action": "generate", "reason": "the spec is missing"}


@pytest.mark.parametrize("smi, cuda, version, minimum, newest", [
    ("smi_several_t4_a10.txt", "12.4", "535.183.01", "550.54.14", "12.2"),
    ("smi_one_rtx3060.txt", "12.8", "550.120", "570.26", "12.4"),
    ("smi_legacy_v100_without_compute_cap.txt", "12.2", "470.182.03", "535.54.03", None),
])
def test_running_driver_too_old_for_the_image_cuda_is_refused(smi, cuda, version, minimum, newest):
    fields = hw_gpu.NVIDIA_SMI_FIELDS_LEGACY if "legacy" in smi else hw_gpu.NVIDIA_SMI_FIELDS
    hw = {"gpus": hw_gpu.parse_nvidia_smi(fixture_text("nvidia/" + smi), fields), "jetson": None, "simulated": []}
    result = plan(hw, host_facts(binaries=TOOLKIT), settings(cuda_version=cuda))
    assert result["action"] == "refuse"
    [message] = result["refusals"]
    assert message.startswith(f"gpu-01: the running NVIDIA driver {version} is older than {minimum}, the minimum "
                              f"NVIDIA driver for CUDA {cuda}")
    assert "Fix: install a driver >= " + minimum in message
    if newest:
        assert f"use an image built for CUDA {newest} or older (nvidia_gpu_cuda_version)" in message
    else:
        assert "no CUDA version in the table runs on it" in message


def test_library_mismatch_means_reboot_pending_reported_by_default():
    probe = "failed " + hw_gpu.nvidia_smi_error(18, fixture_text("nvidia/smi_driver_library_mismatch.txt"), "")
    hw = {"gpus": [{"name": "NVIDIA A10", "driver": None, "source": "proc"}], "jetson": None,
          "probes": {"nvidia_smi": probe}, "simulated": []}
    facts = host_facts(binaries=TOOLKIT, module={"present": True, "version": "550.127.05", "loaded_version": "550.54.15"})
    result = plan(hw, facts, settings(cuda_version="12.4"))
    assert result["driver"]["action"] == "keep" and result["driver"]["version"] == "550.54.15"
    assert result["reboot"]["pending"] and result["reboot"]["action"] == "report"
    assert "Driver/library version mismatch" in result["reboot"]["reason"]
    assert "nvidia_gpu_reboot_policy: never" in result["reboot"]["reason"]
    assert result["cdi"]["action"] == "defer"
    rebooting = plan(hw, facts, settings(cuda_version="12.4", reboot_policy="if_needed"))
    assert rebooting["reboot"]["action"] == "reboot"


# ---- install the distribution's driver --------------------------------------------------------

def test_no_driver_installs_debian_package_from_recorded_candidate():
    result = plan(lspci_hardware("server_2x_t4.txt"), host_facts(), settings(cuda_version="12.2"))
    assert result["action"] == "apply", result["refusals"]
    assert result["gpus"] == ["NVIDIA Tesla T4", "NVIDIA Tesla T4"]
    assert result["driver"]["action"] == "install"
    assert result["driver"]["packages"] == ["nvidia-driver"] and result["driver"]["version"] == "535.261.03"
    assert result["toolkit"]["action"] == "install" and result["toolkit"]["packages"] == ["nvidia-container-toolkit"]
    assert result["cdi"]["action"] == "defer"
    assert result["reboot"]["action"] == "report"


def test_debian_candidate_too_old_for_cuda_12_8_is_refused():
    result = plan(lspci_hardware("desktop_rtx3060.txt"), host_facts(), settings(cuda_version="12.8"))
    assert result["action"] == "refuse"
    [message] = result["refusals"]
    assert "the candidate of nvidia-driver (driver to install) is 535.261.03-1 is older than 570.26" in message
    assert "use an image built for CUDA 12.2 or older" in message


def test_no_candidate_names_the_repository_fix():
    result = plan(lspci_hardware("desktop_rtx3060.txt"), host_facts(policy="apt/policy_debian12_main_only.txt"),
                  settings(distribution="Debian"))
    [message] = result["refusals"]
    assert "the driver package(s) nvidia-driver have no installation candidate" in message
    assert "enable the contrib, non-free and non-free-firmware components" in message


def test_ubuntu_server_branch_packages():
    pkgs = ["nvidia-headless-550-server", "nvidia-utils-550-server"]
    result = plan(lspci_hardware("server_2x_t4.txt"), host_facts(policy="apt/policy_ubuntu2204_server_550.txt"),
                  settings(cuda_version="12.4", distribution="Ubuntu", driver_packages=pkgs))
    assert result["action"] == "apply"
    assert result["driver"]["packages"] == pkgs and result["driver"]["version"] == "550.144.03"


def test_missing_kernel_headers_refused_with_fix():
    result = plan(lspci_hardware("server_2x_t4.txt"), host_facts(headers=False), settings())
    [message] = result["refusals"]
    assert "the headers of the running kernel 6.1.0-28-amd64 are missing (/lib/modules/6.1.0-28-amd64/build)" in message
    assert "Fix: install linux-headers-6.1.0-28-amd64, or set nvidia_gpu_kernel_headers_install: true" in message


def test_missing_headers_installed_when_allowed_and_packaged():
    facts = host_facts(headers=False, policy="apt/policy_ubuntu2204_server_550.txt")
    facts["kernel_release"] = "5.15.0-126-generic"
    pkgs = ["nvidia-headless-550-server", "nvidia-utils-550-server"]
    result = plan(lspci_hardware("server_2x_t4.txt"), facts,
                  settings(cuda_version="12.4", driver_packages=pkgs, kernel_headers_install=True))
    assert result["driver"]["packages"] == pkgs + ["linux-headers-5.15.0-126-generic"]
    unpackaged = plan(lspci_hardware("server_2x_t4.txt"), host_facts(headers=False), settings(kernel_headers_install=True))
    assert "no package linux-headers-6.1.0-28-amd64 is available" in unpackaged["refusals"][0]


def test_secure_boot_without_enrolled_key_refuses_install():
    result = plan(lspci_hardware("server_2x_t4.txt"),
                  host_facts(sb="mokutil_sb_state_enabled.txt", mok="mokutil_test_key_not_enrolled.txt"), settings())
    [message] = result["refusals"]
    assert "Secure Boot is enabled and no module signing key is enrolled in MOK (keys checked: /var/lib/dkms/mok.pub)" \
        in message
    assert "mokutil --import /var/lib/dkms/mok.pub" in message and "disable Secure Boot" in message
    enrolled = plan(lspci_hardware("server_2x_t4.txt"),
                    host_facts(sb="mokutil_sb_state_enabled.txt", mok="mokutil_test_key_enrolled.txt"), settings())
    assert enrolled["action"] == "apply"


def test_secure_boot_with_installed_unsigned_module_is_refused():
    facts = host_facts(sb="mokutil_sb_state_enabled.txt", policy="apt/policy_debian12_driver_installed.txt",
                       module={"present": True, "version": "535.216.01", "signer": None}, binaries=TOOLKIT)
    result = plan(lspci_hardware("server_2x_t4.txt"), facts, settings())
    [message] = result["refusals"]
    assert message.startswith("gpu-01: Secure Boot is enabled and the installed nvidia kernel module 535.216.01 is not "
                              "signed")
    facts["module"]["signer"] = "DKMS module signing key"
    signed = plan(lspci_hardware("server_2x_t4.txt"), facts, settings())
    assert signed["action"] == "apply" and signed["driver"]["action"] == "keep" and signed["reboot"]["pending"]


def test_driver_install_not_allowed_refuses():
    result = plan(lspci_hardware("server_2x_t4.txt"), host_facts(), settings(driver_install=False))
    [message] = result["refusals"]
    assert "has no NVIDIA driver and nvidia_gpu_driver_install is false" in message


# ---- simulated GPUs, runtime, toolkit, OS ---------------------------------------------------------

def test_simulated_gpu_only_shows_the_plan_by_default():
    hw = {"gpus": [{"name": "NVIDIA A10", "memory_mb": 23028, "driver": None, "source": "override"}],
          "jetson": None, "simulated": ["gpus"]}
    result = plan(hw, host_facts(), settings())
    assert result["action"] == "plan_only" and result["simulated"] is True
    assert "NVIDIA A10 (simulated)" in result["summary"] and "driver: install" in result["summary"]
    assert plan(hw, host_facts(), settings(simulated_gpu="apply"))["action"] == "apply"


def test_simulated_gpu_refusals_are_reported_not_enforced():
    # lab-gpu-01's override: an A10 with driver 550.54.15, against an image built for CUDA 12.8.
    hw = {"gpus": [{"name": "NVIDIA A10", "driver": "550.54.15", "source": "override"}], "jetson": None,
          "simulated": ["gpus", "memory.total_mb"]}
    result = plan(hw, host_facts(binaries=TOOLKIT), settings(cuda_version="12.8"))
    assert result["action"] == "plan_only"
    assert "the running NVIDIA driver 550.54.15 is older than 570.26" in result["refusals"][0]
    assert plan(hw, host_facts(binaries=TOOLKIT), settings(cuda_version="12.8", simulated_gpu="apply"))["action"] == "refuse"


def test_docker_missing_is_refused_and_toolkit_off_is_noted():
    result = plan(smi_hardware("smi_one_rtx3060.txt"), host_facts(binaries={}), settings(cuda_version="12.4",
                                                                                         toolkit_install=False))
    assert "Docker is not installed (no dockerd)" in result["refusals"][0]
    assert result["toolkit"]["action"] == "none" and result["cdi"]["action"] == "none"
    assert any("nvidia-container-runtime exists" in n for n in result["notes"])
    off = plan(smi_hardware("smi_one_rtx3060.txt"), host_facts(binaries={}),
               settings(cuda_version="12.4", docker_runtime=False, toolkit_install=False))
    assert off["action"] == "apply" and off["runtime"]["action"] == "none"


def test_non_debian_family_and_unknown_cuda_refused():
    other = plan(smi_hardware("smi_one_rtx3060.txt"), host_facts(binaries=TOOLKIT), settings(os_family="RedHat",
                                                                                             cuda_version="12.4"))
    assert "os_family=RedHat" in other["refusals"][0]
    unknown = plan(smi_hardware("smi_one_rtx3060.txt"), host_facts(binaries=TOOLKIT), settings(cuda_version="12.7"))
    assert unknown["action"] == "refuse" and "nvidia_gpu_cuda_version='12.7' is not in the" in unknown["reason"]


def test_daemon_runtimes_keeps_other_runtimes():
    merge = F["nvidia_gpu_daemon_runtimes"]
    current = {"runtimes": {"crun": {"path": "/usr/bin/crun"}}, "log-driver": "local"}
    assert merge(current) == {"crun": {"path": "/usr/bin/crun"},
                              "nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}}
    assert merge(None) == {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}}
    assert merge("") == merge({"runtimes": "garbage"}) == merge("{not json")
    assert merge('{"runtimes": {"crun": {"path": "/usr/bin/crun"}}}') == merge(current)


def test_unrelated_pending_reboot_is_only_noted():
    facts = host_facts(binaries=TOOLKIT)
    facts["reboot_required"] = True
    result = plan(smi_hardware("smi_one_rtx3060.txt"), facts, settings(cuda_version="12.4", reboot_policy="if_needed"))
    assert result["reboot"]["action"] == "none"
    assert any("/var/run/reboot-required" in note for note in result["notes"])


def test_every_driver_package_needs_a_candidate():
    # Debian's firmware package lives in non-free-firmware, which the recorded sources lack.
    result = plan(lspci_hardware("server_2x_t4.txt"), host_facts(),
                  settings(driver_packages=["nvidia-driver", "firmware-misc-nonfree"]))
    [message] = result["refusals"]
    assert "the driver package(s) firmware-misc-nonfree have no installation candidate" in message
