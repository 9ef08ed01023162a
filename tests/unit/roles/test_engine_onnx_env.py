"""engine_onnx's env file and the engine's own settings stay one list.

Every ``SLM_*`` line the role writes into ``engine.env`` must be a setting that slm-engine reads
(``engine/src/slm_engine/config.py``), fed by a role variable that has a default and an argument
spec; and every setting the engine reads must either be written by the role or be named below
with the reason the role leaves it out. A setting added to the engine without a role variable, or
a role line the engine ignores, fails here instead of silently doing nothing on a gateway.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles/engine_onnx"
CONFIG = REPO / "engine/src/slm_engine/config.py"

# Settings the engine reads that the role does not write, and why.
NOT_WRITTEN_BY_ROLE = {
    "SLM_API_KEY": "the key reaches the container as a file (SLM_API_KEY_FILE), never as an environment value",
    "SLM_HOST": "the engine listens on all addresses inside its container; the published port decides exposure",
    "SLM_PORT": "the container port is fixed (8000); the role chooses the published port",
    "SLM_BATCH_WINDOW_MS": "the engine's default batching window; no operator has needed to tune it",
    "SLM_LOG_LEVEL": "the engine's default (info) goes to the container log",
}

# Lines whose value is a fixed path inside the container, not an operator's choice.
FIXED_IN_CONTAINER = {"SLM_MODEL_DIR", "SLM_API_KEY_FILE"}


def engine_settings() -> set[str]:
    """The SLM_* names config.py reads through its typed readers (r.text, r.integer, r.number)."""
    source = CONFIG.read_text()
    return set(re.findall(r"\br\.(?:text|integer|number)\(\s*\"(SLM_[A-Z0-9_]+)\"", source))


def role_lines() -> dict[str, str]:
    """``{SLM_NAME: role variable}`` for each line of engine.env.j2 (conditional lines included)."""
    lines = {}
    for line in (ROLE / "templates/engine.env.j2").read_text().splitlines():
        m = re.match(r"^(SLM_[A-Z0-9_]+)=(.*)$", line)
        if m:
            var = re.search(r"\{\{\s*([a-z0-9_]+)", m.group(2))
            lines[m.group(1)] = var.group(1) if var else ""
    return lines


def test_the_engine_reads_settings_here() -> None:
    # The scan itself must find the settings, or the other tests would pass on nothing.
    assert {"SLM_MODEL_DIR", "SLM_THREADS", "SLM_PREFIX_CACHE_MIB", "SLM_PREFIX_GENERATORS_MIB"} <= engine_settings()


def test_every_line_of_the_env_file_is_a_setting_the_engine_reads() -> None:
    unknown = sorted(set(role_lines()) - engine_settings())
    assert not unknown, f"engine.env.j2 writes settings slm-engine does not read: {unknown}"


def test_every_engine_setting_is_written_by_the_role_or_left_out_with_a_reason() -> None:
    missing = sorted(engine_settings() - set(role_lines()) - set(NOT_WRITTEN_BY_ROLE))
    assert not missing, (
        f"slm-engine reads {missing}, which engine_onnx never sets: add a role variable "
        "(defaults, argument spec, engine.env.j2) or name it in NOT_WRITTEN_BY_ROLE with the reason")
    stale = sorted(set(NOT_WRITTEN_BY_ROLE) & set(role_lines()))
    assert not stale, f"{stale} are written by the role now: remove them from NOT_WRITTEN_BY_ROLE"


def test_each_role_variable_of_the_env_file_has_a_default_or_a_plan_and_a_spec() -> None:
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    specs = yaml.safe_load((ROLE / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    for setting, var in role_lines().items():
        if setting in FIXED_IN_CONTAINER:
            continue
        assert var.startswith("engine_onnx_"), f"{setting} is fed by {var!r}, not by a role variable"
        assert var in specs, f"{var} (for {setting}) has no argument spec"
        assert var in defaults or "default from the preflight plan" in str(specs[var].get("description")), (
            f"{var} (for {setting}) has neither a default nor a plan value")
