"""Parsers of plugins/module_utils/nvidia_gpu_host.py against recorded outputs (see fixtures/hardware/README.md)."""

from __future__ import annotations

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.module_utils import nvidia_gpu_host as h
from conftest import FIXTURES


@pytest.mark.parametrize("name, state", [
    ("mokutil_sb_state_enabled.txt", "enabled"),
    ("mokutil_sb_state_disabled.txt", "disabled"),
    ("mokutil_sb_state_unsupported.txt", "unsupported"),
    ("mokutil_sb_state_no_efivars.txt", "unsupported"),
])
def test_mokutil_sb_state(fixture, name, state):
    assert h.parse_mokutil_sb_state(fixture("secureboot/" + name)) == state


def test_mokutil_sb_state_unknown_text():
    assert h.parse_mokutil_sb_state("mokutil: command not found") is None


@pytest.mark.parametrize("name, state", [("efivar_SecureBoot_enabled.bin", "enabled"),
                                         ("efivar_SecureBoot_disabled.bin", "disabled")])
def test_secure_boot_efivar(name, state):
    assert h.parse_secure_boot_efivar((FIXTURES / "secureboot" / name).read_bytes()) == state


def test_secure_boot_efivar_truncated():
    assert h.parse_secure_boot_efivar(b"\x06\x00\x00\x00") is None


@pytest.mark.parametrize("name, enrolled", [("mokutil_test_key_enrolled.txt", True),
                                            ("mokutil_test_key_not_enrolled.txt", False)])
def test_mokutil_test_key(fixture, name, enrolled):
    assert h.parse_mokutil_test_key(fixture("secureboot/" + name)) is enrolled


def test_apt_policy_debian12_main_only_has_no_candidate(fixture):
    # Captured: Debian 12 with only `main`; nvidia-container-toolkit is unknown to apt and not printed.
    assert h.parse_apt_cache_policy(fixture("apt/policy_debian12_main_only.txt")) == {
        "nvidia-driver": {"installed": None, "candidate": None}}


def test_apt_policy_debian12_non_free(fixture):
    # Captured: Debian 12 with contrib/non-free enabled.
    parsed = h.parse_apt_cache_policy(fixture("apt/policy_debian12_non_free.txt"))
    assert parsed["nvidia-driver"] == {"installed": None, "candidate": "535.261.03-1"}
    assert parsed["linux-headers-amd64"]["candidate"] == "6.1.176-1"
    assert "nvidia-container-toolkit" not in parsed


def test_apt_policy_installed_and_ubuntu(fixture):
    installed = h.parse_apt_cache_policy(fixture("apt/policy_debian12_driver_installed.txt"))
    assert installed["nvidia-driver"] == {"installed": "535.216.01-1~deb12u1", "candidate": "535.261.03-1"}
    assert installed["nvidia-container-toolkit"]["installed"] == "1.17.8-1"
    ubuntu = h.parse_apt_cache_policy(fixture("apt/policy_ubuntu2204_server_550.txt"))
    assert ubuntu["nvidia-headless-550-server"]["candidate"] == "550.144.03-0ubuntu0.22.04.1"
    assert ubuntu["linux-headers-5.15.0-126-generic"]["installed"] == "5.15.0-126.136"


def test_cdi_spec_versions_and_kind(fixture):
    text = fixture("cdi/nvidia_yaml_550_54_15.txt")
    assert h.cdi_spec_driver_versions(text) == ["550.54.15"]
    assert h.cdi_spec_kind(text) == "nvidia.com/gpu"
    assert h.cdi_spec_driver_versions("") == [] and h.cdi_spec_kind("not: a spec") is None


def test_modinfo_field():
    assert h.parse_modinfo_field("DKMS module signing key\n") == "DKMS module signing key"
    assert h.parse_modinfo_field("\n") is None
