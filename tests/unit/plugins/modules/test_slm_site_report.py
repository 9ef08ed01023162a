"""Site report: JSON content, one HTML row per host, escaping, no external assets, idempotence."""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_report import build_report, render_html
from ansible_collections.edgeai.slm_fleet.plugins.modules import slm_site_report


class Rows(HTMLParser):
    """Collects each hosts-table row's data-host, every attribute that could load something, and tags."""

    def __init__(self) -> None:
        super().__init__()
        self.rows, self.links, self.tags = [], [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "tr" and "data-host" in a:
            self.rows.append(a["data-host"])
        for key, value in attrs:
            if key in ("src", "href", "srcset", "data", "action", "poster", "background") or (
                    value and "://" in value and key not in ("title", "xmlns")):
                self.links.append((tag, key, value))


def test_json_report_content(tmp_path, run_module, site_hosts, hostile) -> None:
    r = run_module(slm_site_report.main, {"hosts": site_hosts, "dest": str(tmp_path), "site": "lab"})
    assert r["_rc"] == 0 and r["changed"]
    data = json.loads((tmp_path / "site_report.json").read_text())
    assert data["site"] == "lab" and data["schema"] == 1 and data["generated_at"] == r["generated_at"]
    assert data["summary"] == {"hosts": 4, "ok": 2, "failed": 2, "not_run": 0, "failed_hosts": sorted([hostile, "gw-02"]),
                               "golden": {"passed": 0, "failed": 0, "none": 4}, "gates_failed_hosts": []}
    rows = {h["host"]: h for h in data["hosts"]}
    assert [h["host"] for h in data["hosts"]] == sorted(rows)
    gpu = rows["gpu-01"]
    assert (gpu["verdict"], gpu["health"], gpu["pass_rate"], gpu["engine"]) == ("ok", "healthy", 1.0, "vllm")
    assert gpu["latency_p50_s"] is not None and gpu["tokens_per_s"] is not None and gpu["failures"] == []
    edge = rows["edge-01"]
    assert edge["verdict"] == "ok" and edge["tokens_per_s"] == 20.0 and edge["engine_version"] == "0.6.8"
    gib = rows[hostile]
    assert gib["verdict"] == "failed" and gib["pass_rate"] == 0.0
    assert any(f["reason"].startswith("expected 2.4 h ±0.01, found no final numeric answer") for f in gib["failures"])
    gw2 = rows["gw-02"]
    assert gw2["verdict"] == "failed" and gw2["health"] == "loading_timeout" and gw2["checks"] == []
    assert gw2["failures"][0] == {"name": "health", "reason": "still not answering after the 600s start period"}
    assert r["summary_lines"][0].startswith('<script>alert("x")</script>&<b>gw</b> [gateways/edge_optimized/onnx]: FAILED')
    assert any(line.startswith("gpu-01 [gpu_servers/production_gpu/vllm]: OK - health healthy, 6/6 checks passed (100%)")
               for line in r["summary_lines"])


def test_html_has_one_row_per_host_and_escapes_everything(tmp_path, run_module, site_hosts, hostile) -> None:
    run_module(slm_site_report.main, {"hosts": site_hosts, "dest": str(tmp_path), "site": "<lab & co>"})
    page = (tmp_path / "site_report.html").read_text()
    parser = Rows()
    parser.feed(page)
    assert sorted(parser.rows) == sorted(h["host"] for h in site_hosts)
    assert "script" not in parser.tags and hostile not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&lt;b&gt;gw&lt;/b&gt;" in page
    assert "&lt;lab &amp; co&gt;" in page
    assert page.count("<svg") == 1 and "p50 latency (s)" in page and "throughput (tokens/s)" in page


def test_html_needs_nothing_from_the_network(tmp_path, run_module, site_hosts) -> None:
    run_module(slm_site_report.main, {"hosts": site_hosts, "dest": str(tmp_path)})
    page = (tmp_path / "site_report.html").read_text()
    parser = Rows()
    parser.feed(page)
    assert parser.links == []
    assert not parser.tags & {"script", "link", "img", "iframe", "object", "embed", "video", "audio", "image", "use"}
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    assert "@import" not in style and "url(" not in style


def test_rerendering_the_same_results_is_not_a_change(tmp_path, run_module, site_hosts) -> None:
    args = {"hosts": site_hosts, "dest": str(tmp_path / "out"), "site": "lab"}
    first = run_module(slm_site_report.main, args)
    mtime = os.stat(first["html_path"]).st_mtime_ns
    second = run_module(slm_site_report.main, args)
    assert first["changed"] and not second["changed"]
    assert second["generated_at"] == first["generated_at"]
    assert os.stat(first["html_path"]).st_mtime_ns == mtime
    changed = [dict(h) for h in site_hosts]
    changed[0] = dict(changed[0], profile="development")
    third = run_module(slm_site_report.main, dict(args, hosts=changed))
    assert third["changed"]


def test_check_mode_writes_nothing(tmp_path, run_module, site_hosts) -> None:
    r = run_module(slm_site_report.main, {"hosts": site_hosts, "dest": str(tmp_path / "x"), "_ansible_check_mode": True})
    assert r["changed"] and not (tmp_path / "x").exists()


def test_hosts_as_a_dict_and_bad_input(tmp_path, run_module) -> None:
    r = run_module(slm_site_report.main, {"hosts": {"a": {"group": "g"}, "b": None}, "dest": str(tmp_path)})
    assert r["_rc"] == 0 and r["summary"]["not_run"] == 2
    bad = run_module(slm_site_report.main, {"hosts": [{"group": "g"}], "dest": str(tmp_path)})
    assert bad["_rc"] == 1 and bad["msg"] == "hosts[0] must be a dict with a 'host' key; got ['group']"
    dup = run_module(slm_site_report.main, {"hosts": [{"host": "a"}, {"host": "a"}], "dest": str(tmp_path)})
    assert dup["_rc"] == 1 and "appears twice" in dup["msg"]


def test_fail_on_failed_hosts_still_writes(tmp_path, run_module, site_hosts) -> None:
    r = run_module(slm_site_report.main, {"hosts": site_hosts, "dest": str(tmp_path), "fail_on_failed_hosts": True})
    assert r["_rc"] == 1 and r["msg"].startswith("2 host(s) failed verification")
    assert (tmp_path / "site_report.html").exists()


def test_render_without_any_measurements() -> None:
    page = render_html(build_report([{"host": "only"}], "s"), "2025-01-01T00:00:00Z")
    assert 'data-host="only"' in page and "No checks ran on this host." in page


def test_note_and_simulated_hardware_are_shown():
    from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_report import (
        build_report, render_html, summary_lines)

    report = build_report([{"host": "lab-gpu-01", "group": "gpu_servers", "engine": "vllm",
                            "note": "the plan chose vllm, which this collection version does not deploy: not checked",
                            "simulated": ["gpus", "memory.total_mb"]}], site="lab")
    [line] = summary_lines(report)
    assert "NOT_RUN" in line and "does not deploy" in line and "(simulated hardware: gpus, memory.total_mb)" in line
    html = render_html(report, "2026-01-01T00:00:00Z")
    assert "<b>simulated hardware</b>: gpus, memory.total_mb" in html


def test_report_gate_says_the_failing_host_was_not_failed():
    from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_report import build_report, summary_lines

    probe = {"passed": False, "pass_rate": 0.0, "passed_count": 0, "counted": 1,
             "checks": [{"name": "train", "passed": False, "reason": "expected 2.4 h, got 7 h"}]}
    entries = [{"host": "gw-1", "health": {"status": "healthy"}, "probe": dict(probe, gate="report")},
               {"host": "gw-2", "health": {"status": "healthy"}, "probe": dict(probe, gate="enforce")}]
    report_line, enforce_line = summary_lines(build_report(entries, site="lab"))
    assert report_line.startswith("gw-1 [-]: FAILED (gate: report, host not failed) - health healthy, 0/1 checks")
    assert enforce_line.startswith("gw-2 [-]: FAILED - health healthy")


def test_golden_answers_are_shown_apart_from_the_reasoning_result() -> None:
    base = {"health": {"status": "healthy"}, "engine": "onnx",
            "probe": {"passed": False, "pass_rate": 0.0, "pass_threshold": 0.8, "passed_count": 0, "counted": 9,
                      "gate": "report", "failures": [{"name": "train_journey_time", "reason": "no number"}]}}
    good = dict(base, host="gw-good", passed=True, reason="healthy; golden answers (enforced): 3/3 reproduced",
                golden={"passed": True, "summary": "3/3 golden answers reproduced", "gate": "enforce",
                        "answers": [{"passed": True}] * 3})
    bad = dict(base, host="gw-bad", passed=False, reason="golden answers (enforced): 2/3 reproduced; failing: x",
               golden={"passed": False, "summary": "2/3 golden answers reproduced; failing: x: differs from token 0",
                       "gate": "enforce", "answers": [{"passed": True}, {"passed": True}, {"passed": False}]})
    report = build_report([good, bad, dict(base, host="vllm-1", engine="vllm")], "lab")
    rows = {r["host"]: r for r in report["hosts"]}
    assert rows["gw-good"]["golden"]["status"] == "passed" and rows["gw-good"]["verdict"] == "failed", (
        "the reasoning verdict stays failed for the random-weight model")
    assert rows["gw-bad"]["golden"]["reproduced"] == 2 and rows["gw-bad"]["gates_passed"] is False
    assert rows["vllm-1"]["golden"]["status"] == "none" and rows["vllm-1"]["gates_passed"] is None
    assert report["summary"]["golden"] == {"passed": 1, "failed": 1, "none": 1}
    assert report["summary"]["gates_failed_hosts"] == ["gw-bad"]
    page = render_html(report, "2026-12-01T00:00:00Z")
    assert "<th>Golden answers</th><th>Reasoning pass rate</th><th>Gates</th>" in page
    assert ">passed (3/3)</td>" in page and ">failed (2/3)</td>" in page
    assert "differs from token 0" in page
