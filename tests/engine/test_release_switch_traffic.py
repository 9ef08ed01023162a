"""A client sending requests through a release switch: none fails behind the front proxy (plan `beside`);
the gap is measured and printed when the release must replace the serving one (plan `replace`).

Real pieces only: the slm-engine image serving the tiny model (two releases that differ in their engine
settings), the front proxy image (images/slm-proxy), the role slm_release driven by ansible-playbook on
this machine's Docker engine, and client threads with keep-alive connections sending non-streaming and
streaming (SSE) chat completions without pause. Docker objects are named no-drop-switch-<random> and
removed afterwards. Skipped without Docker or without the images (`make images`, engine/build-image.sh);
under `make test` (SLM_REQUIRE_DOCKER=1) that fails instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from conftest import API_KEY, MODEL_ID, free_port, needs_docker
from slm_engine import __version__

REPO = Path(__file__).resolve().parents[2]
ENGINE_IMAGE = f"slm-fleet/slm-engine:{__version__}"
PROXY_IMAGE = "slm-fleet/slm-proxy:0.1.0"
OLLAMA_IMAGE = "slm-fleet/ollama-api-emulator:0.1.0"  # the Ollama API emulator (tests only), not Ollama
PLAYBOOK = REPO / "tests/engine/playbooks/slm_release_switch.yml"

pytestmark = pytest.mark.slow

COMPOSE = """services:
  engine:
    image: {image}
    user: "10001:10001"
    read_only: true
    tmpfs: [/tmp]
    cap_drop: [ALL]
    security_opt: ["no-new-privileges:true"]
    env_file: engine.env
    secrets: [api_key]
    volumes:
      - {{type: bind, source: {model}, target: /model, read_only: true}}
    ports:
      - "${{SLM_BIND_ADDRESS}}:${{SLM_PUBLISHED_PORT}}:8000"
    healthcheck:
      test: ["CMD", "slm-engine", "healthcheck"]
      interval: 1s
      timeout: 3s
      retries: 3
      start_period: 60s
secrets:
  api_key:
    file: {key}
"""


# Ollama's API served by the emulator image: a release differs by a setting only, like a new Ollama tag would.
OLLAMA_COMPOSE = """services:
  engine:
    image: {image}
    read_only: true
    cap_drop: [ALL]
    environment: {{OLLAMA_KEEP_ALIVE: "{keep_alive}", OLLAMA_EMULATOR_MODELS: "phi4-mini:3.8b"}}
    ports:
      - "${{SLM_BIND_ADDRESS}}:${{SLM_PUBLISHED_PORT}}:11434"
    healthcheck:
      test: ["CMD", "ollama", "list"]
      interval: 1s
      timeout: 3s
      retries: 3
