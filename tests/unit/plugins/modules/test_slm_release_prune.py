"""slm_release_prune: leftover staging directories of earlier runs are removed, this run's are not."""

import json
import os
import time

from ansible_collections.edgeai.slm_fleet.plugins.modules.slm_release_prune import main


def layout(tmp_path):
    releases, models = tmp_path / "releases", tmp_path / "models"
    for name in ("r1",):
        (releases / name).mkdir(parents=True)
        (releases / name / "release.json").write_text(json.dumps({"model_dir": str(models / "m1")}))
    (models / "m1").mkdir(parents=True)
    old = models / ".staging-aaaaaaaaaaaa"
    (old / "sub").mkdir(parents=True)
    (old / "sub" / "big.bin").write_bytes(b"x" * 10)
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    current = models / ".staging-bbbbbbbbbbbb"
    current.mkdir()
    return releases, models, old, current


def test_stale_staging_is_removed_and_this_runs_is_kept(tmp_path, run_module):
    releases, models, old, current = layout(tmp_path)
    images = tmp_path / "images"
    (images / ".staging-cccccccccccc").mkdir(parents=True)
    os.utime(images / ".staging-cccccccccccc", (time.time() - 60, time.time() - 60))
    args = {"releases_dir": str(releases), "models_dir": str(models), "pinned": ["r1"],
            "staging_dirs": [str(models), str(images)], "staging_before": time.time() - 30}
    result = run_module(main, args)
    assert result["_rc"] == 0 and result["changed"]
    assert result["removed_staging"] == [str(old), str(images / ".staging-cccccccccccc")]
    assert not old.exists() and current.exists() and (models / "m1").exists()


def test_a_staging_symlink_is_removed_not_followed(tmp_path, run_module):
    releases, models, _old, _current = layout(tmp_path)
    target = tmp_path / "precious"
    target.mkdir()
    (target / "keep").write_text("x")
    link = models / ".staging-dddddddddddd"
    link.symlink_to(target)
    os.utime(link, (time.time() - 7200, time.time() - 7200), follow_symlinks=False)
    result = run_module(main, {"releases_dir": str(releases), "models_dir": str(models),
                               "staging_dirs": [str(models)], "staging_before": time.time() - 30})
    assert result["_rc"] == 0 and str(link) in result["removed_staging"]
    assert not os.path.lexists(link) and (target / "keep").exists()


def test_check_mode_reports_but_keeps(tmp_path, run_module):
    releases, models, old, _current = layout(tmp_path)
    result = run_module(main, {"releases_dir": str(releases), "models_dir": str(models),
                               "staging_dirs": [str(models)], "_ansible_check_mode": True})
    assert result["_rc"] == 0 and result["changed"] and str(old) in result["removed_staging"] and old.exists()
