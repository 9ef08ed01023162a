"""The fleet index of a site-by-site rollout: each site's status, report links and release per host.

Pure logic for ``scripts/fleet-rollout.py`` (no processes, no clock): the status of a site from its
``ansible-playbook`` exit code and the ``rollout.json`` the run wrote, whether the rollout goes on
to the next site, the index content (``index.json``) and its static HTML page (``index.html``:
no scripts, no external assets, every value HTML-escaped).

Site statuses:
  completed    the run exited 0 and its rollout summary (if any) says completed
  aborted      the rollout stopped at a failed batch (rollout.json status ``aborted``)
  failed       the run exited non-zero without an aborted rollout summary (preflight refused a host,
               a host was unreachable before the rollout, a bad variable...)
  not started  an earlier site did not complete, so this one was left untouched
  pending      still to run (only in an index written while the rollout is under way)
"""

from __future__ import annotations

import html
import os
from typing import Any, Dict, List, Optional

COMPLETED, ABORTED, FAILED, NOT_STARTED, PENDING = "completed", "aborted", "failed", "not started", "pending"
STATUSES = (COMPLETED, ABORTED, FAILED, NOT_STARTED, PENDING)
SCHEMA = "edgeai.slm_fleet/fleet-index/v1"


def site_status(exit_code: int, rollout: Optional[Dict[str, Any]]) -> str:
    """The status of a site that ran, from its exit code and its rollout summary (None if none)."""
    declared = (rollout or {}).get("status")
    if declared == ABORTED:
        return ABORTED
    if exit_code != 0 or declared not in (None, COMPLETED):  # e.g. "in progress": the run died mid-way
        return FAILED
    return COMPLETED


def goes_on(status: str) -> bool:
    """Whether the rollout continues with the next site after a site with this status."""
    return status == COMPLETED


