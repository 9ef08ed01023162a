# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A throwaway container on the host's own Docker engine, driven through its UNIX-socket API.

Stdlib only (``http.client`` and a raw socket for the attach stream): no Docker CLI or SDK needed.
The container (:func:`container_spec`) has no network, a read-only root, user 65534, no
capabilities, ``no-new-privileges``, pids/memory/CPU limits, a small private ``/tmp`` and
``/dev/shm``, no mounts, no logging, and is removed by the engine when it exits. Its only input
is stdin; the parent reads its stdout and stderr up to fixed caps and kills it at the deadline.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import struct
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

LABEL = "edgeai.slm_fleet.code-check"
SHM_MB = 8


class NotRun(Exception):
    """The jail cannot be used on this host; the message says why and what to do."""


@dataclass
class RawRun:
    """What came back from one jailed process."""

    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: Optional[int] = None
    timed_out: bool = False
    capped: Optional[str] = None  # which stream hit its cap
    warnings: List[str] = field(default_factory=list)


class Collector:
    """Stdout and stderr of the jail, each kept up to its cap (what overflows is never stored)."""

    def __init__(self, caps: Dict[int, int]) -> None:
        self.caps, self.data = caps, {1: bytearray(), 2: bytearray()}
        self.capped: Optional[str] = None

    def add(self, stream: int, chunk: bytes) -> bool:
        """Keep ``chunk``; False once a stream went over its cap (then the jail must be stopped)."""
        buf = self.data[stream]
        room = self.caps[stream] - len(buf)
        buf += chunk[:max(room, 0)]
        if len(chunk) > room:
            self.capped = "stdout" if stream == 1 else "stderr"
            return False
        return True


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def _connect_error(path: str, exc: OSError) -> NotRun:
    why = {FileNotFoundError: "%s does not exist" % path,
           PermissionError: "permission denied on %s (run slm_probe as root, e.g. with become)" % path,
           ConnectionRefusedError: "%s refuses connections (is dockerd running?)" % path}
    return NotRun("no isolation available: mode container needs Docker on the host: %s" % why.get(
        type(exc), "%s: %s" % (path, exc)))


def _call(path: str, method: str, url: str, body: Any = None, timeout: float = 30) -> Tuple[int, Any]:
    conn = _UnixHTTP(path, timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, url, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
    except OSError as exc:
        raise _connect_error(path, exc) from exc
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw) if raw else None
    except ValueError:
        return resp.status, {"message": raw.decode("utf-8", "replace")[:300]}


def _quietly(path: str, method: str, url: str) -> None:
    """Best effort (kill, remove): the engine may have removed the container already."""
    try:
        _call(path, method, url)
    except NotRun:
        pass


def container_spec(image: str, argv: List[str], memory_mb: int, pids: int = 64, cpus: float = 1.0,
                   tmp_mb: int = 16) -> Dict[str, Any]:
    """The ``POST /containers/create`` body: every isolation setting of the jail is here."""
    # the code's own limit is memory_mb (RLIMIT_AS, set by the harness); the cgroup adds /tmp and /dev/shm
    mem = (int(memory_mb) + tmp_mb + SHM_MB) * 1024 * 1024
    return {
        "Image": image, "Entrypoint": argv, "Cmd": None, "User": "65534:65534", "WorkingDir": "/tmp",
        "Env": ["HOME=/tmp", "TMPDIR=/tmp", "LANG=C.UTF-8"], "Labels": {LABEL: "1"},
        "AttachStdin": True, "AttachStdout": True, "AttachStderr": True, "OpenStdin": True, "StdinOnce": True,
        "Tty": False, "NetworkDisabled": True,
        "HostConfig": {
            "NetworkMode": "none", "ReadonlyRootfs": True, "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"], "Privileged": False, "PidsLimit": pids,
            "Memory": mem, "MemorySwap": mem, "NanoCpus": int(cpus * 1e9), "OomScoreAdj": 1000,
            "Tmpfs": {"/tmp": "rw,nosuid,nodev,noexec,size=%dm,mode=1777" % tmp_mb},
            "IpcMode": "private", "ShmSize": SHM_MB * 1024 * 1024, "Binds": [], "Mounts": [],
            "AutoRemove": True, "LogConfig": {"Type": "none", "Config": {}},
            "Ulimits": [{"Name": "nofile", "Soft": 256, "Hard": 256}, {"Name": "core", "Soft": 0, "Hard": 0}],
        },
    }


