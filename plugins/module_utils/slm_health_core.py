# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Readiness and health of one engine (the logic behind ``slm_health``).

Engine facts this relies on:

* vLLM refuses connections while it loads the model, then ``GET /health`` answers 200 with an
  empty body; ``--api-key`` guards ``/v1/*`` only, so ``/health`` works without the key and
  ``/v1/models`` needs it.
* Ollama has no ``/health``; ``/api/version`` answers as soon as the server runs, and the model
  list is ``/api/tags``.
* An engine may also answer 503 while loading (our ONNX engine, proxies in front of vLLM).

During ``start_period`` "connection refused"/"reset", 503, and a 200 whose JSON body reports a
``status`` that is not ready-like (``{"status": "model_not_loaded"}``, as the seed's server
answers) mean *loading* and are retried every ``interval`` seconds; after it, they are final. Any other failure (DNS, TLS, 4xx, 500,
timeout) is reported at once: waiting would not fix it.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_client import (
    OLLAMA,
    ollama_model_name,
)
from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_http import REFUSED, RESET

HEALTHY, UNHEALTHY, LOADING_TIMEOUT = "healthy", "unhealthy", "loading_timeout"
READY_WORDS = ("ok", "healthy", "ready", "up", "pass", "serving", "running")


def body_not_ready(res: Any) -> Optional[str]:
    """The status a 200 health body reports when it says "not ready" (``{"status": "loading"}``).

    vLLM answers with an empty body; servers modelled on the seed's answer 200 with
    ``{"status": "model_not_loaded"}`` — that is not healthy, whatever the status code says.
    """
    data = res.json() if res.ok and res.body.strip() else None
    status = data.get("status") if isinstance(data, dict) else None
    if isinstance(status, str) and status.strip().lower() not in READY_WORDS:
        return status
    return None


def model_served(api: str, expected: str, served: List[str]) -> bool:
    """Whether ``expected`` is among ``served`` (Ollama: ``phi4-mini`` == ``phi4-mini:latest``)."""
    if api == OLLAMA:
        want = ollama_model_name(expected)
        return any(ollama_model_name(s) == want for s in served)
    return expected in served


def check_health(client: Any, api: str, expected_model: Optional[str], start_period: float = 120.0,
                 interval: float = 2.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> Dict[str, Any]:
    """Wait for readiness, then check health, served models and version."""
    started = clock()
    attempts = 0
    out: Dict[str, Any] = {"status": UNHEALTHY, "latency_s": None, "served_models": [], "engine_version": None,
                           "reason": "", "attempts": 0, "waited_s": 0.0, "health_endpoint": None,
                           "expected_model": expected_model, "model_served": None}
    while True:
        attempts += 1
        res = client.health(retry=False)
        loading = res.error_kind in (REFUSED, RESET) or res.status == 503 or body_not_ready(res) is not None
        if not loading:
            break
        if clock() - started >= start_period:
            out.update(status=LOADING_TIMEOUT, attempts=attempts, waited_s=round(clock() - started, 3),
                       health_endpoint=res.url,
                       reason="not ready after the %gs start period (%d attempts): %s" % (
                           start_period, attempts, res.describe()))
            return out
        sleep(interval)
    out.update(attempts=attempts, waited_s=round(clock() - started, 3), latency_s=res.latency_s,
               health_endpoint=res.url)

    if not res.ok:
        if api != OLLAMA and res.status == 404:
            # Some OpenAI-compatible servers have no /health; /v1/models then proves liveness.
            out["health_note"] = "no /health endpoint (404); liveness taken from /v1/models"
        else:
            hint = " (the API key guards /v1/* only; /health should not need it)" if res.status == 401 else ""
            out["reason"] = "health check failed: %s%s" % (res.describe(), hint)
            return out
    models_res, served = client.models()
    out["served_models"] = served
    if not models_res.ok:
        hint = ""
        if models_res.status in (401, 403):
            hint = " — the engine wants an API key: set api_key" if not client.t.has_api_key else " — the API key was rejected"
        out["reason"] = "listing models failed: %s%s" % (models_res.describe(), hint)
        return out
    if out.get("health_note"):
        out["latency_s"] = models_res.latency_s
    out["engine_version"] = client.version()
    if expected_model:
        out["model_served"] = model_served(api, expected_model, served)
        if not out["model_served"]:
            out["reason"] = "expected model %r is not served; served: %s" % (
                expected_model, ", ".join(served) if served else "none")
            return out
    out["status"] = HEALTHY
    out["reason"] = "healthy: %s answered in %.3fs%s" % (
        out["health_endpoint"], out["latency_s"] or 0.0,
        ("; serving %s" % expected_model) if expected_model else "")
    return out