"""


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False, timeout=300)


@dataclass
class Site:
    """An engine root on this machine with two releases, A and B, and the ports they use."""

    root: Path
    project: str
    port: int
    candidate_port: int
    key_file: Path

    def write_release(self, name: str, model: Path, max_tokens: int, model_id: str = MODEL_ID) -> None:
        rel = self.root / "releases" / name
        rel.mkdir(parents=True)
        (rel / "compose.yaml").write_text(COMPOSE.format(image=ENGINE_IMAGE, model=model, key=self.key_file))
        (rel / "engine.env").write_text(
            f"SLM_MODEL_DIR=/model\nSLM_MODEL_ID={model_id}\nSLM_THREADS=1\nSLM_API_KEY_FILE=/run/secrets/api_key\n"
            f"SLM_DEFAULT_MAX_TOKENS={max_tokens}\n")
        (rel / ".env").write_text(f"SLM_BIND_ADDRESS=127.0.0.1\nSLM_PUBLISHED_PORT={self.port}\n")
        (rel / "candidate.env").write_text(f"SLM_BIND_ADDRESS=127.0.0.1\nSLM_PUBLISHED_PORT={self.candidate_port}\n")
        # The engine record the release was published with, as slm_release's keep_record keeps it:
        # switch_back reads what to check (URL, API, model, key file) from it.
        (rel / "endpoint.fact").write_text(json.dumps({
            "schema": 1, "engine": "onnx", "label": "slm-engine (test)", "release": name, "previous_release": "",
            "url": f"http://127.0.0.1:{self.port}", "api": "openai", "model": model_id,
            "api_key_file": str(self.key_file), "metrics_url": "", "image": ENGINE_IMAGE}))

    def write_ollama_release(self, name: str, keep_alive: str) -> None:
        rel = self.root / "releases" / name
        rel.mkdir(parents=True)
        (rel / "compose.yaml").write_text(OLLAMA_COMPOSE.format(image=OLLAMA_IMAGE, keep_alive=keep_alive))
        (rel / ".env").write_text(f"SLM_BIND_ADDRESS=127.0.0.1\nSLM_PUBLISHED_PORT={self.port}\n")
        (rel / "candidate.env").write_text(f"SLM_BIND_ADDRESS=127.0.0.1\nSLM_PUBLISHED_PORT={self.candidate_port}\n")

    def switch(self, release: str, beside: bool, entry: str = "switch", refused: str = "",
               **more: object) -> dict[str, object]:
        result = self.root / f"result-{uuid.uuid4().hex[:6]}.json"
        extra = {"switch_entry": entry, "root": str(self.root), "release": release, "project": self.project,
                 "engine_port": self.port, "candidate_port": self.candidate_port, "key_file": str(self.key_file),
                 "beside": beside, "result_file": str(result), **more}
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_LOCALHOST_WARNING="false")
        proc = subprocess.run(["ansible-playbook", str(PLAYBOOK), "-e", json.dumps(extra)], cwd=REPO, env=env,
                              capture_output=True, text=True, check=False, timeout=600)
        if refused:
            assert proc.returncode != 0 and refused in proc.stdout, proc.stdout[-4000:]
            return {}
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        report = json.loads(result.read_text())
        report["changed"] = int(proc.stdout.rsplit("changed=", 1)[1].split()[0])
        return report

    def containers(self) -> list[str]:
        out = docker("ps", "-a", "--format", "{{.Names}}", "--filter", f"name={self.project}").stdout
        return sorted(out.split())

    def remove(self) -> None:
        """Remove every container and network of this test (all named after its project)."""
        names = self.containers()
        if names:
            docker("rm", "-f", "-v", *names)
        for net in docker("network", "ls", "-q", "--filter", f"name={self.project}").stdout.split():
            docker("network", "rm", net)


@pytest.fixture()
def site(tiny_model: Path, tmp_path: Path) -> Iterator[Site]:
    for image in (ENGINE_IMAGE, PROXY_IMAGE):
        if docker("image", "inspect", image).returncode != 0:
            needs_docker(f"image {image} not built (make images; engine/build-image.sh)")
    if docker("compose", "version").returncode != 0:
        needs_docker("no Docker Compose v2")
    key = tmp_path / "api_key"
    key.write_text(API_KEY)
    key.chmod(0o444)
    tmp_path.chmod(0o755)
    candidate = free_port(consecutive=2)  # blue and green: candidate and candidate + 1
    s = Site(tmp_path / "engine", f"no-drop-switch-{uuid.uuid4().hex[:8]}", free_port(), candidate, key)
    s.write_release("aaaaaaaaaaaa", tiny_model, 24)
    s.write_release("bbbbbbbbbbbb", tiny_model, 32)
    s.write_release("cccccccccccc", tiny_model, 32, model_id="not-the-model")
    yield s
    s.remove()


@dataclass
class Traffic:
    """Client threads sending chat completions without pause, counting what succeeded and what failed."""

    url: str
    ok: int = 0
    streams: int = 0
    failures: list[str] = field(default_factory=list)
    failed_at: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _record(self, error: str | None, stream: bool) -> None:
        with self.lock:
            if error is None:
                self.ok += 1
                self.streams += int(stream)
            else:
                self.failures.append(error)
                self.failed_at.append(time.monotonic())

    ollama: bool = False

    def _request(self, client: httpx.Client, stream: bool) -> None:
        messages = [{"role": "user", "content": "Count to ten."}]
        if self.ollama:  # Ollama's own API: NDJSON stream from /api/chat, one JSON answer from /api/generate
            if stream:
                with client.stream("POST", "/api/chat", json={"model": "phi4-mini:3.8b", "messages": messages}) as resp:
                    resp.raise_for_status()
                    done = any(json.loads(line).get("done") for line in resp.iter_lines() if line.strip())
                self._record(None if done else "stream ended before done", True)
            else:
                resp = client.post("/api/generate", json={"model": "phi4-mini:3.8b", "prompt": "Hi", "stream": False})
                resp.raise_for_status()
                resp.json()["response"]
                self._record(None, False)
            return
        body = {"model": MODEL_ID, "messages": messages, "max_tokens": 48, "stream": stream}
        if stream:  # server-sent events
            done = False
            with client.stream("POST", "/v1/chat/completions", json=body) as resp:
                resp.raise_for_status()
                for line in resp.iter_lines():
                    done = done or line.strip() == "data: [DONE]"
            self._record(None if done else "stream ended before [DONE]", True)
        else:
            resp = client.post("/v1/chat/completions", json=body)
            resp.raise_for_status()
            resp.json()["choices"][0]["message"]
            self._record(None, False)

    def _run(self, stream: bool) -> None:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=60) as client:  # keep-alive connections
            while not self.stop.is_set():
                try:
                    self._request(client, stream)
                except (httpx.HTTPError, KeyError, ValueError) as exc:
                    self._record(f"{type(exc).__name__}: {exc}", stream)
                    time.sleep(0.05)

    def __enter__(self) -> Traffic:  # noqa: PYI034 (a context manager for this class only)
        self.threads = [threading.Thread(target=self._run, args=(stream,), daemon=True)
                        for stream in (False, True, False, True)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def gap_s(self) -> float:
        return (self.failed_at[-1] - self.failed_at[0]) if self.failed_at else 0.0


def test_no_request_fails_through_a_switch_behind_the_front_proxy(site: Site) -> None:
    first = site.switch("aaaaaaaaaaaa", beside=True)
    assert first["serving_before"] == ""
    url = f"http://127.0.0.1:{site.port}"
    assert httpx.get(url + "/health", timeout=5).status_code == 200
    # The key is checked by the engine behind the proxy, and is in neither the proxy's config nor its container.
    assert httpx.get(url + "/v1/models", timeout=5).status_code == 401
    # The proxy publishes the engine's port like the engine did, so the engine roles' port check sees it as theirs.
    owner = docker("ps", "--filter", f"publish={site.port}", "--format", '{{.Label "com.docker.compose.project"}}')
    assert owner.stdout.split() == [f"{site.project}-proxy"]
    conf = (site.root / "proxy/conf/front.conf").read_text() + (site.root / "proxy/conf/switch.conf").read_text()
    assert API_KEY not in conf and API_KEY not in docker("inspect", f"{site.project}-proxy", f"{site.project}-proxy-switch").stdout

    with Traffic(url) as traffic:
        time.sleep(2)
        before = traffic.ok
        to_b = site.switch("bbbbbbbbbbbb", beside=True)
        # switch_back takes its release from the `previous` link, not from the release it is given (the serving one).
        back = site.switch("bbbbbbbbbbbb", beside=True, entry="switch_back")
        # A release that serves the wrong model is refused on its loopback port; clients never see it.
        site.switch("cccccccccccc", beside=True, refused="was not healthy beside the serving release aaaaaaaaaaaa")
        time.sleep(2)
    print(f"\nbeside: {traffic.ok} requests answered ({traffic.streams} streamed) through two switches and a refused one, "
          f"{len(traffic.failures)} failed")
    assert traffic.failures == []
    assert before > 0 and traffic.ok > before
    assert traffic.streams > 0
    assert to_b["serving_before"] == "aaaaaaaaaaaa" and to_b["downtime_s"] == 0.0
    assert back["serving_before"] == "bbbbbbbbbbbb"
    assert os.readlink(site.root / "current") == "releases/aaaaaaaaaaaa"
    assert os.readlink(site.root / "previous") == "releases/bbbbbbbbbbbb"
    serving = json.loads((site.root / "proxy/serving.json").read_text())
    assert serving["release"] == "aaaaaaaaaaaa" and serving["port"] == site.candidate_port
    # Only the proxy and the serving release run: the old release stopped after draining.
    assert site.containers() == sorted([f"{site.project}-proxy", f"{site.project}-proxy-switch", f"{serving['project']}-engine-1"])
    # Idempotent: the serving release again changes nothing.
    again = site.switch("aaaaaaaaaaaa", beside=True)
    assert again["changed"] == 0 and again["downtime_s"] is None


def test_switches_in_one_play_read_what_serves_now(site: Site) -> None:
    """Two switches and a refused release in ONE play (a rollout deploys and switches back in one run): each
    reads the proxy's serving record afresh. A stale record once made the serving port the "idle" one, and
    the refused release then replaced the serving release (clients got 502)."""
    site.switch("aaaaaaaaaaaa", beside=True)
    url = f"http://127.0.0.1:{site.port}"
    with Traffic(url) as traffic:
        time.sleep(1)
        site.switch("", beside=True, releases=["bbbbbbbbbbbb", "aaaaaaaaaaaa", "cccccccccccc"],
                    refused="was not healthy beside the serving release aaaaaaaaaaaa")
        time.sleep(1)
    print(f"\none play: {traffic.ok} requests answered through two switches and a refused one, "
          f"{len(traffic.failures)} failed")
    assert traffic.failures == []
    assert os.readlink(site.root / "current") == "releases/aaaaaaaaaaaa"
    serving = json.loads((site.root / "proxy/serving.json").read_text())
    assert serving["release"] == "aaaaaaaaaaaa"
    assert httpx.get(url + "/health", timeout=5).status_code == 200
    assert site.containers() == sorted([f"{site.project}-proxy", f"{site.project}-proxy-switch", f"{serving['project']}-engine-1"])


def test_replacing_a_release_measures_and_prints_the_gap(site: Site) -> None:
    site.switch("aaaaaaaaaaaa", beside=False)
    # Nothing to switch back to yet: refused with the reason, the serving release untouched.
    site.switch("aaaaaaaaaaaa", beside=False, entry="switch_back", refused="no previous release on this host")
    assert os.readlink(site.root / "current") == "releases/aaaaaaaaaaaa"
    url = f"http://127.0.0.1:{site.port}"
    with Traffic(url) as traffic:
        time.sleep(2)
        result = site.switch("bbbbbbbbbbbb", beside=False)
        time.sleep(2)
    print(f"\nreplace: downtime measured by the role {result['downtime_s']} s; the client saw "
          f"{len(traffic.failures)} failed requests over {traffic.gap_s():.1f} s, {traffic.ok} answered")
    assert result["serving_before"] == "aaaaaaaaaaaa"
    assert isinstance(result["downtime_s"], float) and result["downtime_s"] > 0
    # The role's measure spans at least the gap the client saw.
    assert result["downtime_s"] + 0.5 >= traffic.gap_s()
    assert traffic.ok > 0


def test_ollama_api_streams_through_a_switch_behind_the_front_proxy(tmp_path: Path) -> None:
    """Ollama's API (the emulator image): /api/chat NDJSON streams and /api/generate through a switch, none fails."""
    for image in (OLLAMA_IMAGE, PROXY_IMAGE):
        if docker("image", "inspect", image).returncode != 0:
            needs_docker(f"image {image} not built (make images)")
    candidate = free_port()
    s = Site(tmp_path / "ollama", f"no-drop-switch-{uuid.uuid4().hex[:8]}", free_port(), candidate, tmp_path / "none")
    s.write_ollama_release("111111111111", "5m")
    s.write_ollama_release("222222222222", "10m")
    ollama = {"api": "ollama", "model": "", "key_file": ""}
    try:
        s.switch("111111111111", beside=True, **ollama)
        with Traffic(f"http://127.0.0.1:{s.port}", ollama=True) as traffic:
            time.sleep(1)
            before = traffic.ok
            result = s.switch("222222222222", beside=True, **ollama)
            time.sleep(1)
        print(f"\nollama beside: {traffic.ok} requests answered ({traffic.streams} streamed), {len(traffic.failures)} failed")
        assert traffic.failures == []
        assert before > 0 and traffic.ok > before and traffic.streams > 0
        assert result["serving_before"] == "111111111111" and result["downtime_s"] == 0.0
    finally:
        s.remove()
