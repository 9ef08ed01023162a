"""CUDA -> minimum driver table and version arithmetic (plugins/plugin_utils/nvidia_gpu_cuda.py)."""

from __future__ import annotations

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils import nvidia_gpu_cuda as c


@pytest.mark.parametrize("cuda, driver", [
    # NVIDIA CUDA Toolkit release notes, "Toolkit Driver Version", Linux x86_64, GA releases.
    ("12.4", "550.54.14"), ("12.4.1", "550.54.14"), ("12.2", "535.54.03"), ("12.8", "570.26"), ("11.8", "520.61.05"),
])
def test_min_driver_for_cuda(cuda, driver):
    assert c.min_driver_for_cuda(cuda) == driver


def test_explicit_minimum_wins_and_is_checked():
    assert c.min_driver_for_cuda("12.4", "550.54.15") == "550.54.15"
    with pytest.raises(ValueError, match="must look like 550.54.14, got 'latest'"):
        c.min_driver_for_cuda("12.4", "latest")


def test_unknown_cuda_names_the_known_ones():
    with pytest.raises(ValueError) as exc:
        c.min_driver_for_cuda("12.7")
    assert "nvidia_gpu_cuda_version='12.7'" in str(exc.value) and "12.6, 12.8" in str(exc.value)


@pytest.mark.parametrize("have, need, ok", [
    ("535.261.03-1", "535.54.03", True),       # Debian package revision ignored
    ("535.261.03", "550.54.14", False),
    ("550.54.15", "550.54.14", True),
    ("570.26", "570.26", True),
    ("1:550.54.14-1", "550.54.14", True),      # epoch ignored
    ("550.144.03-0ubuntu0.22.04.1", "550.54.14", True),  # 144 > 54: numeric, not string, comparison
    (None, "525.60.13", False),
    ("[N/A]", "525.60.13", False),
])
def test_at_least(have, need, ok):
    assert c.at_least(have, need) is ok


def test_upstream_version_and_branch():
    assert c.upstream_version("535.261.03-1") == "535.261.03"
    assert c.upstream_version(None) is None
    assert c.driver_branch("570.133.20") == 570
