"""scripts/fleet_index.py: site statuses, stop-at-first-abort, host rows and the escaped, linked index page."""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
import fleet_index as fi  # noqa: E402  # pylint: disable=wrong-import-position,import-error

ROLLOUT_ABORTED = {
    "site": "edge", "status": "aborted", "release": "onnx-2a9f", "failed_batch": 1,
    "hosts": {
        "edge-gw-01": {"batch": 1, "outcome": "rolled_back", "release": "onnx-17c0", "previous_release": "onnx-2a9f",
                       "reason": "reasoning gate: 0/9 checks passed <below 0.8>"},
        "edge-gw-02": {"batch": 2, "outcome": "untouched", "release": "onnx-17c0", "previous_release": None, "reason": None},
    },
}


class _Collect(HTMLParser):
    """Links, scripts and text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [v for k, v in attrs if k in ("href", "src")]

    def handle_data(self, data):
        self.text.append(data)


@pytest.mark.parametrize("code, rollout, expected", [
    (0, {"status": "completed"}, fi.COMPLETED),
    (0, None, fi.COMPLETED),             # a playbook that writes no rollout summary
    (2, {"status": "aborted"}, fi.ABORTED),
    (0, {"status": "aborted"}, fi.ABORTED),  # the summary wins over a zero exit: never go on
    (2, None, fi.FAILED),                # refused in preflight: no summary
    (4, {"status": "completed"}, fi.FAILED),  # unreachable after the rollout: still not a success
    (0, {"status": "in progress"}, fi.FAILED),  # a summary of a run that never finished
])
def test_site_status(code, rollout, expected) -> None:
    assert fi.site_status(code, rollout) == expected


def test_only_a_completed_site_lets_the_rollout_go_on() -> None:
    assert [s for s in fi.STATUSES if fi.goes_on(s)] == [fi.COMPLETED]


def test_host_rows_from_the_rollout_summary_sorted() -> None:
    rows = fi.host_rows(ROLLOUT_ABORTED, {"hosts": [{"host": "ignored"}]})
    assert [r["host"] for r in rows] == ["edge-gw-01", "edge-gw-02"]
    assert rows[0] == {"host": "edge-gw-01", "batch": 1, "outcome": "rolled_back", "release": "onnx-17c0",
                       "previous_release": "onnx-2a9f", "reason": "reasoning gate: 0/9 checks passed <below 0.8>"}


def test_the_rollout_roles_summary_shape() -> None:
    """The shape roles/rollout writes: release_before per host, the site's releases and reason."""
    summary = {"schema": 1, "site": "edge", "status": "aborted", "batches_run": 1, "failed_batch": 1,
               "failed_hosts": ["edge-gw-01"], "reason": "batch 1: 1 of 1 hosts failed (threshold 0%)",
               "releases": ["0814fed35c35", "9a1b2c3d4e5f"],
               "hosts": {"edge-gw-01": {"batch": 1, "outcome": "rolled back", "release": "0814fed35c35",
                                        "release_before": "9a1b2c3d4e5f", "reason": "gate failed"},
                         "edge-gw-02": {"batch": None, "outcome": "not in this run", "release": None,
                                        "release_before": None, "reason": "outside --limit"}}}
    entry = fi.site_entry("edge", "edge", fi.site_status(2, summary), exit_code=2, rollout=summary)
    assert entry["status"] == fi.ABORTED and entry["failed_batch"] == 1
    assert entry["release"] == "0814fed35c35, 9a1b2c3d4e5f"
    assert entry["hosts"][0]["previous_release"] == "9a1b2c3d4e5f"
    assert entry["hosts"][1]["outcome"] == "not in this run"
    assert "<p>Why: batch 1: 1 of 1 hosts failed (threshold 0%)</p>" in fi.render_html(fi.build_index([entry], "t"))


