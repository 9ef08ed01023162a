"""Shared helpers for the unit tests: fixture files and fake host roots."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "hardware"


def fixture_text(name: str) -> str:
    """Text of ``tests/unit/fixtures/hardware/<name>`` (NUL bytes kept)."""
    return (FIXTURES / name).read_bytes().decode("utf-8")


@pytest.fixture
def fixture() -> Callable[[str], str]:
    """The ``fixture_text`` helper as a pytest fixture."""
    return fixture_text


@pytest.fixture
def make_root(tmp_path: Path) -> Callable[..., Path]:
    """Build a fake host root: ``make_root({"/proc/cpuinfo": "cpuinfo/rpi4_aarch64.txt", ...})``.

    Values naming a fixture file are copied from it; other strings are written as they are;
    ``None`` creates an empty marker file (``/.dockerenv``).
    """

    def build(files: dict[str, str | None]) -> Path:
        root = tmp_path / "root"
        root.mkdir(exist_ok=True)
        for host_path, source in files.items():
            target = root / host_path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            if source is None:
                target.write_bytes(b"")
            elif (FIXTURES / source).is_file():
                target.write_bytes((FIXTURES / source).read_bytes())
            else:
                target.write_text(source)
        os.makedirs(root / "var" / "lib", exist_ok=True)
        return root

    return build
