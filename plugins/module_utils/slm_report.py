# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Site report: per-host health + probe results -> ``site_report.json`` and a static HTML page.

The HTML page has no external assets (inline CSS, inline SVG, no scripts): it opens offline,
from a mail attachment or a CI artifact. Every piece of text from hosts or models is escaped.

Idempotence: the JSON carries ``generated_at``, but "changed" is decided on the content
*without* it. Re-rendering identical results (a re-run of the report task on the same registered
results) leaves both files and their timestamp untouched. New measurements — latencies differ on
every real run — are a change, and honestly reported as one.
"""

from __future__ import annotations

import datetime
import html
import json
import os
import tempfile
from typing import Any, Dict, List, Optional, Tuple

SCHEMA = 1
OK, FAILED, NOT_RUN = "ok", "failed", "not_run"


def _num(v: Any) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _short(text: Any, n: int = 600) -> Any:
    if isinstance(text, str) and len(text) > n:
        return text[:n - 3] + "..."
    return text


def golden_row(entry: Dict[str, Any]) -> Dict[str, Any]:
    """The golden-answer result of a host, kept apart from the reasoning suite's (``status`` none when the
    host's engine has no golden answers)."""
    golden = entry.get("golden") or {}
    if not golden:
        return {"status": "none", "gate": None, "summary": None, "reproduced": None, "total": None}
    answers = golden.get("answers") or []
    return {"status": "passed" if golden.get("passed") else "failed", "gate": golden.get("gate"),
            "summary": _short(golden.get("summary") or golden.get("msg")),
            "reproduced": sum(1 for a in answers if a.get("passed")) if answers else None,
            "total": len(answers) if answers else None,
            "generator": golden.get("generator"), "prompt_set": golden.get("prompt_set")}


def host_row(entry: Dict[str, Any]) -> Dict[str, Any]:
    """Flatten one host's inputs (plan info, slm_health result, slm_probe result) into a report row."""
    health = entry.get("health") or {}
    probe = entry.get("probe") or {}
    checks = [{"name": c.get("name"), "kind": c.get("kind"), "passed": bool(c.get("passed")),
               "counted": c.get("counted", True), "skipped": bool(c.get("skipped")),
               "reason": _short(c.get("reason")), "answer": _short(c.get("answer"), 300),
               "latency_s": _num(c.get("latency_s")), "ttft_s": _num(c.get("ttft_s")),
               "tokens_per_s": _num(c.get("tokens_per_s"))} for c in probe.get("checks") or []]
    health_status = health.get("status") or ("failed" if health.get("failed") else None)
    probe_ran = bool(probe) and probe.get("pass_rate", None) is not None or bool(checks)
    if not health and not probe:
        verdict = NOT_RUN
    elif health_status not in (None, "healthy"):
        verdict = FAILED
    elif probe_ran:
        verdict = OK if probe.get("passed") else FAILED
    else:
        verdict = OK if health_status == "healthy" else NOT_RUN
    failures = probe.get("failures")
    if failures is None:
        failures = [{"name": c["name"], "reason": c["reason"]} for c in checks
                    if c["counted"] and not c["skipped"] and not c["passed"]]
    if health_status not in (None, "healthy"):
        failures = [{"name": "health", "reason": health.get("reason") or health.get("msg") or health_status}] + list(failures)
    return {
        "host": str(entry.get("host")),
        "group": entry.get("group"), "profile": entry.get("profile"), "engine": entry.get("engine"),
        "engine_label": entry.get("engine_label") or None, "release": entry.get("release") or None,
        "verdict": verdict,
        "health": health_status or "not run",
        "health_reason": health.get("reason") or health.get("msg"),
        "engine_version": health.get("engine_version"),
        "model": probe.get("model") or health.get("expected_model"),
        "pass_rate": _num(probe.get("pass_rate")),
        "pass_threshold": _num(probe.get("pass_threshold")),
        "passed_count": probe.get("passed_count"), "counted": probe.get("counted"),
        "gate": probe.get("gate"),
        "latency_p50_s": _num(probe.get("latency_p50_s")),
        "ttft_p50_s": _num(probe.get("ttft_p50_s")),
        "tokens_per_s": _num(probe.get("tokens_per_s")),
        "health_latency_s": _num(health.get("latency_s")),
        "failures": [{"name": f.get("name"), "reason": _short(f.get("reason"))} for f in failures],
        "checks": checks,
        "note": _short(entry.get("note")) or None,
        "simulated": [str(k) for k in entry.get("simulated") or []],
        "golden": golden_row(entry),
        # The verify role's verdict over every enforced gate (None for results that predate it).
        "gates_passed": entry.get("passed") if isinstance(entry.get("passed"), bool) else None,
        "gates_reason": _short(entry.get("reason")) or None,
    }


