"""The pull agent's runner (roles/pull_agent/files/slm-pull-run.py): output parsing, the pin check, the lock, and
whole runs of the real ansible-pull (the repository's .venv) against local git repositories."""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
RUNNER = REPO / "roles/pull_agent/files/slm-pull-run.py"
GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.invalid")


def load_runner():
    spec = importlib.util.spec_from_file_location("slm_pull_run", RUNNER)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


runner = load_runner()

RECAP = """
PLAY RECAP *********************************************************************
gw-07                      : ok=120  changed=3    unreachable=0    failed=1    skipped=40   rescued=2    ignored=0
localhost                  : ok=9    changed=0    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0
"""


def test_the_recap_gives_every_counter_per_host():
    recap = runner.parse_recap(RECAP.splitlines())
    assert recap["gw-07"] == {"ok": 120, "changed": 3, "unreachable": 0, "failed": 1, "skipped": 40, "rescued": 2,
                              "ignored": 0}
    assert recap["localhost"]["ok"] == 9


def test_lines_before_the_recap_are_not_counted():
    lines = ["gw-07 : ok=1 changed=1 unreachable=0 failed=0", "PLAY RECAP ***", "gw-07 : ok=2 changed=0 unreachable=0 failed=0"]
    assert runner.parse_recap(lines) == {"gw-07": {"ok": 2, "changed": 0, "unreachable": 0, "failed": 0}}


def test_the_failure_reason_is_the_last_failed_task_message():
    lines = ['fatal: [gw-07]: FAILED! => {"changed": false, "msg": "first"}', "...",
             'fatal: [gw-07]: FAILED! => {"changed": false, "msg": "gw-07: model \\"x\\" refused"}']
    assert runner.failure_reason(lines) == 'gw-07: gw-07: model "x" refused'


def test_the_failure_reason_reads_the_yaml_result_format():
    lines = ["fatal: [gw-07]: FAILED! => ", "    changed: false", "    msg: the disk is full", "PLAY RECAP"]
    assert runner.failure_reason(lines) == "gw-07: the disk is full"
    assert runner.failure_reason(["ok: [gw-07]"]) == ""


@pytest.mark.parametrize("ref, expected", [("main", "a" * 40), ("v1", "c" * 40), ("v2", "d" * 40), ("nope", "")])
def test_a_ref_resolves_to_its_commit_and_annotated_tags_are_peeled(ref, expected):
    out = "\n".join([f"{'a' * 40}\trefs/heads/main", f"{'b' * 40}\trefs/tags/v1", f"{'c' * 40}\trefs/tags/v1^{{}}",
                     f"{'d' * 40}\trefs/tags/v2"])
    assert runner.resolve_ref(out, ref) == expected


def config(tmp_path: Path, url: str, commit: str, **extra: Any) -> dict[str, Any]:
    (tmp_path / "state").mkdir(exist_ok=True)
    (tmp_path / "local.yml").write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    (tmp_path / "extra.json").write_text(json.dumps({"ansible_connection": "local",
                                                     "ansible_python_interpreter": sys.executable}))
    cfg = {"host": "gw-unit", "repo_url": url, "ref": "main", "commit": commit, "gpg_home": "", "ssh_key_file": "",
           "playbook": "pull.yml", "inventory": "hosts.yml", "venv": str(REPO / ".venv"),
           "checkout_dir": str(tmp_path / "state/checkout"), "collections_path": str(REPO / "collections"),
           "local_inventory": str(tmp_path / "local.yml"), "extra_vars_file": str(tmp_path / "extra.json"),
           "result_file": str(tmp_path / "state/last-result.json"), "lock_file": str(tmp_path / "state/run.lock")}
    cfg.update(extra)
    path = tmp_path / "pull.json"
    path.write_text(json.dumps(cfg))
    return cfg


