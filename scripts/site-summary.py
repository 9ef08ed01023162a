"""Print a site's verification summary from its report: one line per host, then the report's path.

The verify role prints the same lines at the end of ``site.yml``; ``make demo`` runs another
playbook after it (the gateways' answers), so it prints them again from the written report to end
with the site's state.

Usage: site-summary.py [REPORT_DIR]   (default: artifacts/sites/lab)
Exit codes: 0 printed, 2 no readable report in REPORT_DIR.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def _report_module() -> ModuleType:
    """The collection's report code (standard library only), loaded from its file."""
    path = REPO / "plugins/module_utils/slm_report.py"
    spec = importlib.util.spec_from_file_location("slm_report", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    report_dir = Path(argv[1] if len(argv) > 1 else REPO / "artifacts/sites/lab")
    json_path, html_path = report_dir / "site_report.json", report_dir / "site_report.html"
    try:
        report = json.loads(json_path.read_text(encoding="utf-8"))
        lines = _report_module().summary_lines(report)
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
