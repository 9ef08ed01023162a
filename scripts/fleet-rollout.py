#!/usr/bin/env python3
"""Roll a release out site by site: one site inventory after the other, stopping at the first site
that does not complete, then write the fleet index (artifacts/fleet/index.html and index.json).

Usage (from the repository root):
  scripts/fleet-rollout.py [options] SITE [SITE...] [-- ANSIBLE-PLAYBOOK ARGUMENTS]
  SITE is a site inventory (inventories/edge, or the link edge; the site's name is the inventory's
  directory name) or NAME=INVENTORY. The sites run in the order given.
  Arguments after `--` go to every site's run, e.g. the release: -- -e @releases/2026-12.yml

Each site runs `ansible-playbook site.yml -i INVENTORY -e slm_report_dir=REPORTS/NAME ...`, with its
output shown and kept in OUT/logs/NAME.log. A site whose run exits non-zero (its rollout aborted, or
it failed before the rollout) stops the rollout: the sites after it are "not started" and untouched.
The index links every site's report (REPORTS/NAME/site_report.html, rollout.json) and lists each
host's release from the site's rollout.json; it is rewritten after every site.

Options: --playbook PATH (default site.yml), --reports-dir DIR (default artifacts/sites),
  --out DIR (default artifacts/fleet), --release LABEL (shown in the index; default: the releases
  the sites' rollout summaries name).
Exit codes: 0 every site completed, 1 the rollout stopped at a site, 2 bad arguments (nothing ran),
  130 interrupted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fleet_index as fi  # noqa: E402  # pylint: disable=wrong-import-position

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class UsageError(Exception):
    """A bad argument: reported as one line, before any site runs."""


def parse_args(argv: Sequence[str]) -> Tuple[argparse.Namespace, List[str]]:
    """Options and sites, and the ansible-playbook arguments given after `--`."""
    argv = list(argv)
    extra: List[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(prog="fleet-rollout.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sites", nargs="*", metavar="SITE",
                        help="a site inventory (its directory name names the site) or NAME=INVENTORY, in rollout order")
    parser.add_argument("--playbook", default="site.yml", help="the playbook each site runs (default: %(default)s)")
    parser.add_argument("--reports-dir", default="artifacts/sites",
                        help="where each site's reports go, in a directory per site (default: %(default)s)")
    parser.add_argument("--out", default="artifacts/fleet", help="where the fleet index goes (default: %(default)s)")
    parser.add_argument("--release", help="the release's name shown in the index (default: from the sites' summaries)")
    return parser.parse_args(argv), extra


def resolve_sites(specs: Sequence[str]) -> List[Tuple[str, str]]:
    """(name, inventory) per SITE argument, in order; raises UsageError naming the bad argument."""
    if not specs:
        raise UsageError("name at least one site inventory, e.g. scripts/fleet-rollout.py inventories/edge inventories/lab")
    sites: List[Tuple[str, str]] = []
    for spec in specs:
        name, sep, inventory = spec.partition("=")
        if not sep:
            inventory = spec
            path = Path(spec.rstrip("/") or spec)
            name = (path.parent if path.is_file() else path).name
        if not inventory or not os.path.exists(inventory):
            raise UsageError("site %r: inventory %r does not exist (give a site inventory directory such as "
                             "inventories/edge, or NAME=PATH)" % (name or spec, inventory))
        if not NAME_RE.match(name):
            raise UsageError("site argument %r: site name %r is not allowed (letters, digits, '.', '_', '-'; "
                             "use NAME=INVENTORY)" % (spec, name))
        if name in [known for known, _inv in sites]:
            raise UsageError("site %r is given twice (%s): each site runs once; name them NAME=INVENTORY" % (
                name, ", ".join([inv for known, inv in sites if known == name] + [inventory])))
        sites.append((name, inventory))
    return sites


def read_json(path: Path, not_before: float = 0.0) -> Optional[Dict[str, Any]]:
    """The JSON object in ``path`` if it was written at or after ``not_before``; None otherwise."""
    try:
        if path.stat().st_mtime < not_before:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def run_site(cmd: List[str], log_path: Path) -> int:
    """Run one site's playbook, its output both shown and written to ``log_path``; its exit code."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:
        log.write("$ %s\n" % " ".join(cmd))
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace") as proc:
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                    log.write(line)
            except KeyboardInterrupt:
                proc.terminate()
                proc.wait()
                raise
            return proc.wait()


