"""Gunicorn's settings for the console (`gunicorn -c python:console.gunicorn_conf console.wsgi:app`).

- Binds CONSOLE_HOST:CONSOLE_PORT (127.0.0.1:8080 unless set; the container image sets 0.0.0.0).
- CONSOLE_WORKERS processes (2) of 4 threads: the views wait on PostgreSQL and Rasa's HTTP
  API, not the CPU, and a handful of staff per office is the load. A worker stuck for 30 s
  is replaced.
- Forwarded headers are read in one place only, the app's ProxyFix (CONSOLE_TRUSTED_PROXIES):
  gunicorn's own handling of X-Forwarded-Proto is switched off so the two can never disagree.
- Access log to stdout without query strings (a search `?q=` may hold a person's name) and
  without the client address: method, path, status, size, duration.
"""

from __future__ import annotations

import os

bind = f"{os.environ.get('CONSOLE_HOST', '').strip() or '127.0.0.1'}:{os.environ.get('CONSOLE_PORT', '').strip() or '8080'}"
workers = int(os.environ.get("CONSOLE_WORKERS", "").strip() or 2)
worker_class = "gthread"
threads = 4
timeout = 30
graceful_timeout = 20
# Each worker builds its own app (engine, pools): a forked database connection is never shared.
preload_app = False
secure_scheme_headers: dict[str, str] = {}
forwarded_allow_ips = ""
accesslog = "-"
errorlog = "-"
access_log_format = '%(m)s %(U)s %(s)s %(B)s %(M)sms'
control_socket_disable = True  # no runtime management socket (shared $HOME paths, read-only file systems)