def host_rows(rollout: Optional[Dict[str, Any]], site_report: Optional[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One row per host (name, batch, outcome, release, previous release, reason), sorted by name.

    From the rollout summary when there is one; otherwise from the site's verify report (outcome =
    its verdict), so a site run by a playbook that writes no rollout summary still lists its hosts.
    """
    rows: List[Dict[str, Any]] = []
    hosts = (rollout or {}).get("hosts")
    if isinstance(hosts, dict):
        for name, entry in hosts.items():
            entry = entry if isinstance(entry, dict) else {}
            rows.append({"host": str(name), "batch": entry.get("batch"), "outcome": entry.get("outcome"),
                         "release": entry.get("release"),
                         "previous_release": entry.get("previous_release", entry.get("release_before")),
                         "reason": entry.get("reason")})
    elif isinstance((site_report or {}).get("hosts"), list):
        for entry in site_report["hosts"]:
            if isinstance(entry, dict) and entry.get("host"):
                reason = "; ".join(str(f.get("reason")) for f in entry.get("failures") or [] if isinstance(f, dict))
                outcome = entry.get("verdict")
                if outcome == "failed" and entry.get("gate") == "report":
                    outcome = "failed (gate: report, not enforced)"
                rows.append({"host": str(entry["host"]), "batch": None, "outcome": outcome,
                             "release": entry.get("release"), "previous_release": None, "reason": reason or None})
    return sorted(rows, key=lambda r: r["host"])


def site_entry(name: str, inventory: str, status: str, *, exit_code: Optional[int] = None,
               rollout: Optional[Dict[str, Any]] = None, site_report: Optional[Dict[str, Any]] = None,
               report_html: Optional[str] = None, rollout_json: Optional[str] = None,
               log: Optional[str] = None, duration_s: Optional[float] = None) -> Dict[str, Any]:
    """One site of the index. Paths are as given (the caller makes them relative to the index)."""
    if status not in STATUSES:
        raise ValueError("unknown site status %r (allowed: %s)" % (status, ", ".join(STATUSES)))
    rollout = rollout or {}
    release = rollout.get("release")
    if not release and isinstance(rollout.get("releases"), list):
        release = ", ".join(str(r) for r in rollout["releases"]) or None
    hosts = host_rows(rollout or None, site_report)
    if not release:  # no summary: the releases the hosts serve, from the site report
        release = ", ".join(sorted({str(h["release"]) for h in hosts if h.get("release")})) or None
    return {"site": name, "inventory": inventory, "status": status, "exit_code": exit_code,
            "release": release, "failed_batch": rollout.get("failed_batch"), "reason": rollout.get("reason") or None,
            "report_html": report_html, "rollout_json": rollout_json, "log": log,
            "duration_s": round(duration_s, 1) if duration_s is not None else None,
            "hosts": hosts}


def build_index(sites: List[Dict[str, Any]], generated_at: str, release: Optional[str] = None) -> Dict[str, Any]:
    """The index: the sites in rollout order, the overall status and where the rollout stopped."""
    stopped = next((s["site"] for s in sites if s["status"] in (ABORTED, FAILED)), None)
    if stopped:
        overall = "stopped"
    elif all(s["status"] == COMPLETED for s in sites):
        overall = COMPLETED
    else:
        overall = "running"
    releases = sorted({str(s["release"]) for s in sites if s.get("release")})
    return {"schema": SCHEMA, "generated_at": generated_at, "status": overall, "stopped_at": stopped,
            "release": release or (", ".join(releases) if releases else None),
            "order": [s["site"] for s in sites],
            "counts": {st: sum(s["status"] == st for s in sites) for st in STATUSES},
            "sites": sites}


def relative_link(target: Optional[str], index_dir: str) -> Optional[str]:
    """``target`` relative to the index's directory, with forward slashes (None stays None)."""
    if not target:
        return None
    return os.path.relpath(target, index_dir).replace(os.sep, "/")


def _e(value: Any) -> str:
    """HTML-escaped text of a value; None is an empty cell."""
    return "" if value is None else html.escape(str(value), quote=True)


def _short(value: Any, limit: int = 300) -> Any:
    """Long text cut for the page (the full text stays in index.json)."""
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[:limit] + " ... (full text in index.json)"


def _link(href: Optional[str], text: str) -> str:
    if not href:
        return '<span class="none">none</span>'
    return '<a href="%s">%s</a>' % (_e(href), _e(text))


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th,td:first-child,code,.status{white-space:nowrap}
td.reason{overflow-wrap:anywhere;min-width:30em}
th{background:#f3f3f3}
.status{font-weight:bold;padding:.1em .5em;border-radius:.3em}
.completed{background:#d4f4d4}.aborted,.failed,.stopped{background:#f8d0d0}
.not-started,.pending,.running{background:#e8e8e8}.none{color:#888}
"""


def _status_span(status: str) -> str:
    return '<span class="status %s">%s</span>' % (_e(status.replace(" ", "-")), _e(status))


def render_html(index: Dict[str, Any]) -> str:
    """The self-contained index page (inline CSS, no scripts, no external URL)."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>SLM fleet rollout - %s</title>" % _e(index.get("release") or "release"),
           "<style>%s</style></head><body>" % _CSS,
           "<h1>SLM fleet rollout</h1>",
           "<p>Release: <b>%s</b> &middot; status %s%s &middot; generated %s</p>" % (
               _e(index.get("release") or "unknown"), _status_span(index["status"]),
               (" at site <b>%s</b>" % _e(index["stopped_at"])) if index.get("stopped_at") else "",
               _e(index.get("generated_at"))),
           "<h2>Sites, in rollout order</h2>",
           "<table><thead><tr><th>#</th><th>site</th><th>inventory</th><th>status</th><th>release</th>"
           "<th>failed batch</th><th>hosts</th><th>site report</th><th>rollout summary</th><th>log</th>"
           "<th>duration</th></tr></thead><tbody>"]
    for n, site in enumerate(index["sites"], 1):
        duration = "%s s" % site["duration_s"] if site.get("duration_s") is not None else ""
        out.append("<tr><td>%d</td><td>%s</td><td><code>%s</code></td><td>%s</td><td>%s</td><td>%s</td>"
                   "<td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
                       n, _e(site["site"]), _e(site["inventory"]), _status_span(site["status"]),
                       _e(site.get("release")), _e(site.get("failed_batch")), len(site["hosts"]),
                       _link(site.get("report_html"), "site report"),
                       _link(site.get("rollout_json"), "rollout.json"), _link(site.get("log"), "log"),
                       _e(duration)))
    out.append("</tbody></table>")
    for site in index["sites"]:
        out.append('<h2 id="site-%s">%s %s</h2>' % (_e(site["site"]), _e(site["site"]), _status_span(site["status"])))
        if site.get("reason"):
            out.append("<p>Why: %s</p>" % _e(_short(site["reason"], 600)))
        if not site["hosts"]:
            out.append('<p class="none">%s</p>' % (
                "Not started: an earlier site did not complete; its hosts were not touched."
                if site["status"] == NOT_STARTED else "No host results recorded."))
            continue
        out.append("<table><thead><tr><th>host</th><th>batch</th><th>outcome</th><th>release</th>"
                   "<th>previous release</th><th>reason</th></tr></thead><tbody>")
        row_html = ("<tr><td>%s</td><td>%s</td><td>%s</td><td><code>%s</code></td><td><code>%s</code></td>"
                    '<td class="reason">%s</td></tr>')
        for row in site["hosts"]:
            out.append(row_html % (_e(row["host"]), _e(row.get("batch")), _e(row.get("outcome")), _e(row.get("release")),
                                   _e(row.get("previous_release")), _e(_short(row.get("reason")))))
        out.append("</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
