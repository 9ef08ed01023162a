"""The site report opened in headless Chromium: it renders offline, one row per host, screenshot kept.

Skips only when Chromium is not installed (Debian package ``chromium``) and SLM_REQUIRE_CHROMIUM
is unset; `make test` installs Chromium and sets it, so there the test runs or fails. The
screenshot and the page are left in ``artifacts/site_report/`` (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_report import build_report, write_report

ARTIFACTS = Path(__file__).resolve().parents[4] / "artifacts" / "site_report"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--mute-audio"]

pytestmark = pytest.mark.slow


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        if os.environ.get("SLM_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is required (SLM_REQUIRE_CHROMIUM is set) but not installed: apt-get install chromium")
        pytest.skip("chromium is not installed (Debian package 'chromium'); the browser check of the "
                    "site report is skipped - CI installs it")
    return exe


class DomRows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows, self.tags = [], set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        a = dict(attrs)
        if tag == "tr" and "data-host" in a:
            self.rows.append(a["data-host"])


def run_chromium(exe: str, *args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([exe, *FLAGS, "--user-data-dir=" + profile, *args], capture_output=True, text=True,
                              timeout=90, check=False)


def test_report_renders_in_headless_chromium(site_hosts) -> None:
    exe = chromium()
    report = build_report(site_hosts, "lab")
    _, _, html_path, _ = write_report(report, str(ARTIFACTS))
    url = Path(html_path).resolve().as_uri()

    dom = run_chromium(exe, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = DomRows()
    parser.feed(dom.stdout)
    assert sorted(parser.rows) == sorted(h["host"] for h in site_hosts)
    assert "script" not in parser.tags  # the hostile host name stayed text
    assert "svg" in parser.tags and "rect" in parser.tags

    shot = ARTIFACTS / "site_report.png"
    if shot.exists():
        shot.unlink()
    res = run_chromium(exe, "--window-size=1500,1800", "--screenshot=%s" % shot, url)
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    head = shot.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    assert (width, height) == (1500, 1800)
    assert shot.stat().st_size > 20000  # a blank page compresses to a few KB
