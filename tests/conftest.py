"""Shared test setup: the test servers under tests/servers are importable as top-level modules."""

from __future__ import annotations

import sys
from pathlib import Path

SERVERS = Path(__file__).resolve().parent / "servers"
if str(SERVERS) not in sys.path:
    sys.path.insert(0, str(SERVERS))
