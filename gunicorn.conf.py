"""gunicorn settings for `make serve` and for production (docs/deployment.md).

Every value can be changed from the environment: GUNICORN_BIND (127.0.0.1:8000),
WEB_CONCURRENCY (workers; default 2 x cores + 1), GUNICORN_THREADS (2), GUNICORN_TIMEOUT
(30 s), GUNICORN_ACCESSLOG (off; "-" for stdout). App servers are stateless: run as many
as needed behind a load balancer, all pointing at the same database and cache.
"""

import gc
import multiprocessing
import os

from gunicorn.glogging import Logger

from sessions.log_redaction import redact_form_tokens

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Each request is CPU (templates, pandas) plus short database round trips: processes for the
# cores. Two threads a worker make it a gthread worker, which tells the master it is alive
# while a thread streams a long download (a clinic's CSV export can take minutes); a sync
# worker is killed when one request outlasts ``timeout``.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count() + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 2))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then (jitter: not all at once) to bound any slow memory growth.
max_requests = 2000
max_requests_jitter = 200
# Import the app once in the master: faster forks, shared memory pages.
preload_app = True
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
# The address the load balancer saw, and the request line.
access_log_format = '%({x-forwarded-for}i)s %(h)s "%(r)s" %(s)s %(b)s %(M)sms'


class RedactingLogger(Logger):
    """gunicorn's logger, with client form-link tokens (/f/<token>/) kept out of the access
    log: a token in a URL is a credential (sessions/log_redaction.py does the same for
    Django's own loggers)."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact_form_tokens(atoms[key])
        return atoms


logger_class = RedactingLogger


def on_starting(server):
    """Refuse to start several workers on a per-process cache (CACHE_URL=locmemcache://):
    each worker would count the rate limits and login failures on its own, so the documented
    limits would not hold. The app is loaded already (preload_app)."""
    from alliance.security.cache import cache_is_shared

    if server.num_workers > 1 and not cache_is_shared():
        raise RuntimeError(
            f"{server.num_workers} workers on a per-process cache: set REDIS_URL or CACHE_URL "
            "(docs/deployment.md), or WEB_CONCURRENCY=1."
        )


def when_ready(server):
    """In the master, after the app is loaded and before the workers fork: import every view,
    then move all that is loaded out of the cyclic garbage collector's sight (gc.freeze, as
    the gc module's documentation advises before fork). A worker's full collections then
    walk what its requests made, not the ~150,000 objects of Django, pandas and plotly:
    the supervisor dashboard at scale M spends ~12 ms a request in the collector, not ~30."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports the URLconf and the views)
    gc.collect()
    gc.freeze()


def post_fork(server, worker):
    # Connections are per process: never share the master's (preload_app) with the workers.
    from django.db import connections

    connections.close_all()
