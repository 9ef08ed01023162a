"""The fleet plan as a text table."""

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.filter.slm_plan_table import slm_plan_table

ROW_OK = {"host": "gw-01", "group": "iot_gateways", "arch": "x86_64", "ram_gb": 3.7, "gpu": "-", "disk_free_gb": 20.5,
          "profile": "edge_optimized", "engine": "onnx", "quantization": "int4", "memory_budget": "3.0/3.2 GB ram",
          "verdict": "ok", "reasons": [], "simulated": ["memory.total_mb"]}
ROW_REFUSED = dict(ROW_OK, host="gw-00", ram_gb=1.8, verdict="refused", reasons=["memory: has 1.8 GB, needs 4.0 GB"],
                   simulated=[])


def test_rows_are_sorted_aligned_and_reasons_follow():
    lines = slm_plan_table([ROW_OK, ROW_REFUSED]).splitlines()
    assert lines[0].split() == ["host", "group", "hardware", "profile", "engine", "quantization", "memory", "budget",
                                "verdict"]
    assert lines[2].startswith("gw-00") and lines[2].endswith("REFUSED")
    assert lines[3].startswith("gw-01") and lines[3].endswith("OK")
    assert lines[2].index("edge_optimized") == lines[3].index("edge_optimized") == lines[0].index("profile")
    assert "gw-00: memory: has 1.8 GB, needs 4.0 GB" in lines
    assert lines[-1].startswith("* simulated")


def test_simulated_values_are_starred_and_measured_ones_not():
    text = slm_plan_table([ROW_OK, ROW_REFUSED])
    assert "3.7 GB RAM*" in text
    assert "1.8 GB RAM," in text


def test_no_legend_without_simulation():
    assert "simulated" not in slm_plan_table([ROW_REFUSED])


def test_rejects_non_rows():
    with pytest.raises(TypeError, match="list of plan rows"):
        slm_plan_table("gw-01")
