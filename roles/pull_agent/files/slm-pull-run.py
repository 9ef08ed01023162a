# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One ansible-pull run of a gateway, started by slm-pull.service (installed by the role pull_agent).

Order, so that nothing unverified ever runs:
1. take a lock (a second run while one is going exits 75 and changes nothing);
2. ask the site repository where the pinned branch or tag points (``git ls-remote``); when a commit is
   pinned and the ref points elsewhere, refuse: ansible-pull is not started, the result says why;
3. run ``ansible-pull`` checking out exactly the pinned commit (or the ref, with ``--verify-commit`` against the
   pinned GPG key), converging only this host (``--limit <host>,localhost``, connection local);
4. write the result (time, commit, rc, play recap per host, failure reason) atomically to the result file.

Everything goes to stdout/stderr, which systemd sends to journald (``journalctl -u slm-pull``).
Stdlib only: it runs with the host's /usr/bin/python3. Configuration: one JSON file written by the role.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from typing import Any, Iterable

EXIT_OK = 0
EXIT_REFUSED = 3
EXIT_LOCKED = 75

RECAP_RE = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+"
    r"failed=(?P<failed>\d+)(?:\s+skipped=(?P<skipped>\d+))?(?:\s+rescued=(?P<rescued>\d+))?(?:\s+ignored=(?P<ignored>\d+))?")
FATAL_RE = re.compile(r"^(?:fatal|failed): \[(?P<host>[^\]]+)\].*?FAILED! =>\s*(?P<rest>.*)$")
MSG_RE = re.compile(r'"msg":\s*"(?P<msg>(?:[^"\\]|\\.)*)"')
YAML_MSG_RE = re.compile(r"^\s*msg:\s*(?P<msg>.*)$")
SHA_RE = re.compile(r"^[0-9a-f]{40}$")
REASON_MAX = 2000


def now() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def log(message: str) -> None:
    """One line to journald (through stdout)."""
    print(f"slm-pull: {message}", flush=True)


def parse_recap(lines: Iterable[str]) -> dict[str, dict[str, int]]:
    """The PLAY RECAP counters per host, from ansible-playbook's default output."""
    recap: dict[str, dict[str, int]] = {}
    in_recap = False
    for line in lines:
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if in_recap:
            match = RECAP_RE.match(line.strip())
            if match:
                recap[match.group("host")] = {k: int(v) for k, v in match.groupdict().items() if k != "host" and v is not None}
    return recap


def failure_reason(lines: list[str]) -> str:
    """The message of the last failed task (``fatal: [host]: FAILED! => ...``), or ''."""
    for index in range(len(lines) - 1, -1, -1):
        match = FATAL_RE.match(lines[index].strip())
        if not match:
            continue
        rest = match.group("rest")
        found = MSG_RE.search(rest)
        if found:
            try:
                return f"{match.group('host')}: {json.loads(chr(34) + found.group('msg') + chr(34))}"[:REASON_MAX]
            except ValueError:
                return f"{match.group('host')}: {found.group('msg')}"[:REASON_MAX]
        # The YAML result format: the message follows on the next lines.
        for follow in lines[index + 1:index + 40]:
            msg = YAML_MSG_RE.match(follow)
            if msg:
                return f"{match.group('host')}: {msg.group('msg').strip()}"[:REASON_MAX]
        return f"{match.group('host')}: {rest.strip()}"[:REASON_MAX]
    return ""


def resolve_ref(ls_remote: str, ref: str) -> str:
    """The commit a branch or tag points at, from ``git ls-remote`` output ('' when the ref is missing).

    An annotated tag is peeled (``refs/tags/v1^{}``) to its commit; a branch wins over a tag of the same name.
    """
    refs: dict[str, str] = {}
    for line in ls_remote.splitlines():
        parts = line.split()
        if len(parts) == 2:
            refs[parts[1]] = parts[0]
    for name in (f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}", ref):
        if name in refs:
            return refs[name]
    return ""


def ansible_pull_argv(cfg: dict[str, Any]) -> list[str]:
    """The ansible-pull command line: the pinned commit checked out, this host only, no secret in it."""
    argv = [os.path.join(cfg["venv"], "bin", "ansible-pull"),
            "--url", cfg["repo_url"],
            "--checkout", cfg["commit"] or cfg["ref"],
            "--directory", cfg["checkout_dir"],
            "--full", "--clean",
            "--inventory", cfg["local_inventory"],
            "--inventory", os.path.join(cfg["checkout_dir"], cfg["inventory"]),
            "--limit", f"{cfg['host']},localhost",
            "--extra-vars", f"@{cfg['extra_vars_file']}"]
    if cfg.get("gpg_home"):
        argv.append("--verify-commit")
    if cfg.get("ssh_key_file"):
        argv += ["--private-key", cfg["ssh_key_file"]]
    argv.append(cfg["playbook"])
    return argv


def write_result(path: str, result: dict[str, Any]) -> None:
    """Replace the result file atomically (a power loss leaves the old or the new file, never half of one)."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".result-")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(result, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def previous_success(path: str) -> dict[str, Any] | None:
    """The last successful run recorded in the previous result file."""
    try:
        with open(path, encoding="utf-8") as handle:
            old = json.load(handle)
    except (OSError, ValueError):
        return None
    if old.get("status") == "ok":
        return {"finished": old.get("finished"), "commit": old.get("commit")}
    return old.get("last_success")


def git(cfg: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    """Run git with the run's environment (GNUPGHOME for signature checks)."""
    return subprocess.run(["git", *args], capture_output=True, text=True, check=False, env=run_env(cfg),
                          timeout=cfg.get("git_timeout", 120))


