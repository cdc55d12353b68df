"""`make serve`: gunicorn managing uvicorn workers, configured from the environment."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("WORKERS", "2"))
worker_class = "uvicorn_worker.UvicornWorker"
# the app is built in each worker after fork, so no database connection crosses a fork
preload_app = False
# uvicorn's X-Forwarded-For handling is off: the app does it, trusting TRUSTED_PROXIES (app.py)
forwarded_allow_ips = ""
accesslog = "-"
errorlog = "-"
graceful_timeout = 20
timeout = 30