def build_report(hosts: List[Dict[str, Any]], site: str, title: Optional[str] = None) -> Dict[str, Any]:
    """The report content (without ``generated_at``), hosts sorted by name."""
    rows = sorted((host_row(h) for h in hosts), key=lambda r: r["host"])
    return {
        "schema": SCHEMA, "site": site, "title": title or "SLM fleet report - %s" % site,
        "summary": {"hosts": len(rows), "ok": sum(r["verdict"] == OK for r in rows),
                    "failed": sum(r["verdict"] == FAILED for r in rows),
                    "not_run": sum(r["verdict"] == NOT_RUN for r in rows),
                    "failed_hosts": [r["host"] for r in rows if r["verdict"] == FAILED],
                    "golden": {k: sum(r["golden"]["status"] == k for r in rows) for k in ("passed", "failed", "none")},
                    "gates_failed_hosts": [r["host"] for r in rows if r["gates_passed"] is False]},
        "hosts": rows,
    }


def engine_text(row: Dict[str, Any]) -> str:
    """'ollama (Ollama API emulator)': the engine, and what serves it when the record says."""
    engine = str(row.get("engine") or "")
    return "%s (%s)" % (engine, row["engine_label"]) if engine and row.get("engine_label") else engine


def summary_lines(report: Dict[str, Any]) -> List[str]:
    """One line per host, for the end of ``make demo``."""
    out = []
    for r in report["hosts"]:
        plan = "/".join(str(x) for x in (r["group"], r["profile"], engine_text(r)) if x)
        parts = ["health %s" % r["health"]]
        if r["pass_rate"] is not None:
            parts.append("%s/%s checks passed (%d%%)" % (r["passed_count"], r["counted"], round(r["pass_rate"] * 100)))
        if r["golden"]["status"] != "none":
            parts.append("golden %s%s" % (r["golden"]["status"], "" if r["golden"]["total"] is None else " (%s/%s)" % (
                r["golden"]["reproduced"], r["golden"]["total"])))
        if r["latency_p50_s"] is not None:
            parts.append("p50 %.2f s" % r["latency_p50_s"])
        if r["tokens_per_s"] is not None:
            parts.append("%.1f tok/s" % r["tokens_per_s"])
        verdict = r["verdict"].upper()
        if r["verdict"] == FAILED and r.get("gate") == "report":
            verdict += " (gate: report, host not failed)"
        line = "%s [%s]: %s - %s" % (r["host"], plan or "-", verdict, ", ".join(parts))
        if r["failures"]:
            line += "; failing: " + ", ".join(str(f["name"]) for f in r["failures"])
        if r.get("note"):
            line += "; " + r["note"]
        if r.get("simulated"):
            line += " (simulated hardware: %s)" % ", ".join(r["simulated"])
        if r.get("gates_passed") is not None:
            line += "; gates: %s" % ("PASSED" if r["gates_passed"] else "FAILED - " + str(r["gates_reason"]))
        out.append(line)
    return out


# --------------------------------------------------------------------------- HTML