def site_repo(tmp_path: Path, task: str) -> tuple[str, str]:
    """A bare repository with a one-task playbook; returns its file:// URL and the commit."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "hosts.yml").write_text("all:\n  hosts:\n    gw-unit:\n      ansible_connection: local\n    gw-other:\n")
    (work / "pull.yml").write_text(f"- hosts: all:!localhost\n  gather_facts: false\n  tasks:\n    - {task}\n")
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "site"]):
        subprocess.run(["git", "-C", str(work), *argv], check=True, env=GIT_ENV)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(tmp_path / "site.git")], check=True)
    commit = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    return f"file://{tmp_path / 'site.git'}", commit


def run_main(tmp_path: Path) -> tuple[int, dict[str, Any]]:
    rc = runner.main(["slm-pull-run", str(tmp_path / "pull.json")])
    return rc, json.loads((tmp_path / "state/last-result.json").read_text())


def test_a_ref_that_moved_off_the_pin_is_refused_before_anything_runs(tmp_path, capsys):
    url, commit = site_repo(tmp_path, "ansible.builtin.debug: {msg: hi}")
    pinned = "0" * 40
    config(tmp_path, url, pinned)
    rc, result = run_main(tmp_path)
    assert rc == runner.EXIT_REFUSED
    assert result["status"] == "refused" and result["remote_commit"] == commit and result["commit"] is None
    assert pinned in result["reason"] and commit in result["reason"]
    assert not (tmp_path / "state/checkout").exists(), "nothing may be checked out"
    assert "ansible-pull" not in capsys.readouterr().out.split("refused")[0]


def test_a_missing_ref_is_refused(tmp_path):
    url, commit = site_repo(tmp_path, "ansible.builtin.debug: {msg: hi}")
    config(tmp_path, url, commit, ref="release-9")
    rc, result = run_main(tmp_path)
    assert rc == runner.EXIT_REFUSED and "no branch or tag 'release-9'" in result["reason"]


@pytest.mark.slow
def test_a_pinned_run_converges_only_this_host_and_keeps_the_result(tmp_path):
    url, commit = site_repo(tmp_path, "ansible.builtin.debug: {msg: converged}")
    config(tmp_path, url, commit)
    rc, result = run_main(tmp_path)
    assert rc == 0, result
    assert result["status"] == "ok" and result["commit"] == commit and result["rc"] == 0
    assert set(result["recap"]) == {"gw-unit"}, "only this host (and no other host of the inventory) runs"
    assert result["recap"]["gw-unit"]["ok"] == 1 and result["recap"]["gw-unit"]["failed"] == 0
    assert result["last_success"] == {"finished": result["finished"], "commit": commit}
    assert oct((tmp_path / "state/last-result.json").stat().st_mode & 0o777) == "0o644"


@pytest.mark.slow
def test_a_failed_run_keeps_the_reason_and_the_last_success(tmp_path):
    url, commit = site_repo(tmp_path, "ansible.builtin.fail: {msg: the engine did not become healthy}")
    config(tmp_path, url, commit)
    (tmp_path / "state/last-result.json").write_text(json.dumps(
        {"status": "ok", "finished": "2026-01-01T00:00:00+00:00", "commit": "e" * 40}))
    rc, result = run_main(tmp_path)
    assert rc != 0 and result["status"] == "failed"
    assert result["reason"] == "gw-unit: the engine did not become healthy"
    assert result["recap"]["gw-unit"]["failed"] == 1
    assert result["last_success"] == {"finished": "2026-01-01T00:00:00+00:00", "commit": "e" * 40}


def test_a_run_while_another_holds_the_lock_changes_nothing(tmp_path, capsys):
    url, commit = site_repo(tmp_path, "ansible.builtin.debug: {msg: hi}")
    cfg = config(tmp_path, url, commit)
    with open(cfg["lock_file"], "a", encoding="utf-8") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert runner.main(["slm-pull-run", str(tmp_path / "pull.json")]) == runner.EXIT_LOCKED
    assert not Path(cfg["result_file"]).exists()
    assert "another run holds" in capsys.readouterr().out


def test_an_unreadable_checkout_is_removed_for_a_fresh_clone(tmp_path):
    url, commit = site_repo(tmp_path, "ansible.builtin.debug: {msg: hi}")
    cfg = config(tmp_path, url, commit)
    broken = Path(cfg["checkout_dir"]) / ".git"
    broken.mkdir(parents=True)
    (broken / "HEAD").write_text("garbage\n")
    runner.discard_broken_checkout(cfg)
    assert not Path(cfg["checkout_dir"]).exists()


def test_the_command_line_pins_the_commit_limits_to_the_host_and_holds_no_secret(tmp_path):
    cfg = config(tmp_path, "https://git.example.com/site.git", "a" * 40, gpg_home="/etc/slm-pull/gnupg",
                 ssh_key_file="/etc/slm-pull/deploy_key")
    argv = runner.ansible_pull_argv(cfg)
    assert argv[argv.index("--checkout") + 1] == "a" * 40
    assert argv[argv.index("--limit") + 1] == "gw-unit,localhost"
    assert "--verify-commit" in argv and "--full" in argv and argv[-1] == "pull.yml"
    assert argv[argv.index("--extra-vars") + 1] == "@" + cfg["extra_vars_file"]
    env = runner.run_env(cfg)
    assert env["GNUPGHOME"] == "/etc/slm-pull/gnupg" and "/etc/slm-pull/deploy_key" in env["GIT_SSH_COMMAND"]


def test_the_result_file_is_replaced_whole(tmp_path):
    path = tmp_path / "r.json"
    runner.write_result(str(path), {"a": 1})
    runner.write_result(str(path), {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


@pytest.fixture
def gpg_homes(tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    """A signer's keyring with a fresh key, and a keyring holding only its public key (as the role imports it).
    The gpg-agents that gpg starts for each keyring are stopped afterwards, not left running after the test."""
    if not shutil.which("gpg"):
        pytest.fail("gpg is missing on this machine (Debian package gnupg)")
    signer, trusted = tmp_path / "signer", tmp_path / "trusted"
    try:
        yield make_keyrings(signer, trusted)
    finally:
        for home in (signer, trusted):
            subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, check=False)


def make_keyrings(signer: Path, trusted: Path) -> tuple[dict[str, str], str]:
    """Fill the signer's keyring with a fresh signing key and import its public key into `trusted`."""
    for home in (signer, trusted):
        home.mkdir(mode=0o700)
    env = dict(GIT_ENV, GNUPGHOME=str(signer))
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "site-signing@example.invalid", "ed25519",
                    "sign", "never"], check=True, capture_output=True, env=env)
    public = subprocess.run(["gpg", "--batch", "--armor", "--export", "site-signing@example.invalid"], check=True,
                            capture_output=True, env=env).stdout
    subprocess.run(["gpg", "--batch", "--homedir", str(trusted), "--import"], input=public, check=True, capture_output=True)
    return env, str(trusted)