class FleetRollout:
    """The rollout over the sites, and the index it writes."""

    def __init__(self, sites: List[Tuple[str, str]], ansible_playbook: str, playbook: str,
                 reports_dir: Path, out_dir: Path, extra: List[str], release: Optional[str]) -> None:
        self.sites, self.ansible_playbook, self.playbook = sites, ansible_playbook, playbook
        self.reports_dir, self.out_dir, self.extra, self.release = reports_dir.resolve(), out_dir.resolve(), extra, release
        self.entries: List[Dict[str, Any]] = []

    def _link(self, path: Path) -> Optional[str]:
        return fi.relative_link(str(path), str(self.out_dir)) if path.exists() else None

    def write_index(self, stopped: bool) -> None:
        """index.json and index.html for the sites so far; the rest are pending or not started."""
        rest = [fi.site_entry(name, inv, fi.NOT_STARTED if stopped else fi.PENDING)
                for name, inv in self.sites[len(self.entries):]]
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        index = fi.build_index(self.entries + rest, stamp, self.release)
        write_atomic(self.out_dir / "index.json", json.dumps(index, indent=2, sort_keys=True) + "\n")
        write_atomic(self.out_dir / "index.html", fi.render_html(index))

    def run(self) -> int:
        """Run the sites in order; 0 if all completed, 1 if the rollout stopped at a site."""
        for number, (name, inventory) in enumerate(self.sites, 1):
            report_dir = self.reports_dir / name
            cmd = [self.ansible_playbook, self.playbook, "-i", inventory,
                   "-e", json.dumps({"slm_report_dir": str(report_dir)})] + self.extra
            print("[fleet] site %d/%d: %s (%s)" % (number, len(self.sites), name, inventory), flush=True)
            log = self.out_dir / "logs" / (name + ".log")
            # The site's report directory, which the run fills and the index links to.
            report_dir.mkdir(parents=True, exist_ok=True)
            started = time.time()
            try:
                code = run_site(cmd, log)
            except KeyboardInterrupt:
                code = 130
            # A summary left by an earlier run is not this run's result.
            rollout = read_json(report_dir / "rollout.json", not_before=started - 1)
            status = fi.site_status(code, rollout)
            self.entries.append(fi.site_entry(
                name, inventory, status, exit_code=code, rollout=rollout,
                site_report=read_json(report_dir / "site_report.json", not_before=started - 1),
                report_html=self._link(report_dir / "site_report.html"),
                rollout_json=self._link(report_dir / "rollout.json") if rollout else None,
                log=self._link(log), duration_s=time.time() - started))
            print("[fleet] site %s: %s (exit code %d)" % (name, status, code), flush=True)
            if code == 130:
                self.write_index(stopped=True)
                return 130
            if not fi.goes_on(status):
                self.write_index(stopped=True)
                left = [later for later, _inv in self.sites[number:]]
                print("[fleet] rollout stopped at site %s; not started: %s" % (name, ", ".join(left) or "none"))
                return 1
            self.write_index(stopped=False)
        return 0


def main(argv: Sequence[str]) -> int:
    """Entry point: validate everything, then roll out site by site."""
    opts, extra = parse_args(argv)
    try:
        sites = resolve_sites(opts.sites)
        if not os.path.isfile(opts.playbook):
            raise UsageError("playbook %r not found (run from the repository root, or give --playbook)" % opts.playbook)
        ansible_playbook = shutil.which("ansible-playbook")
        if not ansible_playbook:
            raise UsageError("ansible-playbook is not on PATH (run `make venv` and use .venv/bin, or activate it)")
    except UsageError as exc:
        print("fleet-rollout: %s" % exc, file=sys.stderr)
        return 2
    rollout = FleetRollout(sites, ansible_playbook, opts.playbook, Path(opts.reports_dir), Path(opts.out),
                           extra, opts.release)
    code = rollout.run()
    print("[fleet] index: %s" % (rollout.out_dir / "index.html"))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