def e(value: Any) -> str:
    """Escape for HTML and SVG text and attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def _fmt(v: Optional[float], unit: str = "", digits: int = 2) -> str:
    return "–" if v is None else ("%.*f%s" % (digits, v, unit))


def _bars(rows: List[Dict[str, Any]], key: str, label: str, unit: str, color: str, x0: int, width: int,
          top: int, row_h: int) -> List[str]:
    vals = [r[key] for r in rows if r[key] is not None]
    vmax = max(vals) if vals else 1.0
    vmax = vmax if vmax > 0 else 1.0
    out = ['<text x="%d" y="%d" class="axis">%s</text>' % (x0, top - 8, e(label))]
    for i, r in enumerate(rows):
        y = top + i * row_h
        v = r[key]
        w = 0 if v is None else max(1, int(round(width * v / vmax)))
        out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s: %s</title></rect>' % (
            x0, y + 4, w, row_h - 10, color, e(r["host"]), e(_fmt(v, unit))))
        out.append('<text x="%d" y="%d" class="val">%s</text>' % (x0 + w + 6, y + row_h - 9, e(_fmt(v, unit))))
    return out


def chart_svg(rows: List[Dict[str, Any]]) -> str:
    """Two bar panels per host: p50 latency (s) and decode tokens/s. Inline SVG, text escaped."""
    row_h, top, name_w, panel_w = 28, 34, 190, 300
    height = top + max(1, len(rows)) * row_h + 10
    width = name_w + 2 * (panel_w + 90)
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" role="img" width="%d" height="%d" viewBox="0 0 %d %d" '
             'aria-label="p50 latency and tokens per second per host">' % (width, height, width, height)]
    for i, r in enumerate(rows):
        y = top + i * row_h
        name = r["host"] if len(r["host"]) <= 24 else r["host"][:23] + "…"
        parts.append('<text x="%d" y="%d" class="host" text-anchor="end"><title>%s</title>%s</text>' % (
            name_w - 10, y + row_h - 9, e(r["host"]), e(name)))
    parts += _bars(rows, "latency_p50_s", "p50 latency (s)", " s", "#4a78b5", name_w, panel_w, top, row_h)
    parts += _bars(rows, "tokens_per_s", "throughput (tokens/s)", "", "#3f9a5a", name_w + panel_w + 90, panel_w,
                   top, row_h)
    parts.append("</svg>")
    return "\n".join(parts)


CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px}.meta{color:#5b6475;margin-bottom:16px}
.cards{display:flex;gap:12px;margin:12px 0 20px}.card{border:1px solid #d8dde6;border-radius:6px;padding:8px 14px}
.card b{display:block;font-size:20px}table{border-collapse:collapse;width:100%;margin:8px 0 24px}
th,td{border-bottom:1px solid #e3e7ee;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f3f5f9;font-weight:600}td.num{text-align:right;white-space:nowrap}
.ok{color:#1e7b34;font-weight:600}.failed{color:#b3261e;font-weight:600}.not_run{color:#7a6a00;font-weight:600}
tr.row-failed{background:#fff5f4}ul.fail{margin:0;padding-left:16px}ul.fail li{margin:2px 0}
td{overflow-wrap:break-word}td.fails{min-width:24em;overflow-wrap:anywhere}
svg text{font:12px system-ui,sans-serif;fill:#1d2330}svg .axis{font-weight:600}svg .val{fill:#5b6475}
details{margin:6px 0}summary{cursor:pointer}code,pre{font:12px ui-monospace,Menlo,Consolas,monospace}
pre{white-space:pre-wrap;max-width:60em;margin:0}
"""


