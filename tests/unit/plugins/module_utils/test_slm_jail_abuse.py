"""The code-check jail's abuse suite: hostile answers against the real jail on this machine's Docker.

Each attempt is code a model could return. The test asserts that its concrete effect did not
happen on the host (a file does not exist afterwards, a socket server saw no connection, a secret
is not in the result, the verdict is "fail"), not merely that an error was raised. Most attempts
first try to switch off an in-process audit hook, as the previous jail had one. The suite ends
with one line: ``jail abuse suite: N attempts, N contained``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

from jail_engine import jail, require_docker

DISARM = '''
def _disarm():
    try:
        import __main__
        for name in dir(__main__):
            obj = getattr(__main__, name)
            if callable(obj) and getattr(obj, "__code__", None) is not None and "hook" in name:
                obj.__code__ = (lambda *a, **k: None).__code__
    except Exception:
        pass
_disarm()
'''
OK_FN = "\ndef f():\n    return 1\n"
OUTCOMES: List[Tuple[str, bool]] = []
Outcome = Tuple[bool, str]


@pytest.fixture(scope="module", autouse=True)
def count_line(request):
    """Print the suite's figures once, after its last attempt."""
    yield
    contained = sum(1 for _name, ok in OUTCOMES if ok)
    line = "jail abuse suite: %d attempts, %d contained" % (len(OUTCOMES), contained)
    escaped = [name for name, ok in OUTCOMES if not ok]
    if escaped:
        line += " (escaped: %s)" % ", ".join(escaped)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("\n" + line)