def run_env(cfg: dict[str, Any]) -> dict[str, str]:
    """Environment of git and ansible-pull: no colour, the shipped collections, the GPG keyring when pinned."""
    env = {"PATH": f"{cfg['venv']}/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": cfg.get("home", "/root"),
           "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
           "ANSIBLE_COLLECTIONS_PATH": cfg["collections_path"], "ANSIBLE_RETRY_FILES_ENABLED": "0",
           "ANSIBLE_CALLBACK_RESULT_FORMAT": "json", "GIT_TERMINAL_PROMPT": "0",
           # ansible-pull checks out on every inventory host matching this machine's names (localhost, and the
           # site inventory's entry for it): one at a time, or two git runs race on one checkout.
           "ANSIBLE_FORKS": "1"}
    if cfg.get("gpg_home"):
        env["GNUPGHOME"] = cfg["gpg_home"]
    if cfg.get("ssh_key_file"):
        env["GIT_SSH_COMMAND"] = f"ssh -i {cfg['ssh_key_file']} -o IdentitiesOnly=yes -o BatchMode=yes"
    return env


def discard_broken_checkout(cfg: dict[str, Any]) -> None:
    """A checkout left unreadable by a power loss is removed: the next clone starts clean."""
    path = cfg["checkout_dir"]
    if os.path.isdir(path) and git(cfg, "-C", path, "rev-parse", "--verify", "HEAD").returncode != 0:
        log(f"the checkout {path} is unreadable (interrupted run?): removing it for a fresh clone")
        shutil.rmtree(path, ignore_errors=True)


def run(cfg: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """One pull: check the ref against the pin, run ansible-pull, and describe the outcome."""
    started = time.monotonic()
    result: dict[str, Any] = {"host": cfg["host"], "started": now(), "repo_url": cfg["repo_url"], "ref": cfg["ref"],
                              "pinned_commit": cfg["commit"] or None, "verify_gpg": bool(cfg.get("gpg_home")),
                              "playbook": cfg["playbook"], "commit": None, "remote_commit": None, "rc": None,
                              "recap": {}, "reason": ""}
    remote = git(cfg, "ls-remote", cfg["repo_url"], cfg["ref"], f"{cfg['ref']}^{{}}")
    if remote.returncode != 0:
        result.update(status="failed", rc=remote.returncode,
                      reason=f"git ls-remote {cfg['repo_url']} failed: {remote.stderr.strip()[:500]}. Nothing was run.")
        return remote.returncode or 1, result
    remote_commit = resolve_ref(remote.stdout, cfg["ref"])
    result["remote_commit"] = remote_commit or None
    if not remote_commit:
        result.update(status="refused", rc=EXIT_REFUSED,
                      reason=f"{cfg['repo_url']} has no branch or tag {cfg['ref']!r}. Nothing was run.")
        return EXIT_REFUSED, result
    if cfg["commit"] and remote_commit != cfg["commit"]:
        result.update(status="refused", rc=EXIT_REFUSED,
                      reason=(f"{cfg['ref']} of {cfg['repo_url']} points at {remote_commit}, but this host is pinned to "
                              f"{cfg['commit']} (pull_agent_commit): refused, nothing was run. Update the pin to "
                              f"accept the new commit."))
        return EXIT_REFUSED, result

    discard_broken_checkout(cfg)
    argv = ansible_pull_argv(cfg)
    log("running " + " ".join(argv))
    tail: deque[str] = deque(maxlen=cfg.get("keep_lines", 3000))
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=run_env(cfg),
                          cwd="/", errors="replace") as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            tail.append(line.rstrip("\n"))
        rc = proc.wait()
    sys.stdout.flush()
    lines = list(tail)
    head = git(cfg, "-C", cfg["checkout_dir"], "rev-parse", "HEAD")
    commit = head.stdout.strip() if head.returncode == 0 else ""
    result.update(commit=commit or None, rc=rc, recap=parse_recap(lines))
    if rc == 0 and cfg["commit"] and commit != cfg["commit"]:
        rc = EXIT_REFUSED
        result.update(rc=rc, status="refused",
                      reason=f"the checkout is at {commit or 'no commit'}, not the pinned {cfg['commit']}.")
    elif rc == 0:
        result["status"] = "ok"
    else:
        reason = failure_reason(lines)
        if not reason and not result["recap"]:
            reason = "ansible-pull stopped before the playbook (checkout or signature check failed): " + \
                " | ".join(line for line in lines[-5:] if line.strip())[:REASON_MAX]
        result.update(status="failed", reason=reason or f"ansible-pull exited {rc}")
    result["duration_s"] = round(time.monotonic() - started, 1)
    return rc, result


def main(argv: list[str]) -> int:
    """Entry point: ``slm-pull-run <config.json>``."""
    if len(argv) != 2:
        print("usage: slm-pull-run <config.json>", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        cfg = json.load(handle)
    with open(cfg["lock_file"], "a", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"another run holds {cfg['lock_file']}: this one does nothing")
            return EXIT_LOCKED
        last_success = previous_success(cfg["result_file"])
        try:
            rc, result = run(cfg)
        except Exception as exc:  # pylint: disable=broad-except  # recorded, never a silent stop
            rc, result = 1, {"host": cfg["host"], "started": now(), "status": "failed", "rc": 1, "recap": {},
                             "reason": f"slm-pull-run failed: {type(exc).__name__}: {exc}"[:REASON_MAX]}
        result["finished"] = now()
        result["last_success"] = ({"finished": result["finished"], "commit": result.get("commit")}
                                  if result.get("status") == "ok" else last_success)
        write_result(cfg["result_file"], result)
        reason = f" {result['reason']}" if result.get("reason") else ""
        log(f"{result['status']}: rc={result['rc']} commit={result.get('commit')}{reason} (result in {cfg['result_file']})")
        return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
