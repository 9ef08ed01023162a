"""Prometheus metrics in the text exposition format (version 0.0.4), written by hand.

All updates happen on the event loop, so no locking is needed.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _num(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


class Histogram:
    """Cumulative-bucket histogram."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Record one observation."""
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value

    def lines(self, name: str, labels: tuple[tuple[str, str], ...] = ()) -> list[str]:
        """Exposition lines for this histogram."""
        out, running = [], 0
        for bound, count in zip((*self.buckets, float("inf")), self.counts, strict=True):
            running += count
            le = "+Inf" if bound == float("inf") else _num(bound)
            out.append(f"{name}_bucket{_labels((*labels, ('le', le)))} {running}")
        out.append(f"{name}_sum{_labels(labels)} {_num(self.total)}")
        out.append(f"{name}_count{_labels(labels)} {running}")
        return out


class Metrics:
    """The server's metrics. `read_at_scrape` maps a name to (type, help, callable): gauges and
    counters kept elsewhere (the admission queue, the engine thread) and read when scraped."""

    def __init__(
        self, model_id: str, read_at_scrape: dict[str, tuple[str, str, Callable[[], float]]]
    ) -> None:
        self.model_id = model_id
        self.requests: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.prompt_tokens = 0
        self.reused_prompt_tokens = 0
        self.generated_tokens = 0
        self.ttft = Histogram()
        self.latency: defaultdict[str, Histogram] = defaultdict(Histogram)
        self.read_at_scrape = read_at_scrape

    def request_done(self, endpoint: str, status: int, seconds: float | None = None) -> None:
        """Count a finished request (any status) and its latency."""
        self.requests[(endpoint, str(status))] += 1
        if seconds is not None:
            self.latency[endpoint].observe(seconds)

    def render(self) -> str:
        """The /metrics page."""
        p = "slm_engine_"
        lines = [
            f"# HELP {p}model_info The model this server serves.",
            f"# TYPE {p}model_info gauge",
            f"{p}model_info{_labels((('model', self.model_id),))} 1",
            f"# HELP {p}requests_total Finished HTTP requests by endpoint and status code.",
            f"# TYPE {p}requests_total counter",
        ]
        for (endpoint, status), count in sorted(self.requests.items()):
            lines.append(
                f"{p}requests_total{_labels((('endpoint', endpoint), ('status', status)))} {count}"
            )
        lines += [
            f"# HELP {p}prompt_tokens_total Prompt tokens processed.",
            f"# TYPE {p}prompt_tokens_total counter",
            f"{p}prompt_tokens_total {self.prompt_tokens}",
            f"# HELP {p}prompt_tokens_reused_total Prompt tokens whose KV state was reused.",
            f"# TYPE {p}prompt_tokens_reused_total counter",
            f"{p}prompt_tokens_reused_total {self.reused_prompt_tokens}",
            f"# HELP {p}prompt_tokens_computed_total Prompt tokens computed (total - reused).",
            f"# TYPE {p}prompt_tokens_computed_total counter",
            f"{p}prompt_tokens_computed_total {self.prompt_tokens - self.reused_prompt_tokens}",
            f"# HELP {p}generated_tokens_total Tokens generated.",
            f"# TYPE {p}generated_tokens_total counter",
            f"{p}generated_tokens_total {self.generated_tokens}",
            f"# HELP {p}time_to_first_token_seconds From request arrival to the first token.",
            f"# TYPE {p}time_to_first_token_seconds histogram",
            *self.ttft.lines(f"{p}time_to_first_token_seconds"),
            f"# HELP {p}request_duration_seconds Generation request latency by endpoint.",
            f"# TYPE {p}request_duration_seconds histogram",
        ]
        for endpoint, hist in sorted(self.latency.items()):
            lines += hist.lines(f"{p}request_duration_seconds", (("endpoint", endpoint),))
        for name, (kind, help_text, read) in self.read_at_scrape.items():
            lines += [
                f"# HELP {p}{name} {help_text}",
                f"# TYPE {p}{name} {kind}",
                f"{p}{name} {_num(read())}",
            ]
        return "\n".join(lines) + "\n"
