"""The Temporal SDK's runtime: its core's logs go through Python's logging, like td's own."""

import logging

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from td.metrics import DURATION_BUCKETS, HTTP_DURATION

# The SDK core logs in Rust; its levels are named as tracing names them.
_CORE_LEVELS = {"debug": "DEBUG", "info": "INFO", "warning": "WARN", "error": "ERROR"}


def install_runtime(log_level: str, metrics_address: str | None = None) -> Runtime:
    """Make the default runtime forward the SDK core's logs to the `temporalio.core` logger.

    Without this, the core writes its own lines to the console, which breaks `-log-format=json`.
    With `metrics_address` (host:port), the runtime also serves Prometheus metrics there at
    /metrics: the SDK's and td's. Call it before any Temporal client is created.
    """
    # The core is chatty at info, so it logs from warning up unless td runs at debug.
    core_level = _CORE_LEVELS[log_level] if log_level in ("debug", "error") else "WARN"
    runtime = Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level=core_level, other_level="ERROR"),
                forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
            ),
            metrics=_prometheus(metrics_address) if metrics_address else None,
            # Prometheus labels each scrape with its job and instance, so a service label is noise.
            attach_service_name=False,
        )
    )
    Runtime.set_default(runtime, error_if_already_set=False)
    return runtime


def _prometheus(address: str) -> PrometheusConfig:
    return PrometheusConfig(
        bind_address=address,
        counters_total_suffix=True,
        durations_as_seconds=True,
        histogram_bucket_overrides={HTTP_DURATION: DURATION_BUCKETS},
    )
