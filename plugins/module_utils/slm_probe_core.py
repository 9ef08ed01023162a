# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a suite of checks against one engine and summarise it (the logic behind ``slm_probe``).

Kept out of the module so it can be tested and reused without ``AnsibleModule``.

Counting rules:

* a check whose ``only_on`` list names neither the host's API nor its engine is *skipped*
  (``skipped: true``, not counted);
* a check whose ``informational_on`` list names the API or engine runs and is reported, but is
  not counted in ``pass_rate`` (``counted: false``) — the default suite uses this for tool calls
  on Ollama, which are unreliable with phi4-mini;
* a ``code`` check whose jail is not available on the host (mode ``container`` without a usable
  Docker engine or image) is *not run*: skipped, not counted, listed in ``not_run`` and in the
  summary line with the reason — never run in a weaker mode instead;
* ``pass_rate`` = passed counted checks / counted checks (None when nothing counted);
* latency, TTFT and tokens/s summaries are medians over the checks that got an answer.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_checks import judge, quote
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_jail import run_python


def messages_for(check: Dict[str, Any], default_system: Optional[str]) -> List[Dict[str, str]]:
    """Chat messages: the check's system prompt (or the suite default), then the prompt."""
    system = check.get("system", default_system)
    msgs = [{"role": "system", "content": system}] if system else []
    msgs.append({"role": "user", "content": check["prompt"]})
    return msgs


def labels_match(labels: List[str], wanted: Optional[List[str]]) -> bool:
    """True when any of the host's labels (api, engine) is in ``wanted``."""
    allowed = [w.lower() for w in wanted or []]
    return any(label.lower() in allowed for label in labels if label)


def run_check(client: Any, model: str, check: Dict[str, Any], labels: List[str], max_tokens: int,
              temperature: float, timeout: float, system: Optional[str] = None,
              runner: Callable[..., Any] = run_python) -> Dict[str, Any]:
    """Ask one check's prompt and judge the reply; never raises for engine failures."""
    out: Dict[str, Any] = {"name": check["name"], "kind": check["kind"], "passed": False, "reason": "",
                           "answer": None, "latency_s": None, "ttft_s": None, "tokens": None,
                           "tokens_per_s": None, "skipped": False, "counted": True, "error": False,
                           "finish_reason": None, "excerpt": "", "details": {}}
    if check.get("only_on") and not labels_match(labels, check["only_on"]):
        out.update(skipped=True, counted=False, reason="skipped: runs only on %s" % ", ".join(check["only_on"]))
        return out
    if labels_match(labels, check.get("informational_on")):
        out["counted"] = False
    is_tool = check["kind"] == "tool_call"
    reply = client.chat(model, messages_for(check, system), max_tokens=int(check.get("max_tokens", max_tokens)),
                        temperature=float(check.get("temperature", temperature)),
                        tools=check.get("tools") if is_tool else None,
                        tool_choice=check.get("tool_choice") if is_tool else None,
                        # vLLM's phi4_mini_json parser finds tool calls only in non-streamed replies
                        stream=not is_tool, timeout=float(check.get("timeout", timeout)))
    out.update(latency_s=reply.latency_s, ttft_s=reply.ttft_s, tokens=reply.completion_tokens,
               tokens_per_s=reply.tokens_per_s, finish_reason=reply.finish_reason,
               excerpt=(reply.content or "")[-400:])
    if not reply.ok and not reply.content:
        out.update(error=True, reason="request failed: %s" % reply.error)
        return out
    passed, reason, answer, details = judge(check, reply.content, reply.tool_calls, runner=runner)
    if reply.finish_reason == "length" and not passed:
        reason += " (the reply was cut off at max_tokens=%d)" % int(check.get("max_tokens", max_tokens))
    if not reply.ok:
        reason += " (the stream ended early: %s)" % reply.error
    out.update(passed=bool(passed), reason=reason, answer=answer, details=details)
    if details.get("not_run"):  # no jail for code on this host: neither passed nor counted
        out.update(skipped=True, counted=False)
    elif not out["counted"]:
        out["reason"] = "informational here (not counted): " + reason
    return out


def _median(values: List[Optional[float]]) -> Optional[float]:
    vals = [v for v in values if v is not None]
    return round(statistics.median(vals), 4) if vals else None


def run_suite(client: Any, model: str, checks: List[Dict[str, Any]], labels: List[str], max_tokens: int = 768,
              temperature: float = 0.0, timeout: float = 120.0, concurrency: int = 1,
              system: Optional[str] = None, pass_threshold: float = 0.8,
              runner: Callable[..., Any] = run_python) -> Dict[str, Any]:
    """All checks (``concurrency`` at a time, results in suite order) plus the summary."""
    start = time.monotonic()

    def one(check: Dict[str, Any]) -> Dict[str, Any]:
        try:
            return run_check(client, model, check, labels, max_tokens, temperature, timeout, system, runner)
        except Exception as exc:  # a bug must cost one check, not the whole host's report
            return {"name": check.get("name"), "kind": check.get("kind"), "passed": False, "skipped": False,
                    "counted": True, "error": True, "reason": "internal error: %s: %s" % (type(exc).__name__, exc),
                    "answer": None, "latency_s": None, "ttft_s": None, "tokens": None, "tokens_per_s": None}

    if concurrency > 1:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            results = list(pool.map(one, checks))
    else:
        results = [one(c) for c in checks]
    counted = [r for r in results if r["counted"] and not r["skipped"]]
    passed = [r for r in counted if r["passed"]]
    rate = round(len(passed) / len(counted), 4) if counted else None
    answered = [r for r in results if r.get("latency_s") is not None and not r.get("error")]
    tps = [r["tokens_per_s"] for r in answered if r.get("tokens_per_s")]
    failed = [r for r in counted if not r["passed"]]
    return {
        "checks": results,
        "total": len(results),
        "counted": len(counted),
        "passed_count": len(passed),
        "failed_count": len(failed),
        "skipped_count": len([r for r in results if r["skipped"]]),
        "pass_rate": rate,
        "pass_threshold": pass_threshold,
        "passed": rate is not None and rate >= pass_threshold,
        "failures": [{"name": r["name"], "reason": r["reason"]} for r in failed],
        "not_run": [{"name": r["name"], "reason": r["reason"]} for r in results if (r.get("details") or {}).get("not_run")],
        "latency_p50_s": _median([r["latency_s"] for r in answered]),
        "ttft_p50_s": _median([r["ttft_s"] for r in answered]),
        "tokens_per_s": _median(tps),  # type: ignore[arg-type]
        "duration_s": round(time.monotonic() - start, 3),
    }


def summary_line(result: Dict[str, Any]) -> str:
    """``6/9 checks passed (67% < 80%): train_time: expected 2.4 h ..., ...``."""
    rate = result.get("pass_rate")
    pct = "n/a" if rate is None else "%d%%" % round(rate * 100)
    line = "%d/%d checks passed (%s %s %d%%)" % (
        result["passed_count"], result["counted"], pct, ">=" if result["passed"] else "<",
        round(result["pass_threshold"] * 100))
    if result["failures"]:
        line += "; failing: " + "; ".join("%s: %s" % (f["name"], f["reason"]) for f in result["failures"])
    if result.get("not_run"):
        line += "; %d code check%s not run: %s" % (len(result["not_run"]), "" if len(result["not_run"]) == 1 else "s",
                                                   result["not_run"][0]["reason"])
    return line


__all__ = ["run_suite", "run_check", "summary_line", "messages_for", "quote"]
