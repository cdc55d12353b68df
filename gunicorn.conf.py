"""`make serve`: gunicorn managing uvicorn workers, configured from the environment."""

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("WORKERS", "2"))
worker_class = "uvicorn_worker.UvicornWorker"
# the app is built in each worker after fork, so no database connection crosses a fork
preload_app = False
# uvicorn's X-Forwarded-For handling is off: the app does it, trusting TRUSTED_PROXIES (app.py)
forwarded_allow_ips = ""
# the app writes one JSON line per request itself, with the operation and the user
accesslog = None
errorlog = "-"
graceful_timeout = 20
timeout = 30
if os.environ.get("LOG_FORMAT", "json").lower() == "json":
    # gunicorn's own lines (workers booting, timeouts) in the same JSON shape as the app's
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.orjson.OrjsonFormatter",
                "fmt": "%(levelname)s %(name)s %(message)s",
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": "time",
            }
        },
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
        # the app gives the root logger its own handler in each worker (shell/observability.py)
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"handlers": ["stdout"], "level": "INFO", "propagate": False}
        },
    }

# Every worker keeps its metrics in files here and GET /metrics, answered by any one worker,
# sums them (prometheus-client's multiprocess mode). Set before a worker imports the app.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
    prefix="conduit-metrics-"
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def on_starting(_server: Any) -> None:
    """Counts start from zero with the server: files of an earlier run would be summed too."""
    directory = Path(_metrics_dir)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)


def child_exit(_server: Any, worker: Any) -> None:
    """A dead worker's gauges (pool in use) stop counting; its counters keep their totals."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
