"""slm_free_space: measures the file system that will hold a not-yet-existing path."""

import os

from ansible_collections.edgeai.slm_fleet.plugins.modules.slm_free_space import main


def test_a_missing_path_is_measured_on_its_nearest_existing_ancestor(tmp_path, run_module):
    target = tmp_path / "models" / "phi" / ".staging-abc"
    result = run_module(main, {"path": str(target), "need_bytes": 1, "margin_bytes": 0})
    info = os.statvfs(tmp_path)
    assert result["_rc"] == 0 and not result["changed"] and result["checked_path"] == str(tmp_path)
    assert abs(result["free_bytes"] - info.f_bavail * info.f_frsize) < 64 * 1024 * 1024
    assert result["enough"] and not target.parent.exists()


def test_more_than_the_disk_holds_is_not_enough(tmp_path, run_module):
    info = os.statvfs(tmp_path)
    total = info.f_blocks * info.f_frsize
    result = run_module(main, {"path": str(tmp_path), "need_bytes": total, "margin_bytes": 1})
    assert result["_rc"] == 0 and not result["enough"] and result["needed_bytes"] == total + 1


def test_negative_sizes_are_refused(tmp_path, run_module):
    result = run_module(main, {"path": str(tmp_path), "need_bytes": -1})
    assert result["_rc"] == 1 and "must not be negative" in result["msg"]
