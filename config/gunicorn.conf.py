"""gunicorn settings for `make serve` (read with ``gunicorn -c config/gunicorn.conf.py config.wsgi``).

Every value can be changed from the environment without editing this file: ``DJANGO_BIND`` (or ``PORT``) and the
``GUNICORN_*`` variables below, each listed in README's configuration table. This file and config/settings.py are
the only places that read the environment. The access log is one JSON object per request on stdout.
"""

import multiprocessing
import os

wsgi_app = "config.wsgi:application"

# Loopback by default: a reverse proxy terminating TLS sits in front (see docs/operations.md).
bind = os.environ.get("DJANGO_BIND") or f"127.0.0.1:{os.environ.get('PORT', '8000')}"

# The usual 2 x cores + 1 sync workers: requests are short, database-bound page renders.
workers = int(os.environ.get("GUNICORN_WORKERS") or multiprocessing.cpu_count() * 2 + 1)
worker_class = "sync"
# Load the application (config/wsgi.py warms it up: URL resolver, templates, release digest) once in the
# master, before forking: every worker starts warm and shares that memory. A code change needs a restart.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") != "0"
# A worker stuck longer than this is killed and replaced; exports stream, so none legitimately takes 30 s.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Recycle workers now and then so a slow leak cannot grow without bound; jitter avoids all restarting at once.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
# Shared memory rather than disk for the worker heartbeat: a slow disk must not make healthy workers look dead.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108

# Logs: access log to stdout as JSON lines, errors to stderr.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
logger_class = "config.logging.GunicornJsonLogger"

# Trust X-Forwarded-* only from the local proxy; Django reads X-Forwarded-Proto itself (SECURE_PROXY_SSL_HEADER).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")


def post_worker_init(worker):
    """Each worker opens its connections and renders the home page as it starts: its first visitor would pay for
    both (operations.ops.warm_worker). Then its garbage is collected between requests (operations.memory)."""
    from operations.memory import start_worker
    from operations.ops import warm_worker

    warm_worker()
    start_worker()


def post_request(worker, req, environ, resp):
    """After the response is sent: collect the garbage the last requests left (operations.memory)."""
    from operations.memory import after_response

    after_response()
