"""Print a site's verification summary from its report: one line per host, then the report's path.

The verify role prints the same lines at the end of ``site.yml``; ``make demo`` runs another
playbook after it (the gateways' answers), so it prints them again from the written report to end
with the site's state.

Usage: site-summary.py [REPORT_DIR]   (default: artifacts/sites/lab)
Exit codes: 0 printed, 2 no readable report in REPORT_DIR.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# collections/ansible_collections/edgeai/slm_fleet links back to this repository (make collections).
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_report import summary_lines  # noqa: E402  # pylint: disable=wrong-import-position


def main(argv: list[str]) -> int:
    report_dir = Path(argv[1] if len(argv) > 1 else REPO / "artifacts/sites/lab")
    json_path, html_path = report_dir / "site_report.json", report_dir / "site_report.html"
    try:
        report = json.loads(json_path.read_text(encoding="utf-8"))
        lines = summary_lines(report)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"site-summary: no readable site report at {json_path} ({exc}); "
              "run playbooks/verify.yml for the site first", file=sys.stderr)
        return 2
    summary = report.get("summary", {})
    print(f"Site {report.get('site', '?')}: {summary.get('hosts', len(lines))} hosts, "
          f"{summary.get('ok', 0)} ok, {summary.get('failed', 0)} failed, {summary.get('not_run', 0)} not checked")
    for line in lines:
        print(f"  {line}")
    print(f"Site report: {html_path.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
