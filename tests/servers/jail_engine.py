"""The Docker engine of this machine, as the code-check jail's tests use it.

The jail's tests run real containers (image ``slm-fleet/debian:bookworm``, built by
``make images``; override with SLM_JAIL_TEST_IMAGE). Without a usable engine they skip, saying
why — unless SLM_REQUIRE_DOCKER=1 (``make test``), where they fail instead.
"""

from __future__ import annotations

import functools
import os
import subprocess

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_jail import DEFAULT_SOCKET, run_python

IMAGE = os.environ.get("SLM_JAIL_TEST_IMAGE", "slm-fleet/debian:bookworm")
jail = functools.partial(run_python, image=IMAGE)


@functools.lru_cache(maxsize=1)
def _problem() -> str:
    if not os.path.exists(DEFAULT_SOCKET):
        return "no Docker engine (%s does not exist)" % DEFAULT_SOCKET
    probe = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return "image %s is not present (make images): %s" % (IMAGE, probe.stderr.strip()[:200])
    return ""


def require_docker() -> None:
    """Skip (or fail, under SLM_REQUIRE_DOCKER=1) when the jail cannot run here."""
    problem = _problem()
    if problem:
        if os.environ.get("SLM_REQUIRE_DOCKER") == "1":
            pytest.fail("the code-check jail tests need Docker (SLM_REQUIRE_DOCKER=1): %s" % problem)
        pytest.skip("code-check jail tests need Docker: %s" % problem)
