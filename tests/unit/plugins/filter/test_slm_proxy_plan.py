"""slm_proxy_plan: the front proxy's published address and the blue/green port of the next release."""

from __future__ import annotations

import pytest
from ansible_collections.edgeai.slm_fleet.plugins.filter.slm_proxy_plan import (
    host_ip,
    parse_env,
    slm_proxy_plan,
)

DOTENV = "SLM_BIND_ADDRESS=127.0.0.1\nSLM_PUBLISHED_PORT=8000\n"
CANDIDATE = "SLM_BIND_ADDRESS=127.0.0.1\nSLM_PUBLISHED_PORT=9000\n"


@pytest.mark.parametrize("serving, port", [(0, 9000), ("", 9000), (None, 9000), (9000, 9001), (9001, 9000),
                                           ("9000", 9001), (1234, 9000), ("junk", 9000)])
def test_the_next_release_takes_the_port_the_serving_one_does_not_use(serving, port) -> None:
    plan = slm_proxy_plan(DOTENV, CANDIDATE, serving, "slm-onnx")
    assert plan["error"] == ""
    assert plan["port"] == port
    assert plan["slots"] == [9000, 9001]
    assert plan["project"] == f"slm-onnx-{port}"
    assert parse_env(plan["env"]) == {"SLM_BIND_ADDRESS": "127.0.0.1", "SLM_PUBLISHED_PORT": str(port)}


def test_alternating_twice_comes_back_to_the_first_port() -> None:
    first = slm_proxy_plan(DOTENV, CANDIDATE, 0, "p")["port"]
    second = slm_proxy_plan(DOTENV, CANDIDATE, first, "p")["port"]
    third = slm_proxy_plan(DOTENV, CANDIDATE, second, "p")["port"]
    assert (first, second, third) == (9000, 9001, 9000)


def test_release_ports_stay_on_loopback_whatever_the_engine_publishes_on() -> None:
    plan = slm_proxy_plan("SLM_BIND_ADDRESS=0.0.0.0\nSLM_PUBLISHED_PORT=8000\n",
                          "SLM_BIND_ADDRESS=10.0.0.5\nSLM_PUBLISHED_PORT=9000\n", 0, "p")
    assert plan["bind_address"] == "0.0.0.0" and plan["published_port"] == 8000
    assert parse_env(plan["env"])["SLM_BIND_ADDRESS"] == "127.0.0.1"


def test_the_serving_settings_are_kept() -> None:
    # Ollama's .env carries the network alias Open WebUI reaches it by: the release behind the proxy keeps it.
    plan = slm_proxy_plan("SLM_BIND_ADDRESS=127.0.0.1\nSLM_PUBLISHED_PORT=11434\nSLM_NETWORK_ALIAS=ollama\n",
                          "SLM_BIND_ADDRESS=127.0.0.1\nSLM_PUBLISHED_PORT=12434\nSLM_NETWORK_ALIAS=ollama-candidate\n",
                          12434, "slm-ollama")
    assert plan["bind_address"] == "127.0.0.1" and plan["published_port"] == 11434
    assert parse_env(plan["env"]) == {"SLM_BIND_ADDRESS": "127.0.0.1", "SLM_PUBLISHED_PORT": "12435",
                                      "SLM_NETWORK_ALIAS": "ollama"}


@pytest.mark.parametrize("address, ip", [("127.0.0.1", "127.0.0.1"), ("::1", "::1"), ("[::1]", "::1"), ("::", "::"),
                                         ("", "0.0.0.0"), (" 10.0.0.5 ", "10.0.0.5"), ("[fd00::5]", "fd00::5")])
def test_host_ips(address, ip) -> None:
    assert host_ip(address) == ip


@pytest.mark.parametrize("dotenv, candidate, fragment", [
    (DOTENV, "SLM_BIND_ADDRESS=127.0.0.1\nSLM_PUBLISHED_PORT=8000\n", "published port 8000 is one of"),
    (DOTENV, "SLM_BIND_ADDRESS=127.0.0.1\nSLM_PUBLISHED_PORT=7999\n", "published port 8000 is one of"),
    (DOTENV, "SLM_PUBLISHED_PORT=65535\n", "beyond 65535"),
    (DOTENV, "SLM_PUBLISHED_PORT=abc\n", "candidate.env gives SLM_PUBLISHED_PORT='abc'"),
    ("SLM_BIND_ADDRESS=127.0.0.1\n", CANDIDATE, ".env gives SLM_PUBLISHED_PORT=''"),
    ("SLM_PUBLISHED_PORT=0\n", CANDIDATE, "want 1-65535"),
])
def test_impossible_plans_are_explained_not_raised(dotenv, candidate, fragment) -> None:
    plan = slm_proxy_plan(dotenv, candidate, 0, "p")
    assert fragment in plan["error"]
    assert plan["port"] == 0


def test_env_parsing_skips_comments_and_blank_lines() -> None:
    assert parse_env("# c\n\nA=1\n B = 2 \nnoequals\n") == {"A": "1", "B": "2"}
