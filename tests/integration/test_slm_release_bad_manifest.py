"""A manifest path or model name that would escape the model directory is refused before the host changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = "tests/integration/playbooks/engine_onnx.yml"
SHA = "ab" * 32


@pytest.fixture(scope="module")
def gateway(systemd_host):
    systemd_host.group = "iot_gateways"
    return systemd_host


def prebuilt(tmp_path: Path, files: list[dict]) -> str:
    """A crafted prebuilt model directory: only its manifest.json (nothing should ever be copied)."""
    (tmp_path / "manifest.json").write_text(json.dumps({"build_key": "7f8b13aff87a" * 4, "files": files}))
    return str(tmp_path)


def gateway_vars(tmp_path: Path, files: list[dict], **extra) -> dict:
    return {
        "edge_hw_override": {"memory": {"total_mb": 3791}, "gpus": []},
        "slm_engine_preferences": {"engine": "onnx"},
        "engine_onnx_model_id": "lab-tiny-phi3",
        "engine_onnx_prebuilt_dir": prebuilt(tmp_path, files),
        "engine_onnx_build_dir": str(tmp_path / "build"),
        # No image is built or pulled: the run must stop at the manifest, before the image phase.
        "engine_onnx_image_source": "registry",
        **extra,
    }


def untouched(host) -> None:
    for path in ("/var/lib/slm-fleet", "/var/lib/x", "/var/x", "/x", "/etc/x"):
        assert host.run("test", "-e", path).returncode != 0, f"{path} was created on the host"


@pytest.mark.parametrize("files, fragment", [
    pytest.param([{"path": "genai_config.json", "sha256": SHA, "size": 3},
                  {"path": "../../../x", "sha256": SHA, "size": 1}],
                 "files[1] (path '../../../x'): path contains '..'", id="dot-dot"),
    pytest.param([{"path": "/etc/x", "sha256": SHA, "size": 1}], "files[0] (path '/etc/x'): path is absolute", id="absolute"),
    pytest.param([{"path": "a/./b", "sha256": SHA, "size": 1}, {"path": "c", "sha256": "x", "size": -1}],
                 "path is not normalised", id="not-normalised-and-bad-digest"),
])
def test_bad_manifest_entry_is_refused_before_anything_is_created(gateway, tmp_path, files, fragment):
    run = gateway.playbook(PLAYBOOK, gateway_vars(tmp_path, files))
    assert run.rc != 0
    [message] = run.failures(gateway.name)
    assert message.startswith(f"{gateway.name}: model lab-tiny-phi3 from {tmp_path} refused: "), message
    assert fragment in message and "Nothing was created or copied on the host." in message, message
    untouched(gateway)


@pytest.mark.parametrize("name", ["../x", ".hidden", "a/b"])
def test_model_id_that_is_not_one_path_component_is_refused(gateway, tmp_path, name):
    files = [{"path": "genai_config.json", "sha256": SHA, "size": 3}]
    run = gateway.playbook(PLAYBOOK, gateway_vars(tmp_path, files, engine_onnx_model_id=name))
    assert run.rc != 0
    message = run.failures(gateway.name)[0]
    assert message.startswith(f"{gateway.name}: engine_onnx_model_id='{name}' names the model's directory"), message
    assert "one path component" in message and "Nothing was changed on the host." in message
    untouched(gateway)


@pytest.mark.parametrize("digest, source", [("sha256:" + "z" * 64, "registry"), ("v1.0", "registry"),
                                            ("sha256:" + "a" * 64, "build")])
def test_image_digest_that_is_not_a_registry_sha256_is_refused(gateway, tmp_path, digest, source):
    files = [{"path": "genai_config.json", "sha256": SHA, "size": 3}]
    extra = gateway_vars(tmp_path, files, engine_onnx_image_digest=digest, engine_onnx_image_source=source)
    run = gateway.playbook(PLAYBOOK, extra)
    assert run.rc != 0
    message = run.failures(gateway.name)[0]
    assert message.startswith(f"{gateway.name}: engine_onnx_image_digest='{digest}' must be '' or sha256:"), message
    assert f"(it is {source})" in message
    untouched(gateway)