@pytest.mark.slow
@pytest.mark.parametrize("signed", [True, False])
def test_with_a_pinned_key_only_signed_commits_run(tmp_path, gpg_homes, signed):
    env, trusted = gpg_homes
    work = tmp_path / "work"
    work.mkdir()
    (work / "hosts.yml").write_text("all:\n  hosts:\n    gw-unit:\n      ansible_connection: local\n")
    (work / "pull.yml").write_text("- hosts: all:!localhost\n  gather_facts: false\n  tasks:\n"
                                   "    - ansible.builtin.debug: {msg: signed}\n")
    sign = ["-c", "user.signingkey=site-signing@example.invalid", "commit", "-q", "-m", "site"] + (["-S"] if signed else [])
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], sign):
        subprocess.run(["git", "-C", str(work), *argv], check=True, env=env, capture_output=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(tmp_path / "site.git")], check=True)
    config(tmp_path, f"file://{tmp_path / 'site.git'}", "", gpg_home=trusted)
    rc, result = run_main(tmp_path)
    if signed:
        assert rc == 0 and result["status"] == "ok" and result["verify_gpg"] is True, result
    else:
        assert rc != 0 and result["status"] == "failed", result
        assert result["recap"] == {} and "signature" in result["reason"], result


@pytest.mark.slow
def test_a_second_run_works_when_the_inventory_names_the_machine_itself(tmp_path):
    """ansible-pull checks out on every inventory host matching the machine's names: with the site's inventory
    naming this machine, two git runs on one checkout must not collide (the runner runs them one at a time)."""
    node = platform.node()
    url, commit = site_repo(tmp_path, "ansible.builtin.debug: {msg: hi}")
    bare = tmp_path / "site.git"
    work = tmp_path / "work2"
    subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True)
    (work / "hosts.yml").write_text(f"all:\n  hosts:\n    {node}:\n      ansible_connection: local\n")
    subprocess.run(["git", "-C", str(work), "commit", "-qam", "name the machine"], check=True, env=GIT_ENV)
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "main"], check=True, capture_output=True)
    commit = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    config(tmp_path, url, commit, host=node)
    for _attempt in range(2):
        rc, result = run_main(tmp_path)
        assert rc == 0 and result["status"] == "ok", result
    assert set(result["recap"]) == {node}