def render_html(report: Dict[str, Any], generated_at: str) -> str:
    """The static page (see the module docstring)."""
    rows = report["hosts"]
    s = report["summary"]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>%s</title><style>%s</style></head><body>" % (e(report["title"]), CSS),
           "<h1>%s</h1>" % e(report["title"]),
           '<div class="meta">site <b>%s</b> · generated %s · %d host(s)</div>' % (
               e(report["site"]), e(generated_at), s["hosts"]),
           '<div class="cards"><div class="card"><b class="ok">%d</b>ok</div>'
           '<div class="card"><b class="failed">%d</b>failed</div>'
           '<div class="card"><b class="not_run">%d</b>not run</div></div>' % (s["ok"], s["failed"], s["not_run"]),
           "<h2>Latency and throughput</h2>", chart_svg(rows),
           "<h2>Hosts</h2>",
           '<table id="hosts"><thead><tr><th>Host</th><th>Group</th><th>Profile</th><th>Engine</th><th>Result</th>'
           "<th>Health</th><th>Golden answers</th><th>Reasoning pass rate</th><th>Gates</th><th>p50 latency</th><th>TTFT p50</th><th>Tokens/s</th>"
           "<th>Failures</th></tr></thead><tbody>"]
    for r in rows:
        rate = "–"
        if r["pass_rate"] is not None:
            rate = "%d%% (%s/%s)" % (round(r["pass_rate"] * 100), r["passed_count"], r["counted"])
        fails = "".join("<li><b>%s</b>: %s</li>" % (e(f["name"]), e(f["reason"])) for f in r["failures"])
        g = r["golden"]
        if g["status"] == "failed":
            fails += "<li><b>golden answers</b>: %s</li>" % e(g["summary"])
        golden_cell = "none" if g["status"] == "none" else "%s%s" % (
            g["status"], "" if g["total"] is None else " (%s/%s)" % (g["reproduced"], g["total"]))
        gates = {True: "passed", False: "failed", None: "–"}[r["gates_passed"]]
        if r.get("release"):
            fails += "<li><b>release</b>: %s</li>" % e(r["release"])
        if r.get("note"):
            fails += "<li><b>note</b>: %s</li>" % e(r["note"])
        if r.get("simulated"):
            fails += "<li><b>simulated hardware</b>: %s</li>" % e(", ".join(r["simulated"]))
        out.append(
            '<tr class="row-%s" data-host="%s"><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class="%s">%s</td>'
            '<td class="%s" title="%s">%s</td><td class="%s" title="%s">%s</td><td class="num">%s</td>'
            '<td class="%s" title="%s">%s</td><td class="num">%s</td><td class="num">%s</td>'
            '<td class="num">%s</td><td class="fails">%s</td></tr>' % (
                e(r["verdict"]), e(r["host"]), e(r["host"]), e(r["group"] or "–"), e(r["profile"] or "–"),
                e(engine_text(r) or "–"), e(r["verdict"]), e(r["verdict"].replace("_", " ")),
                {"healthy": "ok", "not run": "not_run"}.get(r["health"], "failed"), e(r["health_reason"] or ""),
                e(r["health"]), {"passed": "ok", "failed": "failed"}.get(g["status"], "not_run"), e(g["summary"] or ""),
                e(golden_cell), e(rate), {"passed": "ok", "failed": "failed"}.get(gates, "not_run"),
                e(r["gates_reason"] or ""), e(gates), e(_fmt(r["latency_p50_s"], " s")), e(_fmt(r["ttft_p50_s"], " s")),
                e(_fmt(r["tokens_per_s"], "", 1)), ('<ul class="fail">%s</ul>' % fails) if fails else "–"))
    out.append("</tbody></table><h2>Checks per host</h2>")
    for r in rows:
        out.append('<details data-host="%s"><summary><b>%s</b> — %s</summary>' % (
            e(r["host"]), e(r["host"]), e(r["verdict"].replace("_", " "))))
        if not r["checks"]:
            out.append("<p>No checks ran on this host.</p></details>")
            continue
        out.append("<table><thead><tr><th>Check</th><th>Kind</th><th>Result</th><th>Answer</th><th>Reason</th>"
                   "<th>Latency</th><th>TTFT</th><th>Tokens/s</th></tr></thead><tbody>")
        for c in r["checks"]:
            status = "skipped" if c["skipped"] else ("pass" if c["passed"] else "fail")
            if not c["counted"] and not c["skipped"]:
                status += " (not counted)"
            out.append('<tr><td>%s</td><td>%s</td><td class="%s">%s</td><td><pre>%s</pre></td><td>%s</td>'
                       '<td class="num">%s</td><td class="num">%s</td><td class="num">%s</td></tr>' % (
                           e(c["name"]), e(c["kind"]), "ok" if c["passed"] else ("not_run" if c["skipped"] else "failed"),
                           e(status), e(c["answer"] if c["answer"] is not None else ""), e(c["reason"]),
                           e(_fmt(c["latency_s"], " s")), e(_fmt(c["ttft_s"], " s")), e(_fmt(c["tokens_per_s"], "", 1))))
        out.append("</tbody></table></details>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- files

def _atomic_write(path: str, data: str, mode: int = 0o644) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_report(report: Dict[str, Any], dest: str, basename: str = "site_report", check_mode: bool = False,
                 now: Optional[datetime.datetime] = None) -> Tuple[bool, str, str, str]:
    """Write ``<dest>/<basename>.json`` and ``.html`` unless the content is unchanged.

    Returns ``(changed, json_path, html_path, generated_at)``.
    """
    json_path = os.path.join(dest, basename + ".json")
    html_path = os.path.join(dest, basename + ".html")
    old: Optional[Dict[str, Any]] = None
    try:
        with open(json_path, encoding="utf-8") as fh:
            old = json.load(fh)
    except (OSError, ValueError):
        old = None
    if isinstance(old, dict) and os.path.exists(html_path):
        old_stamp = old.pop("generated_at", None)
        if old == report:
            return False, json_path, html_path, str(old_stamp)
    stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not check_mode:
        os.makedirs(dest, exist_ok=True)
        data = dict(report, generated_at=stamp)
        _atomic_write(json_path, json.dumps(data, indent=2, sort_keys=True) + "\n")
        _atomic_write(html_path, render_html(report, stamp))
    return True, json_path, html_path, stamp
