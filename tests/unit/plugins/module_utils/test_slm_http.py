"""Transport: error classification, retries with backoff + jitter, Retry-After, API key, TLS."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path
from typing import List

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_http import (
    HttpTransport,
    parse_retry_after,
    redact_url,
)
from openai_script_server import ScriptedOpenAIServer
from server_base import free_port
from seed_replies import CORRECT


class Sleeps:
    """A fake sleep that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: List[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def test_refused_is_its_own_error_kind() -> None:
    sleeps = Sleeps()
    t = HttpTransport("http://127.0.0.1:%d" % free_port(), retries=2, sleep=sleeps, rng=lambda: 0.0)
    res = t.request("GET", "/health")
    assert res.status is None and res.refused
    assert "connection refused" in res.error
    assert res.attempts == 3
    # equal jitter with rng=0: half the exponential cap, 0.25 then 0.5
    assert sleeps.waits == [0.25, 0.5]


def test_no_retry_when_disabled() -> None:
    t = HttpTransport("http://127.0.0.1:%d" % free_port(), retries=5, sleep=Sleeps())
    assert t.request("GET", "/health", retry=False).attempts == 1


def test_backoff_is_exponential_capped_and_jittered() -> None:
    t = HttpTransport("http://x", backoff_base=1.0, backoff_max=4.0, rng=lambda: 1.0)
    assert [t.backoff_delay(a) for a in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 4.0, 4.0]
    t = HttpTransport("http://x", backoff_base=1.0, backoff_max=4.0, rng=lambda: 0.0)
    assert [t.backoff_delay(a) for a in (1, 2, 3)] == [0.5, 1.0, 2.0]


def test_503_then_ready_honours_retry_after() -> None:
    with ScriptedOpenAIServer(CORRECT, fail_plan={"/v1/models": [503, 503]}, retry_after="7") as srv:
        sleeps = Sleeps()
        res = HttpTransport(srv.url, retries=3, sleep=sleeps).request("GET", "/v1/models")
    assert res.ok and res.attempts == 3
    assert sleeps.waits == [7.0, 7.0]
    assert res.retry_waits_s == [7.0, 7.0]


def test_retry_after_is_capped() -> None:
    with ScriptedOpenAIServer(CORRECT, fail_plan={"/v1/models": [503]}, retry_after="3600") as srv:
        sleeps = Sleeps()
        res = HttpTransport(srv.url, retry_after_max=30, sleep=sleeps).request("GET", "/v1/models")
    assert res.ok and sleeps.waits == [30.0]


def test_gives_up_after_retries_with_the_last_answer() -> None:
    with ScriptedOpenAIServer(CORRECT, fail_plan={"/v1/models": [502, 503, 504, 503]}) as srv:
        res = HttpTransport(srv.url, retries=2, sleep=Sleeps()).request("GET", "/v1/models")
    assert res.status == 504 and res.attempts == 3 and not res.ok
    assert "HTTP 504" in res.describe()


def test_client_errors_are_not_retried() -> None:
    with ScriptedOpenAIServer(CORRECT, fail_plan={"/v1/models": [500, 500]}) as srv:
        res = HttpTransport(srv.url, retries=3, sleep=Sleeps()).request("GET", "/v1/models")
    assert res.status == 500 and res.attempts == 1


def test_refused_then_ready() -> None:
    srv = ScriptedOpenAIServer(CORRECT, start_delay_s=0.6).start()
    try:
        t = HttpTransport(srv.url, retries=8, backoff_base=0.2, backoff_max=0.4)
        res = t.request("GET", "/health")
    finally:
        srv.stop()
    assert res.ok and res.attempts > 1


def test_api_key_is_sent_but_never_exposed() -> None:
    with ScriptedOpenAIServer(CORRECT, api_key="s3cret-key") as srv:
        t = HttpTransport(srv.url, api_key="s3cret-key")
        res = t.request("GET", "/v1/models")
        denied = HttpTransport(srv.url, api_key="wrong").request("GET", "/v1/models")
    assert res.ok
    assert srv.requests[0]["headers"]["authorization"] == "Bearer s3cret-key"
    assert denied.status == 401
    for text in (repr(t), repr(res), res.describe(), denied.describe()):
        assert "s3cret" not in text
    assert t.has_api_key


def test_timeout_is_classified_and_a_post_is_not_replayed() -> None:
    with ScriptedOpenAIServer([{"match": "", "reply": "x", "delay_s": 1}]) as srv:
        t = HttpTransport(srv.url, timeout=0.3, retries=3, sleep=Sleeps())
        res = t.request("POST", "/v1/chat/completions", {"model": srv.model, "messages": [
            {"role": "user", "content": "hi"}]})
    assert res.error_kind == "timeout" and res.attempts == 1
    assert len([r for r in srv.requests if r["method"] == "POST"]) == 1


@pytest.mark.parametrize("value,expected", [("5", 5.0), ("0", 0.0), ("garbage", None), (None, None)])
def test_parse_retry_after_seconds(value, expected) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", now=40.0) == pytest.approx(60.0)


def test_redact_url() -> None:
    assert redact_url("http://user:pw@host:8000/x") == "http://host:8000/x"
    assert redact_url("http://host:8000") == "http://host:8000"


# ------------------------------------------------------------------------------------------- TLS

@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("openssl binary not found: cannot make a self-signed certificate for the TLS tests")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    srv = ScriptedOpenAIServer(CORRECT).start()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    srv._httpd.socket = ctx.wrap_socket(srv._httpd.socket, server_side=True)
    srv.host = "127.0.0.1"
    yield "https://127.0.0.1:%d" % srv.port, Path(cert)
    srv.stop()


def test_tls_verification_fails_for_self_signed(tls_server) -> None:
    url, _ = tls_server
    res = HttpTransport(url, retries=0).request("GET", "/health")
    assert res.error_kind == "tls" and "certificate" in res.error.lower()


def test_tls_verification_can_be_disabled(tls_server) -> None:
    url, _ = tls_server
    assert HttpTransport(url, validate_certs=False).request("GET", "/health").ok


def test_tls_with_ca_file(tls_server) -> None:
    url, cert = tls_server
    assert HttpTransport(url, ca_path=str(cert)).request("GET", "/health").ok
