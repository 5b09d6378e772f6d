"""Operations: JSON logs that name the case, worker metrics, optional OpenTelemetry tracing.

Everything a worker needs is here so that ``worker.py`` stays two calls away from it:

- ``setup_worker()`` (before connecting to Temporal) switches logs to one JSON object per
  line and installs a Temporal runtime whose Prometheus endpoint serves the SDK's own
  metrics (task latencies, poll counts, sticky cache...) *and* ours, so a worker exposes one
  scrape target, not two;
- ``worker_interceptors()`` gives the worker our case counters (opened, closed, cancelled,
  deadline misses, counted from the projection activity once it has succeeded, so a retried
  write is counted once) and, when ``GRIDPLUS_OTEL_TRACING`` is set, Temporal's
  ``TracingInterceptor``.

Every log line about a case carries ``case_id``: inside a workflow or activity it is read
from the ``temporal_workflow``/``temporal_activity`` extras Temporal's loggers attach; in an
API request from a context variable the API's middleware sets.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from temporalio import activity
from temporalio.common import MetricCounter, MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from constants import ACT_PROJECT, CASE_WORKFLOW_ID
from schemas.cases.workflow import MISSED_KINDS
from services.platform import log_redaction

CASE_ID: ContextVar[str | None] = ContextVar("gridplus_case_id", default=None)
METRICS_ADDRESS_ENV = "GRIDPLUS_WORKER_METRICS_ADDRESS"
DEFAULT_METRICS_ADDRESS = "127.0.0.1:9464"
TRACING_ENV = "GRIDPLUS_OTEL_TRACING"
WORKFLOW_ID_PREFIX = CASE_WORKFLOW_ID.split("{", 1)[0]
MISSED = frozenset(MISSED_KINDS)
_STANDARD = set(vars(logging.makeLogRecord({})))


def case_id_of(workflow_id: str | None) -> str | None:
    """``case-GP-1234`` -> ``GP-1234``; None for workflows that are not cases."""
    if workflow_id and workflow_id.startswith(WORKFLOW_ID_PREFIX):
        return workflow_id[len(WORKFLOW_ID_PREFIX) :]
    return None


class CaseContextFilter(logging.Filter):
    """Puts ``case_id`` (and the Temporal ids) on every record, from wherever it is known."""

    def filter(self, record: logging.LogRecord) -> bool:
        details: dict[str, Any] = {}
        for extra in ("temporal_workflow", "temporal_activity"):
            value = getattr(record, extra, None)
            if isinstance(value, dict):
                details.update(value)
        workflow_id = details.get("workflow_id")
        record.case_id = case_id_of(workflow_id) or CASE_ID.get()
        record.workflow_id = workflow_id
        record.activity_type = details.get("activity_type")
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for the log shipper; never raises on odd extras."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "case_id": getattr(record, "case_id", None) or CASE_ID.get(),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key in body or key.startswith("temporal_"):
                continue
            if value is not None:
                body[key] = value
        if record.exc_info:  # ``exc_text`` is the redacted one (services.platform.log_redaction)
            body["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False, default=str)


def configure_logging(level: int = logging.INFO, stream: IO[str] | None = None) -> None:
    """Replace the root handlers with one JSON handler on stderr (or ``stream``); every
    record is redacted of credentials first (``services.platform.log_redaction``)."""
    log_redaction.install()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(CaseContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def prometheus_runtime(bind_address: str) -> Runtime:
    """A Temporal runtime exporting the SDK's metrics (and ours) at ``bind_address``."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address)))


def setup_worker(metrics_address: str | None = None) -> None:
    """JSON logs and the Prometheus runtime; call once, before ``connect()``.

    The address comes from ``GRIDPLUS_WORKER_METRICS_ADDRESS`` (default 127.0.0.1:9464;
    ``0.0.0.0:9464`` in a container; empty to turn metrics off).
    """
    configure_logging()
    address = metrics_address
    if address is None:
        address = os.environ.get(METRICS_ADDRESS_ENV, DEFAULT_METRICS_ADDRESS)
    if address:
        Runtime.set_default(prometheus_runtime(address), error_if_already_set=True)
        logging.getLogger(__name__).info("worker metrics at http://%s/metrics", address)


