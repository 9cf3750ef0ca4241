"""GET /metrics (docs/metrics.md): Prometheus' text format, through prometheus_client.

Two kinds of figures:
- what requests do (rate and latency by route template, response cache hits and misses), counted here in
  the process that answers; under gunicorn each worker writes them to files of its own in
  PROMETHEUS_MULTIPROC_DIR (deploy/gunicorn.conf.py makes the directory and folds an exited worker's files
  into an archive), and a scrape sums every file, so whichever worker answers reports them all;
- the state of the outbox, webhook pushes, retention and the Celery queue, read from the database and the
  broker at scrape time (fido/service_metrics.py): the same whichever process answers, by construction.

The middleware answers /metrics before host validation and the HTTPS redirect, as the probes are answered:
Prometheus calls a container by its address. 404 when METRICS_ENABLED is off; with METRICS_TOKEN set, it
needs `Authorization: Bearer <METRICS_TOKEN>`. Scrapes write no log line and are not counted.
"""

import fcntl
import hmac
import logging
import os
import time
from collections.abc import Iterable
from http import HTTPStatus

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from . import service_metrics
from .logs import route_template

logger = logging.getLogger(__name__)

PATH = "/metrics"
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# In that directory: taken shared by a scrape while it reads the files, exclusively by gunicorn's master while
# it folds an exited worker's files into the archive (deploy/gunicorn.conf.py names the same file), so no
# scrape sees a worker's counts twice or not at all.
LOCK_FILE = "fold.lock"
# Label values come from the URL configuration and a fixed list, never from the raw request: bounded.
UNMATCHED_ROUTE = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CACHE_RESULTS = {"HIT": "hit", "MISS": "miss"}
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# The same series with or without the multiprocess directory, which has no `_created` samples.
disable_created_metrics()

# This process's own counters: read directly without a multiprocess directory (runserver, tests, one worker).
_registry = CollectorRegistry()
REQUESTS = Counter(
    "fido_http_requests",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
    registry=_registry,
)
REQUEST_DURATION = Histogram(
    "fido_http_request_duration_seconds",
    "Seconds from the request reaching Django to its response, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
    registry=_registry,
)
CACHE_RESPONSES = Counter(
    "fido_cache_responses",
    "Answers served through the response cache, by route template and result (X-Cache: hit or miss).",
    ["route", "result"],
    registry=_registry,
)
_failed_to_count = False


def _labels(request: HttpRequest) -> tuple[str, str]:
    match = getattr(request, "resolver_match", None)
    route = route_template(match.route) if match is not None else UNMATCHED_ROUTE
    return route, request.method if request.method in METHODS else "other"


def _count(request: HttpRequest, response: HttpResponse, seconds: float) -> None:
    global _failed_to_count
    try:
        route, method = _labels(request)
        REQUESTS.labels(route, method, str(response.status_code)).inc()
        REQUEST_DURATION.labels(route, method).observe(seconds)
        result = CACHE_RESULTS.get(response.get("X-Cache", ""))
        if result:
            CACHE_RESPONSES.labels(route, result).inc()
    except Exception:
        # Counting must never fail a request (say, a metrics directory removed under a running server).
        if not _failed_to_count:
            _failed_to_count = True
            logger.exception("request metrics cannot be recorded; requests are served uncounted")


class _WorkerFiles:
    """Every gunicorn worker's counters, live and exited, summed from the multiprocess directory."""

    def __init__(self, path: str):
        self.path = path

    def collect(self) -> list[Metric]:
        with open(os.path.join(self.path, LOCK_FILE), "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)
            return list(MultiProcessCollector(None, path=self.path).collect())


class _Scrape:
    """What one scrape reports: the request counters (this process's or every worker's) and the service state."""

    def collect(self) -> Iterable[Metric]:
        path = os.environ.get(MULTIPROCESS_DIR)
        yield from (_WorkerFiles(path) if path else _registry).collect()
        yield from service_metrics.ServiceCollector().collect()


def _authorized(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), token.encode())


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The scrape: GET or HEAD, with the bearer token when one is configured."""
    if not _authorized(request):
        response = HttpResponse("Authorization: Bearer <METRICS_TOKEN> required.\n", status=HTTPStatus.UNAUTHORIZED)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if request.method not in ("GET", "HEAD"):
        response = HttpResponse(status=HTTPStatus.METHOD_NOT_ALLOWED)
        response["Allow"] = "GET, HEAD"
        return response
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(_Scrape()), content_type=content_type)


class MetricsMiddleware:
    """Answers /metrics (when enabled) first; times and counts every other request by its route."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == PATH and settings.METRICS_ENABLED:
            return metrics_view(request)
        started = time.perf_counter()
        response = self.get_response(request)
        _count(request, response, time.perf_counter() - started)
        return response
