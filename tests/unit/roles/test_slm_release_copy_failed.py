"""slm_release's handling of a model copy that fails after the free-space check, run by ansible-playbook.

A real ship_model run on the local host with one file that cannot be copied: the host is stopped with a
message naming it, the file and the cause, the files already copied stay in staging (the next run sends only
the rest) and nothing is promoted. A full disk (errno 28, in the words ansible-core 2.19's copy module uses)
removes the partial copy instead. The real full disk is tests/integration/test_faults_survived.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
SHIP = """\
- name: Ship a model
  hosts: all
  gather_facts: false
  tasks:
    - name: Ship the model
      ansible.builtin.include_role:
        name: edgeai.slm_fleet.slm_release
        tasks_from: ship_model
"""
ON_FAILURE = """\
- name: Handle a failed copy
  hosts: all
  gather_facts: false
  tasks:
    - name: Handle the failed copy
      ansible.builtin.include_role:
        name: edgeai.slm_fleet.slm_release
        tasks_from: copy_failed
"""
# The message of ansible.builtin.copy (ansible-core 2.19) for a file system that filled during the copy.
ENOSPC = ("Task failed: Module failed: Failed to replace '{dest}' with b'/root/.ansible/tmp/ansible-tmp-1/.source': "
          "[Errno 28] No space left on device: b'/root/.ansible/tmp/ansible-tmp-1/.source' -> b'{dir}/.ansible_tmpq1'")


def run(tmp_path: Path, playbook: str, extra: dict[str, Any]) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    inventory = {"all": {"hosts": {"gw-unit": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}
    (tmp_path / "hosts.yml").write_text(json.dumps(inventory))
    (tmp_path / "play.yml").write_text(playbook)
    cfg = tmp_path / "ansible.cfg"  # the repo's cfg prints profile_tasks lines: keep stdout JSON
    cfg.write_text("[defaults]\ncollections_path = %s\nstdout_callback = ansible.builtin.json\n"
                   "retry_files_enabled = false\n" % (REPO / "collections"))
    env = dict(os.environ, ANSIBLE_CONFIG=str(cfg), ANSIBLE_HOME=str(tmp_path / "ansible-home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"),
                           "-e", json.dumps(extra)], cwd=str(tmp_path), env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    return proc, json.loads(proc.stdout)


def failure(out: dict[str, Any]) -> str:
    """The message of the task that stopped the host (the last failed, unrescued one)."""
    failed = [t["hosts"]["gw-unit"] for t in out["plays"][0]["tasks"] if t["hosts"].get("gw-unit", {}).get("failed")]
    assert failed, json.dumps(out)[-3000:]
    return str(failed[-1]["msg"])


def test_a_file_that_cannot_be_copied_stops_the_host_naming_it_and_keeps_the_rest(tmp_path: Path) -> None:
    source = tmp_path / "model"
    source.mkdir()
    files = {"genai_config.json": b'{"model": {}}', "model.onnx": os.urandom(4096)}
    for rel, data in files.items():
        (source / rel).write_bytes(data)
    entries = [{"path": rel, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)} for rel, data in files.items()]
    # Listed with its digest, but gone from the control node's directory: its copy fails.
    entries.append({"path": "zz-missing.bin", "sha256": "0" * 64, "size": 10})
    manifest = {"build_key": "ab" * 32, "files": entries}
    models = tmp_path / "host" / "models" / "tiny"
    proc, out = run(tmp_path, SHIP, {"slm_release_source_dir": str(source), "slm_release_manifest": manifest,
                                     "slm_release_models_dir": str(models), "slm_release_space_margin_bytes": 0})
    assert proc.returncode != 0
    msg = failure(out)
    assert msg.startswith(f"gw-unit: copying model tiny version {'ab' * 6} to {models}/.staging-{'ab' * 6} failed (zz-missing.bin: ")
    assert "The files already copied are kept: the next run sends only the rest. The serving release is unchanged." in msg
    assert "Traceback" not in proc.stdout + proc.stderr
    staging = models / f".staging-{'ab' * 6}"
    assert sorted(p.name for p in staging.iterdir()) == ["genai_config.json", "model.onnx"]
    assert not (models / ("ab" * 6)).exists()


def test_a_full_disk_removes_the_partial_copy_and_says_so(tmp_path: Path) -> None:
    staging = tmp_path / "models" / "tiny" / ".staging-abababababab"
    staging.mkdir(parents=True)
    (staging / "genai_config.json").write_text("{}")
    results = [{"failed": False, "changed": True, "item": {"path": "genai_config.json"}},
               {"failed": True, "item": {"path": "model.onnx.data"},
                "msg": ENOSPC.format(dest=staging / "model.onnx.data", dir=staging)}]
    proc, out = run(tmp_path, ON_FAILURE, {"__slm_release_copy_what": "model tiny version abababababab",
                                           "__slm_release_copy_staging": str(staging),
                                           "__slm_release_copy_results": results})
    assert proc.returncode != 0
    assert failure(out) == (
        f"gw-unit: copying model tiny version abababababab to {staging} failed (model.onnx.data: [Errno 28] No space left "
        f"on device). The filesystem of {staging.parent} filled up during the copy, after the free-space check had "
        "passed: free space there and run again. The partial copy was removed. The serving release is unchanged.")
    assert not staging.exists()


def test_a_single_failed_copy_is_named_too(tmp_path: Path) -> None:
    """A task without a loop (the image archive's copy) passes its one result."""
    staging = tmp_path / ".staging-img"
    staging.mkdir()
    proc, out = run(tmp_path, ON_FAILURE, {"__slm_release_copy_what": "image x", "__slm_release_copy_staging": str(staging),
                                           "__slm_release_copy_results": [{"failed": True, "msg": "connection reset"}]})
    assert proc.returncode != 0
    assert failure(out).startswith(f"gw-unit: copying image x to {staging} failed (connection reset). The files already")
    assert staging.exists()
