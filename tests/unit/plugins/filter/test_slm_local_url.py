"""slm_local_url: the URL a client on the host uses for a service bound to an address."""

from __future__ import annotations

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.filter.slm_local_url import slm_is_loopback, slm_local_url


@pytest.mark.parametrize("bind, port, url", [
    ("127.0.0.1", 8000, "http://127.0.0.1:8000"),
    ("0.0.0.0", 8000, "http://127.0.0.1:8000"),
    ("", "11434", "http://127.0.0.1:11434"),
    ("::", 8000, "http://[::1]:8000"),
    ("10.0.0.5", 8000, "http://10.0.0.5:8000"),  # a specific bind answers only there, not on loopback
    ("fd00::5", 8000, "http://[fd00::5]:8000"),
    ("[::1]", 8000, "http://[::1]:8000"),
])
def test_urls(bind, port, url) -> None:
    assert slm_local_url(bind, port) == url


def test_scheme() -> None:
    assert slm_local_url("127.0.0.1", 8443, "https") == "https://127.0.0.1:8443"


@pytest.mark.parametrize("bind, loopback", [
    ("127.0.0.1", True), ("127.10.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("LOCALHOST", True), ("0.0.0.0", False), ("::", False), ("", False), ("10.0.0.5", False),
    ("1270.0.0.1", False), ("fd00::1", False), ("localhost.example", False),
])
def test_loopback_rule(bind, loopback) -> None:
    assert slm_is_loopback(bind) is loopback
