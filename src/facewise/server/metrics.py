"""Prometheus text-format metrics of one server process: requests by route, method and status,
a latency histogram by route, and the gallery's size (read when scraped).

Counters live in the memory of the process that answers; with several uvicorn workers each scrape
sees one worker's counts (labelled with its ``pid``), which Prometheus sums by ``route``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds of the latency histogram, in seconds."""


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = {}
        self._latency: dict[str, list[float]] = {}  # route -> bucket counts + [sum, count]
        self._started = time.time()
        self.pid = os.getpid()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (route, method, str(status))
            self._requests[key] = self._requests.get(key, 0) + 1
            row = self._latency.setdefault(route, [0.0] * (len(BUCKETS) + 2))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    row[i] += 1
            row[-2] += seconds
            row[-1] += 1

    def render(self, gauges: Callable[[], dict[str, tuple[str, float]]]) -> str:
        """The text exposition format; ``gauges`` gives name -> (help, value) read at scrape."""
        pid = f'pid="{self.pid}"'
        lines = [
            "# HELP facewise_http_requests_total HTTP requests answered, by route, method, status.",
            "# TYPE facewise_http_requests_total counter",
        ]
        with self._lock:
            requests = sorted(self._requests.items())
            latency = sorted((k, list(v)) for k, v in self._latency.items())
        for (route, method, status), count in requests:
            lines.append(
                f'facewise_http_requests_total{{{pid},route="{_label(route)}",'
                f'method="{_label(method)}",status="{status}"}} {count}'
            )
        lines += [
            "# HELP facewise_http_request_duration_seconds Time to answer a request, by route.",
            "# TYPE facewise_http_request_duration_seconds histogram",
        ]
        for route, row in latency:
            labels = f'{pid},route="{_label(route)}"'
            for bound, seen in zip(BUCKETS, row, strict=False):
                lines.append(
                    f'facewise_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} '
                    f"{int(seen)}"
                )
            lines.append(
                f'facewise_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} '
                f"{int(row[-1])}"
            )
            lines.append(f"facewise_http_request_duration_seconds_sum{{{labels}}} {row[-2]:.6f}")
            lines.append(f"facewise_http_request_duration_seconds_count{{{labels}}} {int(row[-1])}")
        for name, (text, value) in gauges().items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge", f"{name} {value:g}"]
        lines += [
            "# HELP facewise_process_start_time_seconds When this server process started.",
            "# TYPE facewise_process_start_time_seconds gauge",
            f"facewise_process_start_time_seconds{{{pid}}} {self._started:.3f}",
        ]
        return "\n".join(lines) + "\n"
