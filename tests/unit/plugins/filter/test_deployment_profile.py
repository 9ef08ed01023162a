"""slm_profile: the DESIGN.md table, every threshold edge, every refusal message, overrides."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgeai.slm_fleet.plugins.filter import deployment as d
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils import deployment_profile as profile_rules
from ansible_collections.edgeai.slm_fleet.plugins.plugin_utils import deployment_tables as tables

GB = 1024  # MiB


def host(ram_mb=16 * GB, disk_mb=100 * GB, gpus=(), simulated=()):
    """An edge_hardware fact with just what the profile looks at."""
    return {
        "arch": "x86_64",
        "cpu": {"model": "Intel(R) Xeon(R) Silver 4309Y CPU @ 2.80GHz", "cores": 8, "threads": 16, "sockets": 1,
                "flags": ["avx2", "avx512f", "avx512_vnni"]},
        "memory": {"total_mb": ram_mb, "available_mb": ram_mb},
        "disk": {"path": "/var/lib/edgeai", "checked_path": "/var/lib", "mount": "/", "free_mb": disk_mb},
        "gpus": list(gpus),
        "jetson": None,
        "os": {"id": "debian", "version_id": "12", "pretty_name": "Debian GNU/Linux 12 (bookworm)"},
        "simulated": list(simulated),
    }


def gpu(memory_mb, cc="8.6", name="NVIDIA RTX A2000", index=0, source="nvidia-smi", unified=False):
    return {"index": index, "name": name, "vendor": "nvidia", "memory_mb": memory_mb, "driver": "550.120",
            "compute_capability": cc, "unified_memory": unified, "source": source}


EXACT = {"memory_tolerance_pct": 0}  # thresholds without the reservation allowance: edges at whole GiB


def test_defaults_are_the_design_table():
    t = profile_rules.merge_thresholds()
    assert t["memory_tolerance_pct"] == 10
    assert {p: (t[p]["min_ram_gb"], t[p]["rec_ram_gb"], t[p]["min_disk_gb"]) for p in tables.PROFILES} == {
        "development": (6, 8, 8), "production_cpu": (8, 12, 10), "production_gpu": (6, 8, 8), "edge_optimized": (4, 6, 6)}
    assert (t["production_gpu"]["min_vram_gb"], t["production_gpu"]["rec_vram_gb"]) == (4, 6)


# ------------------------------------------------------------------------------------------------
# Automatic choice
# ------------------------------------------------------------------------------------------------


def test_auto_gpu_host_is_production_gpu():
    result = d.slm_profile(host(ram_mb=32 * GB, gpus=[gpu(12 * GB)]))
    assert (result["profile"], result["verdict"], result["reasons"]) == ("production_gpu", "ok", [])
    assert result["gpu"]["memory_mb"] == 12 * GB


def test_auto_picks_the_largest_gpu():
    result = d.slm_profile(host(gpus=[gpu(4 * GB, index=0), gpu(24 * GB, name="NVIDIA A10", index=1)]))
    assert result["gpu"]["index"] == 1


def test_auto_small_gpu_falls_back_to_cpu_profile():
    result = d.slm_profile(host(ram_mb=16 * GB, gpus=[gpu(2 * GB, cc="6.1", name="NVIDIA GeForce GT 1030")]))
    assert result["profile"] == "production_cpu" and result["verdict"] == "ok"


def test_auto_old_gpu_falls_back_to_cpu_profile():
    # 8 GB of VRAM, but Pascal (6.1) is below vLLM's floor
    assert d.slm_profile(host(gpus=[gpu(8 * GB, cc="6.1", name="Tesla P4")]))["profile"] == "production_cpu"


def test_auto_cpu_host_and_gateway():
    assert d.slm_profile(host(ram_mb=16 * GB))["profile"] == "production_cpu"
    assert d.slm_profile(host(ram_mb=6 * GB))["profile"] == "edge_optimized"


def test_auto_never_chooses_development():
    chosen = {d.slm_profile(host(ram_mb=r * GB))["profile"] for r in (4, 6, 7, 8, 64)}
    assert "development" not in chosen


def test_auto_production_cpu_disk_short_falls_to_edge():
    # 16 GB RAM but only 7 GB free: production_cpu needs 10 GB of disk, edge_optimized 6 GB.
    result = d.slm_profile(host(ram_mb=16 * GB, disk_mb=7 * GB))
    assert result["profile"] == "edge_optimized" and result["verdict"] == "ok"


def test_auto_gpu_host_with_little_ram_falls_to_edge():
    # A usable GPU, but 5 GB of RAM fails production_gpu (6 GB) and production_cpu (8 GB).
    result = d.slm_profile(host(ram_mb=5 * GB, gpus=[gpu(8 * GB)]), EXACT)
    assert result["profile"] == "edge_optimized" and result["verdict"] == "ok"
    assert [c["profile"] for c in result["checks"] if c["resource"] == "gpu"] == ["production_gpu"]


def test_auto_refused_names_the_smallest_profile():
    result = d.slm_profile(host(ram_mb=3 * GB), EXACT)
    assert result["verdict"] == "refused" and result["profile"] == "edge_optimized"
    assert result["reasons"] == ["memory: has 3.0 GB, profile edge_optimized needs at least 4.0 GB (recommended 6.0 GB)"]
    assert result["summary"].startswith("no profile fits: checked production_cpu, edge_optimized; memory: has 3.0 GB")


def test_auto_refused_on_disk_and_memory_lists_both():
    result = d.slm_profile(host(ram_mb=3 * GB, disk_mb=5 * GB), EXACT)
    assert result["reasons"] == [
        "memory: has 3.0 GB, profile edge_optimized needs at least 4.0 GB (recommended 6.0 GB)",
        "disk: has 5.0 GB free on /var/lib (mount /), profile edge_optimized needs at least 6.0 GB",
    ]


# ------------------------------------------------------------------------------------------------
# Threshold edges (exactly at the minimum passes, one MiB below is refused)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "profile, ram_gb, gpus",
    [("edge_optimized", 4, ()), ("production_cpu", 8, ()), ("production_gpu", 6, (gpu(8 * GB),)),
     ("development", 6, ())],
)
def test_memory_edge_exact(profile, ram_gb, gpus):
    at_min = d.slm_profile(host(ram_mb=ram_gb * GB, gpus=gpus), EXACT, requested=profile)
    below = d.slm_profile(host(ram_mb=ram_gb * GB - 1, gpus=gpus), EXACT, requested=profile)
    assert at_min["verdict"] == "ok"
    assert below["verdict"] == "refused"
    assert below["reasons"] == [f"memory: has {ram_gb * GB - 1} MB, profile {profile} needs at least {ram_gb}.0 GB "
                                f"(recommended {tables.DEFAULT_THRESHOLDS[profile]['rec_ram_gb']}.0 GB)"]


@pytest.mark.parametrize("profile, disk_gb", [("edge_optimized", 6), ("production_cpu", 10), ("development", 8),
                                              ("production_gpu", 8)])
def test_disk_edge(profile, disk_gb):
    gpus = [gpu(8 * GB)] if profile == "production_gpu" else []
    assert d.slm_profile(host(disk_mb=disk_gb * GB, gpus=gpus), requested=profile)["verdict"] == "ok"
    below = d.slm_profile(host(disk_mb=disk_gb * GB - 1, gpus=gpus), requested=profile)
    assert below["reasons"] == [f"disk: has {disk_gb * GB - 1} MB free on /var/lib (mount /), profile {profile} "
                                f"needs at least {disk_gb}.0 GB"]


def test_vram_edge_exact():
    ok = d.slm_profile(host(gpus=[gpu(4096)]), EXACT, requested="production_gpu")
    below = d.slm_profile(host(gpus=[gpu(4095, name="NVIDIA T400")]), EXACT, requested="production_gpu")
    assert ok["verdict"] == "ok"
    assert below["reasons"] == ["gpu: has NVIDIA T400 (GPU 0) with 4095 MB VRAM, profile production_gpu needs at "
                                "least 4.0 GB (recommended 6.0 GB)"]


def test_memory_edge_with_default_tolerance():
    # 10 % allowance: 4 GiB installed is accepted from 4096 * 0.9 = 3686.4 MiB reported, i.e. 3687.
    assert d.slm_profile(host(ram_mb=3687), requested="edge_optimized")["verdict"] == "ok"
    below = d.slm_profile(host(ram_mb=3686), requested="edge_optimized")
    assert below["reasons"] == [
        "memory: has 3686 MB, profile edge_optimized needs at least 4.0 GB (recommended 6.0 GB; 3687 MB visible to "
        "the OS passes, allowing 10% for firmware and kernel reservations)"]


def test_real_4gb_raspberry_pi_passes_edge_optimized():
    # A Pi 4 "4 GB" reports MemTotal 3882812 kB = 3791 MiB.
    result = d.slm_profile(host(ram_mb=3882812 // 1024))
    assert (result["profile"], result["verdict"]) == ("edge_optimized", "ok")
    assert result["warnings"] == ["memory: has 3.7 GB, below the 6.0 GB recommended for profile edge_optimized"]


def test_2gb_board_refused_with_tolerance_text():
    result = d.slm_profile(host(ram_mb=1867292 // 1024))
    assert result["reasons"] == [
        "memory: has 1.8 GB, profile edge_optimized needs at least 4.0 GB (recommended 6.0 GB; 3.6 GB visible to the "
        "OS passes, allowing 10% for firmware and kernel reservations)"]


def test_vram_edge_with_default_tolerance():
    assert d.slm_profile(host(gpus=[gpu(3687)]), requested="production_gpu")["verdict"] == "ok"
    below = d.slm_profile(host(gpus=[gpu(3686)]), requested="production_gpu")
    assert below["reasons"] == [
        "gpu: has NVIDIA RTX A2000 (GPU 0) with 3686 MB VRAM, profile production_gpu needs at least 4.0 GB "
        "(recommended 6.0 GB; 3687 MB reported by the driver passes, allowing 10% for ECC and driver reservations)"]


# ------------------------------------------------------------------------------------------------
# Requested profiles and GPU refusals
# ------------------------------------------------------------------------------------------------


def test_requested_development():
    result = d.slm_profile(host(ram_mb=7 * GB), requested="development")
    assert (result["profile"], result["verdict"], result["requested"]) == ("development", "ok", "development")
    assert result["warnings"] == ["memory: has 7.0 GB, below the 8.0 GB recommended for profile development"]


def test_requested_auto_is_automatic():
    assert d.slm_profile(host(), requested="auto")["requested"] is None


def test_requested_unknown_profile():
    result = d.slm_profile(host(), requested="tiny")
    assert (result["profile"], result["verdict"]) == (None, "refused")
    assert result["reasons"] == [
        "profile: unknown profile 'tiny'; known profiles: development, edge_optimized, production_cpu, production_gpu"]


def test_requested_gpu_profile_without_gpu():
    result = d.slm_profile(host(), requested="production_gpu")
    assert result["reasons"] == [
        "gpu: has no NVIDIA GPU, profile production_gpu needs one with at least 4.0 GB VRAM (recommended 6.0 GB)"]


def test_requested_gpu_profile_with_old_gpu():
    result = d.slm_profile(host(gpus=[gpu(8 * GB, cc="6.1", name="Tesla P4")]), requested="production_gpu")
    assert result["reasons"] == [
        "gpu: has Tesla P4 (GPU 0) with compute capability 6.1, profile production_gpu needs at least 7.0 "
        "(the oldest GPUs vLLM runs on)"]


@pytest.mark.parametrize(
    "source, hint",
    [("lspci", "found by lspci only: the NVIDIA driver is not loaded"),
     ("proc", "listed by the NVIDIA driver, but nvidia-smi did not answer"),
     ("nvidia-smi", "nvidia-smi reports its memory as [N/A]")],
)
def test_requested_gpu_profile_with_unknown_vram(source, hint):
    hw = host(gpus=[gpu(None, cc=None, name="NVIDIA GeForce RTX 3060", source=source)])
    assert d.slm_profile(hw, requested="production_gpu")["reasons"] == [
        f"gpu: has NVIDIA GeForce RTX 3060 (GPU 0) but its VRAM is unknown ({hint}), profile production_gpu needs at "
        f"least 4.0 GB VRAM; fix the driver or declare the GPU in edge_hw_override.gpus"]


def test_gpu_warnings_below_recommended_and_unified():
    # An 8 GB Orin Nano reports 7620 MiB: the 10 % allowance makes that meet the 8 GB recommendation
    # (>= 7372.8), so only the unified-memory remark is left.
    result = d.slm_profile(host(ram_mb=7620, gpus=[gpu(7620, cc="8.7", name="Orin (nvgpu)", unified=True)]))
    assert result["profile"] == "production_gpu"
    assert result["warnings"] == [
        "gpu: Orin (nvgpu) (GPU 0): it shares the system RAM (unified memory); the engine budget counts that "
        "memory once"]
    exact = d.slm_profile(host(ram_mb=7620, gpus=[gpu(7620, cc="8.7", unified=True)]), EXACT)
    assert exact["warnings"][0] == "memory: has 7.4 GB, below the 8.0 GB recommended for profile production_gpu"
    small = d.slm_profile(host(gpus=[gpu(4 * GB, cc=None, name="Tesla V100")]))
    assert small["warnings"] == ["gpu: Tesla V100 (GPU 0): 4.0 GB VRAM is below the 6.0 GB recommended for profile "
                                 "production_gpu; its compute capability is unknown (driver older than 510?)"]


def test_unknown_memory_and_disk_are_refusals():
    hw = host()
    hw["memory"] = {"total_mb": None, "available_mb": None}
    hw["disk"] = {"path": "/var/lib", "checked_path": None, "mount": None, "free_mb": None}
    result = d.slm_profile(hw, requested="edge_optimized")
    assert result["reasons"] == [
        "memory: total RAM is unknown (/proc/meminfo could not be read), profile edge_optimized needs at least 4.0 GB",
        "disk: free space on /var/lib is unknown, profile edge_optimized needs at least 6.0 GB"]


# ------------------------------------------------------------------------------------------------
# Threshold overrides
# ------------------------------------------------------------------------------------------------


def test_partial_threshold_override_merges():
    t = {"edge_optimized": {"min_ram_gb": 3}, "memory_tolerance_pct": 0}
    assert d.slm_profile(host(ram_mb=3 * GB), t)["profile"] == "edge_optimized"
    merged = profile_rules.merge_thresholds(t)
    assert merged["edge_optimized"] == {"min_ram_gb": 3, "rec_ram_gb": 6, "min_disk_gb": 6}
    assert merged["production_cpu"]["min_ram_gb"] == 8


def test_raised_production_cpu_threshold_changes_the_choice():
    assert d.slm_profile(host(ram_mb=16 * GB), {"production_cpu": {"min_ram_gb": 24, "rec_ram_gb": 32}})[
        "profile"] == "edge_optimized"


def test_thresholds_are_reported_for_the_chosen_profile():
    result = d.slm_profile(host(ram_mb=16 * GB))
    assert result["thresholds"] == {"min_ram_gb": 8, "rec_ram_gb": 12, "min_disk_gb": 10, "memory_tolerance_pct": 10}


@pytest.mark.parametrize(
    "thresholds, message",
    [
        ({"edge": {}}, "thresholds: unknown key 'edge'; allowed keys: memory_tolerance_pct, development, "
                       "edge_optimized, production_cpu, production_gpu"),
        ({"edge_optimized": {"min_ram": 4}}, "thresholds.edge_optimized: unknown key 'min_ram'"),
        ({"edge_optimized": {"min_ram_gb": "4GB"}}, "thresholds.edge_optimized.min_ram_gb must be a non-negative "
                                                    "number of GB, got '4GB'"),
        ({"edge_optimized": {"min_ram_gb": 8}}, "thresholds.edge_optimized: min_ram_gb (8) is above rec_ram_gb (6)"),
        ({"memory_tolerance_pct": 60}, "thresholds.memory_tolerance_pct must be a number from 0 to 50"),
        ({"production_gpu": {"min_compute_capability": "seven"}}, "must look like '7.0'"),
        ("8GB", "thresholds must be a dict"),
    ],
)
def test_bad_thresholds_raise(thresholds, message):
    with pytest.raises(AnsibleFilterError, match=None) as excinfo:
        d.slm_profile(host(), thresholds)
    assert message in str(excinfo.value)


def test_simulated_keys_pass_through_and_ansible_facts_accepted():
    hw = host(simulated=["memory.total_mb"])
    assert d.slm_profile(hw)["simulated"] == ["memory.total_mb"]
    assert d.slm_profile({"edge_hardware": hw})["profile"] == d.slm_profile(hw)["profile"]


def test_checks_record_every_candidate():
    result = d.slm_profile(host(ram_mb=6 * GB, gpus=[gpu(2 * GB)]))
    assert [(c["profile"], c["resource"], c["ok"]) for c in result["checks"]] == [
        ("production_cpu", "memory", False), ("production_cpu", "disk", True),
        ("edge_optimized", "memory", True), ("edge_optimized", "disk", True)]