class _CaseCounters:
    """Our counters, created once on the worker runtime's meter."""

    def __init__(self, meter: MetricMeter) -> None:
        self.opened: MetricCounter = meter.create_counter(
            "gridplus_cases_opened", "cases filed", "cases"
        )
        self.closed = meter.create_counter("gridplus_cases_closed", "cases closed", "cases")
        self.cancelled = meter.create_counter(
            "gridplus_cases_cancelled", "cases cancelled", "cases"
        )
        self.overdue = meter.create_counter(
            "gridplus_case_deadlines_missed", "stage deadlines missed or urged", "events"
        )


class _CaseActivityInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, root: CaseMetricsInterceptor) -> None:
        super().__init__(next)
        self._root = root

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        token = CASE_ID.set(case_id_of(info.workflow_id))
        try:
            result = await super().execute_activity(input)
        finally:
            CASE_ID.reset(token)
        if info.activity_type == ACT_PROJECT and input.args:
            self._root.count(input.args[0])
        return result


class CaseMetricsInterceptor(Interceptor):
    """Counts case transitions as the projection records them, and names the case in logs."""

    def __init__(self) -> None:
        self._counters: _CaseCounters | None = None

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CaseActivityInbound(next, self)

    def count(self, batch: Any) -> None:
        """Add one projected batch (a ``ProjectionBatch``) to the counters."""
        if self._counters is None:
            self._counters = _CaseCounters(activity.metric_meter())
        counters = self._counters
        case_type = str(getattr(batch.case, "case_type", ""))
        attributes = {"case_type": case_type}
        for entry in batch.entries:
            if entry.kind == "filed":
                counters.opened.add(1, attributes)
            elif entry.kind == "closed":
                counters.closed.add(1, attributes)
            elif entry.kind == "cancelled":
                counters.cancelled.add(1, attributes)
            elif entry.kind in MISSED:
                counters.overdue.add(1, {**attributes, "kind": entry.kind})


def tracing_interceptors(tracer: Any = None) -> list[Interceptor]:
    """Temporal's OpenTelemetry interceptor when ``GRIDPLUS_OTEL_TRACING`` is set.

    ``console`` prints spans (for a laptop); ``otlp`` exports with the OTLP exporter if it is
    installed; any other true value leaves the tracer provider to whoever set it (an
    auto-instrumentation agent, say). Needs the ``otel`` extra for the SDK. A ``tracer``
    given here is used instead of the global provider's (tests record spans in memory).
    """
    mode = os.environ.get(TRACING_ENV, "").strip().lower()
    if mode in ("", "0", "false", "no", "off"):
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    if mode in ("console", "otlp") and tracer is None:
        _install_tracer_provider(mode)
    # cases are started by the API, whose client carries no span: create workflow spans anyway
    return [TracingInterceptor(tracer, always_create_workflow_spans=True)]


def _install_tracer_provider(mode: str) -> None:
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource  # type: ignore[import-not-found,unused-ignore]
        from opentelemetry.sdk.trace import TracerProvider  # type: ignore[import-not-found,unused-ignore]
        from opentelemetry.sdk.trace.export import (  # type: ignore[import-not-found,unused-ignore]
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SpanExporter,
        )
    except ImportError:
        logging.getLogger(__name__).warning(
            "%s=%s but opentelemetry-sdk is missing: pip install 'gridplus[otel]'",
            TRACING_ENV,
            mode,
        )
        return
    exporter: SpanExporter = ConsoleSpanExporter()
    if mode == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
            OTLPSpanExporter,
        )

        exporter = OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "gridplus-worker"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


def worker_interceptors() -> list[Interceptor]:
    """Every interceptor the worker should run with (pass as ``interceptors=``)."""
    return [CaseMetricsInterceptor(), *tracing_interceptors()]