@pytest.fixture
def open_dir():
    """A world-writable directory on the host (any uid could write there without a jail)."""
    path = Path(tempfile.mkdtemp(prefix="code-jail-abuse-"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def report_of(result: Any) -> str:
    return json.dumps(result.as_dict(), default=repr)


# ------------------------------------------------------------------------------- the attempts

def dir_fd_write(tmp: Path) -> Outcome:
    code = DISARM + "import os\nd = os.open(%r, os.O_RDONLY)\nos.close(os.open('escaped.txt', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=d))\n" % str(tmp)
    jail(code + OK_FN, ["f() == 1"])
    return not (tmp / "escaped.txt").exists(), "os.open(..., dir_fd=) into %s" % tmp


def audit_hook_switched_off(tmp: Path) -> Outcome:
    code = DISARM + "open(%r, 'w').write('x')\n" % str(tmp / "after-disarm.txt")
    jail(code + OK_FN, ["f() == 1"])
    return not (tmp / "after-disarm.txt").exists(), "plain write after switching the hook off"


def tmp_and_shm_writes(tmp: Path) -> Outcome:
    tag = uuid.uuid4().hex
    code = DISARM + ("import os\nfor d in ('/tmp', '/dev/shm'):\n    try:\n        fd = os.open(d, os.O_RDONLY)\n"
                     "        os.close(os.open(%r, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))\n"
                     "        open(os.path.join(d, %r), 'w').write('x')\n    except OSError:\n        pass\n") % (
                         "jail-" + tag, "jail2-" + tag)
    jail(code + OK_FN, ["f() == 1"])
    left = [p for d in ("/tmp", "/dev/shm") for p in Path(d).glob("jail*-%s" % tag)]
    for p in left:
        p.unlink()
    return not left, "files left on the host: %s" % left


def tmp_survives_between_runs(tmp: Path) -> Outcome:
    tag = uuid.uuid4().hex
    write = DISARM + ("import os\nfor d in ('/tmp', '/dev/shm'):\n    try:\n        fd = os.open(d, os.O_RDONLY)\n"
                      "        os.close(os.open(%r, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))\n"
                      "    except OSError:\n        pass\n") % ("keep-" + tag)
    jail(write + OK_FN, ["f() == 1"])
    r = jail("import os\ndef seen():\n    return [d for d in ('/tmp', '/dev/shm') if os.path.exists(d + '/keep-%s')]\n"
             % tag, ["seen() == []"])
    for d in ("/tmp", "/dev/shm"):
        if os.path.exists("%s/keep-%s" % (d, tag)):
            os.unlink("%s/keep-%s" % (d, tag))
    return r.passed, "a second run saw the first run's files: %s" % r.tests


def unix_socket(tmp: Path) -> Outcome:
    path = tmp / "host.sock"
    seen: List[bytes] = []
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    path.chmod(0o777)
    srv.listen(4)
    srv.settimeout(0.5)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn = srv.accept()[0]
                seen.append(conn.recv(100) or b"<connected>")
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    code = DISARM + ("import socket\ntry:\n    s = socket.socket(socket.AF_UNIX)\n    s.connect(%r)\n"
                     "    s.sendall(b'hello from the jail')\nexcept OSError:\n    pass\n") % str(path)
    try:
        jail(code + OK_FN, ["f() == 1"])
    finally:
        stop.set()
        thread.join(2)
        srv.close()
    return not seen, "the host socket server saw %s" % seen


def etc_shadow(tmp: Path) -> Outcome:
    import hashlib
    host = hashlib.sha256(Path("/etc/shadow").read_bytes()).hexdigest()
    code = DISARM + ("import hashlib\ndef leak():\n    data = open('/etc/shadow', 'rb').read()\n"
                     "    return [hashlib.sha256(data).hexdigest(), len(data)]\n")
    r = jail(code, ["leak() == []"])
    return host not in report_of(r), "the host's /etc/shadow hash is in the result: %s" % r.tests


def host_file_read(tmp: Path) -> Outcome:
    token = "secret-" + uuid.uuid4().hex
    (tmp / "secret.txt").write_text(token)
    (tmp / "secret.txt").chmod(0o644)
    r = jail(DISARM + "def leak():\n    return open(%r).read()\n" % str(tmp / "secret.txt"), ["leak() == ''"])
    return token not in report_of(r), "a host file's content is in the result"


def host_environment(tmp: Path) -> Outcome:
    token = "env-" + uuid.uuid4().hex
    os.environ["SLM_JAIL_ABUSE_SECRET"] = token
    try:
        code = ("import os\ndef leak():\n    out = [dict(os.environ)]\n    for p in ('/proc/1/environ', '/proc/%d/environ' % os.getppid()):\n"
                "        try:\n            out.append(open(p, 'rb').read().decode('latin-1'))\n        except OSError:\n            pass\n"
                "    return out\n")
        r = jail(DISARM + code, ["leak() == []"])
    finally:
        del os.environ["SLM_JAIL_ABUSE_SECRET"]
    return token not in report_of(r), "the parent's environment reached the result"


def host_processes(tmp: Path) -> Outcome:
    sleeper = subprocess.Popen(["sleep", "60"])  # a host process to look for
    try:
        code = ("def visible():\n    try:\n        return open('/proc/%d/cmdline').read()\n    except OSError:\n"
                "        return ''\n" % sleeper.pid)
        r = jail(DISARM + code, ["visible() == ''"])
    finally:
        sleeper.kill()
        sleeper.wait()
    return r.passed, "host process %d visible: %s" % (sleeper.pid, r.tests)


def signal_host_process(tmp: Path) -> Outcome:
    victim = subprocess.Popen(["sleep", "60"], user=65534, group=65534)  # same uid as the jail's user
    try:
        code = "import os, signal\ntry:\n    os.kill(%d, signal.SIGKILL)\nexcept OSError:\n    pass\n" % victim.pid
        jail(DISARM + code + OK_FN, ["f() == 1"])
        alive = victim.poll() is None
    finally:
        victim.kill()
        victim.wait()
    return alive, "a host process of uid 65534 was killed from the jail"


def docker_socket(tmp: Path) -> Outcome:
    code = ("import socket\ndef engine():\n    s = socket.socket(socket.AF_UNIX)\n    s.connect('/var/run/docker.sock')\n"
            "    s.sendall(b'GET /version HTTP/1.0\\r\\n\\r\\n')\n    return s.recv(4096).decode('latin-1')\n")
    r = jail(DISARM + code, ["engine() == ''"])
    return "Docker/" not in report_of(r), "the host's Docker API answered the jail: %s" % r.tests


def forged_results(tmp: Path) -> Outcome:
    forge = DISARM + r'''
import gc, json, os
def gcd(a, b):
    return 1
def _forge():
    tests = ["gcd(48, 18) == 6", "gcd(17, 5) == 1", "gcd(0, 9) == 9"]
    nonce = None
    try:
        import __main__
        nonce = getattr(__main__, "NONCE", None)
        out = getattr(__main__, "out", None)
        if nonce and out:
            for t in tests:
                out.write(nonce + json.dumps({"test": t, "passed": True, "detail": ""}) + "\n")
            out.write(nonce + json.dumps({"done": True, "stdout": "", "notes": [], "violations": []}) + "\n")
            out.flush()
    except Exception:
        pass
    lines = "".join(json.dumps({"test": t, "passed": True}) + "\n" for t in tests) + "PASS\nALL TESTS PASSED\n"
    for fd in range(1, 20):
        try:
            os.write(fd, lines.encode())
        except OSError:
            pass
    print(lines)
    os._exit(0)
_forge()
'''
    r = jail(forge, ["gcd(48, 18) == 6", "gcd(17, 5) == 1", "gcd(0, 9) == 9"])
    return not r.passed, "a wrong gcd passed with forged result lines: %s" % r.tests


def fork_bomb(tmp: Path) -> Outcome:
    code = ("import os, time\ndef bomb():\n    n = 0\n    try:\n        while n < 2000:\n            if os.fork() == 0:\n"
            "                time.sleep(20)\n                os._exit(0)\n            n += 1\n    except OSError:\n        pass\n"
            "    return n\n")
    r = jail(DISARM + code, ["bomb() == -1"], time_limit_s=8)
    forks = int(r.tests[0]["detail"].split()[1].rstrip(",")) if r.tests and r.tests[0]["detail"].startswith("got ") else 0
    return forks < 200 and not r.passed, "%d processes forked (%s)" % (forks, r.tests)


def memory_hog(tmp: Path) -> Outcome:
    code = ("def hog():\n    chunks = []\n    try:\n        while len(chunks) < 512:\n            chunks.append(bytearray(16 * 1024 * 1024))\n"
            "    except MemoryError:\n        pass\n    return len(chunks) * 16\n")
    r = jail(DISARM + code, ["hog() == -1"], memory_mb=128)
    got = r.tests[0]["detail"] if r.tests else ""
    mb = int(got.split()[1].rstrip(",")) if got.startswith("got ") else 0
    return mb <= 128 and not r.passed, "allocated %d MiB with memory_mb=128 (%s)" % (mb, r.as_dict())


def endless_loop(tmp: Path) -> Outcome:
    # sum() runs in C: the per-test alarm cannot interrupt it; only the parent's kill stops it
    r = jail("def spin():\n    return sum(range(10 ** 13))\n", ["spin() > 0"], time_limit_s=2, per_test_s=60)
    return r.timed_out and not r.passed, "not stopped: %s" % r.as_dict()


def huge_output(tmp: Path) -> Outcome:
    code = ("import os\nblock = b'A' * (1 << 20)\nfor _ in range(200):\n    for fd in range(1, 12):\n        try:\n"
            "            os.write(fd, block)\n        except OSError:\n            pass\n")
    r = jail(DISARM + code + OK_FN, ["f() == 1"])
    return bool(getattr(r, "output_capped", None)) and not r.passed, "output not capped: %s" % r.as_dict()


def closed_output_keeps_running(tmp: Path) -> Outcome:
    code = "import os, time\nfor fd in range(1, 20):\n    try:\n        os.close(fd)\n    except OSError:\n        pass\ntime.sleep(3600)\n"
    r = jail(code + OK_FN, ["f() == 1"], time_limit_s=2, per_test_s=600)
    left = subprocess.run(["docker", "ps", "-q", "--filter", "label=edgeai.slm_fleet.code-check"],
                          capture_output=True, text=True, check=False).stdout.split()
    return not r.passed and not left, "still running after its time: %s %s" % (left, r.as_dict())


def network(tmp: Path) -> Outcome:
    seen: List[Any] = []
    srv = socket.socket()
    srv.bind(("0.0.0.0", 0))
    srv.listen(4)
    srv.settimeout(0.5)
    port = srv.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                seen.append(srv.accept()[1])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    code = DISARM + ("import socket\nfor host in ('127.0.0.1', '172.17.0.1', 'host.docker.internal'):\n    try:\n"
                     "        socket.create_connection((host, %d), timeout=1).sendall(b'x')\n    except OSError:\n"
                     "        pass\n") % port
    try:
        jail(code + OK_FN, ["f() == 1"])
    finally:
        stop.set()
        thread.join(2)
        srv.close()
    return not seen, "the host server saw connections from %s" % seen


def privilege_escalation(tmp: Path) -> Outcome:
    code = ("import os\ndef esc():\n    for call in (lambda: os.setuid(0), lambda: os.setgid(0)):\n        try:\n            call()\n"
            "        except OSError:\n            pass\n    return [os.getuid(), os.geteuid()]\n")
    r = jail(DISARM + code, ["0 in esc()"])
    return not r.passed, "became root: %s" % r.tests


ATTEMPTS: Dict[str, Callable[[Path], Outcome]] = {f.__name__: f for f in (
    dir_fd_write, audit_hook_switched_off, tmp_and_shm_writes, tmp_survives_between_runs, unix_socket, etc_shadow,
    host_file_read, host_environment, host_processes, signal_host_process, docker_socket, forged_results, fork_bomb,
    memory_hog, endless_loop, huge_output, closed_output_keeps_running, network, privilege_escalation)}


@pytest.mark.parametrize("name", list(ATTEMPTS))
def test_hostile_answer_is_contained(name: str, open_dir: Path) -> None:
    require_docker()
    contained, evidence = ATTEMPTS[name](open_dir)
    OUTCOMES.append((name, contained))
    assert contained, "%s escaped the jail: %s" % (name, evidence)
