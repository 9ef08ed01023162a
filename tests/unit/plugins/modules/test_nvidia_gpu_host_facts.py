"""nvidia_gpu_host_facts, run in-process on this (GPU-less) machine: shape, override, refusal of unknown keys."""

import os

from ansible_collections.edgeai.slm_fleet.plugins.modules.nvidia_gpu_host_facts import main


def test_reads_this_host_without_changing_it(tmp_path, run_module):
    spec = tmp_path / "nvidia.yaml"
    result = run_module(main, {"cdi_spec_path": str(spec), "packages": ["nvidia-driver"]})
    assert result["_rc"] == 0 and result["changed"] is False
    facts = result["ansible_facts"]["nvidia_gpu_host"]
    assert facts["kernel_release"] == os.uname()[2]
    assert facts["kernel_headers"] == os.path.isdir("/lib/modules/%s/build" % os.uname()[2])
    assert facts["cdi_spec"] == {"path": str(spec), "exists": False, "kind": None, "driver_versions": []}
    assert facts["module"]["loaded_version"] is None  # no NVIDIA driver on the machines of this project
    assert set(facts["binaries"]) == {"nvidia-smi", "nvidia-ctk", "nvidia-container-runtime", "dockerd", "mokutil",
                                      "modinfo"}
    assert facts["simulated"] == []


def test_existing_cdi_spec_is_read(tmp_path, run_module):
    spec = tmp_path / "nvidia.yaml"
    spec.write_text("kind: nvidia.com/gpu\ncontainerEdits:\n  mounts:\n  - hostPath: /usr/lib/libcuda.so.570.133.20\n")
    facts = run_module(main, {"cdi_spec_path": str(spec)})["ansible_facts"]["nvidia_gpu_host"]
    assert facts["cdi_spec"]["exists"] and facts["cdi_spec"]["driver_versions"] == ["570.133.20"]


def test_override_merges_and_is_marked(run_module):
    facts = run_module(main, {"override": {"kernel_headers": True, "module": {"signer": "lab key"}}})
    host = facts["ansible_facts"]["nvidia_gpu_host"]
    assert host["kernel_headers"] is True and host["module"]["signer"] == "lab key"
    assert "present" in host["module"]
    assert host["simulated"] == ["kernel_headers", "module.signer"]


def test_override_unknown_key_fails(run_module):
    result = run_module(main, {"override": {"kernel_header": True}})
    assert result["_rc"] == 1
    assert "override: unknown key 'kernel_header'; allowed keys: binaries, cdi_spec, kernel_headers" in result["msg"]
