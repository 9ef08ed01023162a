"""The engine's pinned dependency files agree with each other and with the package metadata."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def pins(path: Path) -> dict[str, str]:
    """{normalized name: version} of the `name==version` lines of a requirements file."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)$", line.strip())
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def test_every_engine_requirement_is_pinned() -> None:
    lines = [line.strip() for line in (REPO / "requirements-engine.txt").read_text().splitlines()]
    entries = [line for line in lines if line and not line.startswith("#")]
    assert all("==" in e or e == "-e ./engine" for e in entries), entries
    assert pins(REPO / "requirements-engine.txt")["torch"] == "2.13.0"  # the CPU wheel, see header


def test_engine_pins_do_not_conflict_with_the_toolchain() -> None:
    base, engine = pins(REPO / "requirements.txt"), pins(REPO / "requirements-engine.txt")
    both = base.keys() & engine.keys()
    assert {n: (base[n], engine[n]) for n in both if base[n] != engine[n]} == {}


def test_image_pins_match_the_development_pins() -> None:
    known = {**pins(REPO / "requirements.txt"), **pins(REPO / "requirements-engine.txt")}
    serve = pins(REPO / "engine" / "requirements-serve.txt")
    assert {"onnxruntime-genai", "fastapi", "uvicorn", "numpy", "pydantic"} <= serve.keys()
    assert {n: (v, known.get(n)) for n, v in serve.items() if known.get(n) != v} == {}


def test_build_backend_is_pinned_like_the_rest() -> None:
    project = tomllib.loads((REPO / "engine" / "pyproject.toml").read_text())
    (backend,) = project["build-system"]["requires"]
    name, version = backend.split("==")
    assert pins(REPO / "requirements-engine.txt")[name] == version
