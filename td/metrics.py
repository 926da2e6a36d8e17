"""td's own Prometheus metrics, made through the Temporal SDK's metric meter.

The SDK's runtime serves its worker and client metrics on the `-metrics` listener, and td's
metrics go through the same meter, so one listener serves both. Without `-metrics` the meter
discards everything.
"""

from temporalio.common import MetricMeter
from temporalio.runtime import Runtime

# Buckets of the request-duration histogram, in seconds.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HTTP_DURATION = "td_http_request_duration_seconds"


class ApiMetrics:
    """Counters and histograms of the HTTP API."""

    def __init__(self, meter: MetricMeter | None = None) -> None:
        meter = meter or Runtime.default().metric_meter
        self._requests = meter.create_counter(
            "td_http_requests", "HTTP requests by route, method and status"
        )
        self._durations = meter.create_histogram_float(
            HTTP_DURATION, "HTTP request duration by route and method", "s"
        )
        self._starts = meter.create_counter(
            "td_workflow_starts", "Workflow instances started, by workflow"
        )
        self._existing = meter.create_counter(
            "td_workflow_start_repeats",
            "POSTs for workflow instances that existed already, by workflow",
        )

    def record_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self._requests.add(1, {"route": route, "method": method, "status": str(status)})
        self._durations.record(seconds, {"route": route, "method": method})

    def record_start(self, workflow: str, started: bool) -> None:
        counter = self._starts if started else self._existing
        counter.add(1, {"workflow": workflow})