def _attach(path: str, cid: str) -> Tuple[socket.socket, bytes]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(path)
    sock.sendall(("POST /containers/%s/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: localhost\r\n"
                  "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n" % cid).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise NotRun("the Docker engine closed the attach connection")
        head += chunk
    status, rest = head.split(b"\r\n\r\n", 1)
    if status.split(b" ")[1] not in (b"101", b"200"):
        raise NotRun("the Docker engine refused to attach: %s" % status.split(b"\r\n")[0].decode("latin-1"))
    return sock, rest


def _pump(sock: socket.socket, buf: bytes, out: Collector, deadline: float) -> bool:
    """Read multiplexed frames until EOF (True) or the deadline / a cap (False)."""
    while True:
        while len(buf) >= 8:
            stream, size = struct.unpack(">BxxxL", buf[:8])
            if len(buf) < 8 + size:
                break
            if not out.add(2 if stream == 2 else 1, buf[8:8 + size]):
                return False
            buf = buf[8 + size:]
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            return False
        try:
            chunk = sock.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            return True
        buf += chunk


def _exit_code(waiter: _UnixHTTP, timeout: float) -> Optional[int]:
    """The container's exit status, or None when it is still running after ``timeout`` seconds."""
    try:
        waiter.sock.settimeout(timeout)
        return json.loads(waiter.getresponse().read()).get("StatusCode")
    except (OSError, ValueError, AttributeError, http.client.HTTPException):
        return None


def run_container(path: str, image: str, argv: List[str], stdin: bytes, time_limit_s: float, memory_mb: int,
                  caps: Dict[int, int]) -> RawRun:
    """Run ``argv`` in a fresh jail container fed ``stdin``; kill it at ``time_limit_s`` or a cap."""
    name = "slm-code-check-%s" % uuid.uuid4().hex[:12]
    status, body = _call(path, "POST", "/containers/create?name=%s" % name, container_spec(image, argv, memory_mb))
    if status == 404:
        raise NotRun("image %s is not on this host's Docker engine (nothing is pulled): load it, or set "
                     "code_image to an image with python3 that is" % image)
    if status != 201:
        raise NotRun("the Docker engine refused the jail container: %s" % (body or {}).get("message"))
    cid, run = body["Id"], RawRun(warnings=list(body.get("Warnings") or []))
    waiter = _UnixHTTP(path, time_limit_s + 60)
    sock = None
    try:
        discarded = [w for w in run.warnings if "discarded" in w.lower()]
        if discarded:
            raise NotRun("the Docker engine cannot enforce the jail's limits: %s" % "; ".join(discarded))
        sock, rest = _attach(path, cid)
        waiter.request("POST", "/containers/%s/wait?condition=removed" % cid)
        status, body = _call(path, "POST", "/containers/%s/start" % cid)
        if status not in (204, 304):
            raise NotRun("the jail container did not start (does %s have python3?): %s" % (
                image, (body or {}).get("message")))
        try:
            sock.sendall(stdin)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the process is already gone: what it wrote is still read below
        out, deadline = Collector(caps), time.monotonic() + time_limit_s
        if not _pump(sock, rest, out, deadline):
            run.timed_out = out.capped is None
            sock.close()  # first: the engine must not block writing output nobody reads
            _quietly(path, "POST", "/containers/%s/kill" % cid)
        run.stdout, run.stderr, run.capped = bytes(out.data[1]), bytes(out.data[2]), out.capped
        run.exit_code = _exit_code(waiter, max(deadline - time.monotonic(), 0) + 5)
        if run.exit_code is None:  # output closed, process still running: its time is up
            run.timed_out = True
            _quietly(path, "POST", "/containers/%s/kill" % cid)
        return run
    finally:
        if sock is not None:
            sock.close()
        waiter.close()
        _quietly(path, "DELETE", "/containers/%s?force=1" % cid)  # 404 when the engine removed it already