def test_host_rows_fall_back_to_the_site_report() -> None:
    report = {"hosts": [{"host": "gw-b", "verdict": "failed", "release": "r2",
                         "failures": [{"name": "health", "reason": "connection refused"}]},
                        {"host": "gw-a", "verdict": "ok", "release": "r1", "failures": []},
                        {"host": "gw-c", "verdict": "failed", "gate": "report", "release": "r1"}, "junk"]}
    assert fi.site_entry("s", "s", fi.COMPLETED, site_report=report)["release"] == "r1, r2"
    rows = fi.host_rows(None, report)
    assert [(r["host"], r["outcome"], r["release"], r["reason"]) for r in rows] == [
        ("gw-a", "ok", "r1", None), ("gw-b", "failed", "r2", "connection refused"),
        ("gw-c", "failed (gate: report, not enforced)", "r1", None)]
    assert fi.host_rows(None, None) == []


def test_index_marks_where_the_rollout_stopped() -> None:
    sites = [fi.site_entry("lab", "inventories/lab", fi.COMPLETED, exit_code=0, rollout={"release": "r2"}),
             fi.site_entry("edge", "edge", fi.ABORTED, exit_code=2, rollout=ROLLOUT_ABORTED),
             fi.site_entry("plant-2", "inventories/plant-2", fi.NOT_STARTED)]
    index = fi.build_index(sites, "2026-12-01T22:00:00Z")
    assert index["status"] == "stopped" and index["stopped_at"] == "edge"
    assert index["order"] == ["lab", "edge", "plant-2"]
    assert index["counts"][fi.COMPLETED] == 1 and index["counts"][fi.NOT_STARTED] == 1
    assert index["release"] == "onnx-2a9f, r2"
    assert fi.build_index(sites[:1], "t")["status"] == fi.COMPLETED
    assert fi.build_index(sites[:1] + [fi.site_entry("x", "x", fi.PENDING)], "t")["status"] == "running"
    with pytest.raises(ValueError, match="unknown site status 'done'"):
        fi.site_entry("x", "x", "done")


def test_relative_links() -> None:
    assert fi.relative_link("/r/artifacts/sites/edge/site_report.html", "/r/artifacts/fleet") == "../sites/edge/site_report.html"
    assert fi.relative_link(None, "/r") is None


def test_html_is_self_contained_escaped_and_links_every_report() -> None:
    evil = '<script>alert("x")</script>'
    sites = [fi.site_entry("edge", "edge", fi.ABORTED, exit_code=2, rollout=dict(ROLLOUT_ABORTED, release=evil),
                           report_html="../sites/edge/site_report.html", rollout_json="../sites/edge/rollout.json",
                           log="logs/edge.log", duration_s=12.34),
             fi.site_entry('a"b', "inventories/a&b", fi.NOT_STARTED)]
    page = fi.render_html(fi.build_index(sites, "2026-12-01T22:00:00Z"))
    parsed = _Collect()
    parsed.feed(page)
    assert "script" not in parsed.tags                       # the release text did not become markup
    assert evil in "".join(parsed.text)                      # ... but is shown as text
    assert "&lt;below 0.8&gt;" in page and "inventories/a&amp;b" in page and "a&quot;b" in page
    assert parsed.links == ["../sites/edge/site_report.html", "../sites/edge/rollout.json", "logs/edge.log"]
    assert not re.search(r"https?://", page)                 # no CDN, no external asset
    assert '<span class="status aborted">aborted</span>' in page
    assert '<span class="status not-started">not started</span>' in page
    assert "Not started: an earlier site did not complete" in page
    long_reason = fi.render_html(fi.build_index([fi.site_entry("s", "s", fi.COMPLETED, rollout={
        "hosts": {"h": {"reason": "x" * 1000}}})], "t"))
    assert "x" * 300 + " ... (full text in index.json)" in long_reason and "x" * 301 not in long_reason
    assert "12.3 s" in page and "rolled_back" in page and "onnx-17c0" in page
