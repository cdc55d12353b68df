"""The service's Prometheus metrics, defined once.

prometheus-client keeps them per process; under gunicorn every worker writes its own files
into `PROMETHEUS_MULTIPROC_DIR` (set by gunicorn.conf.py before a worker imports this module)
and `GET /metrics` sums them, so any worker answers for all of them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "conduit_requests",
    "Requests answered, by operationId (or 'none' where no operation matched) and status",
    ["operation", "status"],
)
LATENCY = Histogram(
    "conduit_request_duration_seconds",
    "Time from the request's arrival to its answer, by operationId",
    ["operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DB_POOL_IN_USE = Gauge(
    "conduit_db_pool_connections_in_use",
    "Database connections checked out of the pool",
    multiprocess_mode="livesum",
)
RATE_LIMITED = Counter(
    "conduit_rate_limit_rejections",
    "Requests refused with 429, by the policy that refused them",
    ["policy"],
)
RATE_LIMIT_STORAGE_ERRORS = Counter(
    "conduit_rate_limit_storage_errors",
    "Rate-limit checks that could not reach their storage and let the request through",
)
