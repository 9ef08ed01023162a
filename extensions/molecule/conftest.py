"""Fixtures the scenarios' testinfra verifiers share (pytest loads this file for every scenario's tests).

An engine's serving release runs as compose project PROJECT when it publishes its port itself, and as
PROJECT-<port> behind the front proxy (slm_release, a plan with memory for two releases), which
ROOT/proxy/serving.json names. The verifiers find it here, whichever way the host switches."""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest


@pytest.fixture(scope="module")
def inspect_container(host) -> Callable[..., dict[str, Any]]:
    """``inspect_container(*filters)``: `docker inspect` of the one running container matching `docker ps` filters."""
    def inspect(*filters: str) -> dict[str, Any]:
        with host.sudo():
            name = host.check_output("docker ps -q " + " ".join(f"--filter {f}" for f in filters))
            assert name and len(name.split()) == 1, f"want one container for {filters}, found {name!r}"
            return json.loads(host.check_output(f"docker inspect {name}"))[0]
    return inspect


@pytest.fixture(scope="module")
def serving_container(request, host, inspect_container) -> dict[str, Any]:
    """`docker inspect` of the serving release's container of the engine the test module names (ROOT, PROJECT)."""
    root, project = request.module.ROOT, request.module.PROJECT
    with host.sudo():
        record = host.file(f"{root}/proxy/serving.json")
        if record.exists:
            project = json.loads(record.content_string)["project"]
    return inspect_container(f"label=com.docker.compose.project={project}")


@pytest.fixture(scope="module")
def published_bindings(request, inspect_container) -> list[tuple[str, str]]:
    """(address, port) bindings of whichever container publishes the engine's PORT: the release or its proxy."""
    front = inspect_container(f"publish={request.module.PORT}")
    return [(b["HostIp"], b["HostPort"]) for binds in front["HostConfig"]["PortBindings"].values() for b in binds]
